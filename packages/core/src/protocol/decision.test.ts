import { describe, expect, it } from 'vitest';
import { DecisionSchema } from './decision';

const base = {
  decisionId: 'd-1',
  reason: 'r',
  mode: 'enforce',
  evaluatedAt: '2026-01-05T10:00:00.000Z',
} as const;

describe('DecisionSchema', () => {
  it('accepts allowed exactly when effect is allow', () => {
    expect(DecisionSchema.safeParse({ ...base, allowed: true, effect: 'allow' }).success).toBe(true);
    expect(DecisionSchema.safeParse({ ...base, allowed: false, effect: 'deny' }).success).toBe(true);
    expect(DecisionSchema.safeParse({ ...base, allowed: false, effect: 'require_approval' }).success).toBe(
      true,
    );
  });

  it('refuses a decision whose allowed disagrees with its effect, naming allowed', () => {
    for (const [allowed, effect] of [
      [true, 'deny'],
      [true, 'require_approval'],
      [false, 'allow'],
    ] as const) {
      const parsed = DecisionSchema.safeParse({ ...base, allowed, effect });
      expect(parsed.success).toBe(false);
      expect(parsed.error?.issues[0]).toMatchObject({
        path: ['allowed'],
        message: '`allowed` must be true exactly when `effect` is "allow"',
      });
    }
  });
});
