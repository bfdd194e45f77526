// For the policy tests: what the loader says of a policy it refuses. Test code only: no entry of
// the package's build reaches this file.
import { expect } from 'vitest';
import { PolicyError } from '../errors/meshguard-error';
import { parsePolicies } from '../policy/policy-loader';

/** The issues of a policy text the loader refuses, as `file:line:col: message` (file `p.yaml`). */
export function issuesOf(text: string): string[] {
  try {
    parsePolicies(text, { file: 'p.yaml' });
  } catch (error) {
    expect(PolicyError.isInstance(error)).toBe(true);
    return (error as PolicyError).issues.map((i) => `${i.file}:${i.line}:${i.column}: ${i.message}`);
  }
  throw new Error('expected the policy to be rejected');
}
