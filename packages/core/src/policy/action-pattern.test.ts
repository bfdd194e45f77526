import { describe, expect, it } from 'vitest';
import { compileActionPattern } from './action-pattern';

describe('compileActionPattern', () => {
  it.each([
    ['read:*', 'read:customer_data', true],
    ['read:*', 'write:customer_data', false],
    ['*:email', 'write:email', true],
    ['*:email', 'write:emails', false],
    ['*', 'anything:at all', true],
    ['a*b*c', 'abc', true],
    ['a*b*c', 'axxbyyc', true],
    ['a*b*c', 'acb', false],
    ['ab*ba', 'aba', false],
    ['handoff:Billing Specialist', 'handoff:Billing Specialist', true],
    ['handoff:Billing Specialist', 'handoff:billing specialist', false],
    ['read:c.*', 'read:cx', false],
  ])('%s vs %s', (pattern, action, expected) => {
    expect(compileActionPattern(pattern)(action)).toBe(expected);
  });
});
