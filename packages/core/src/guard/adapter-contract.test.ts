import { describe, expect, it } from 'vitest';
import { ConfigError } from '../errors/meshguard-error';
import { ActionSchema } from '../protocol/action';
import type { AgentIdentity } from '../protocol/agent-identity';
import { testAgent } from '../testing';
import {
  BUILTIN_TOOL_ACTIONS,
  checkApprovalAnswer,
  createIdentityCache,
  failedCheckDecision,
  failedCheckReason,
} from './adapter-contract';

describe('the adapter contract', () => {
  it('resolves an identity once per owner and name', () => {
    const resolved: string[] = [];
    const identityOf = createIdentityCache((owner: { team: string }, name: string): AgentIdentity => {
      resolved.push(`${owner.team}/${name}`);
      return testAgent({ name, tags: [owner.team] });
    });
    const support = { team: 'support' };
    const billing = { team: 'billing' };
    const first = identityOf(support, 'Triage');
    expect(identityOf(support, 'Triage')).toBe(first);
    expect(identityOf(billing, 'Triage').tags).toEqual(['billing']);
    expect(identityOf(support, 'Refunds').name).toBe('Refunds');
    expect(resolved).toEqual(['support/Triage', 'billing/Triage', 'support/Refunds']);
  });

  it('does not keep an identity that failed to resolve: the next use tries again', () => {
    let calls = 0;
    const identityOf = createIdentityCache((_owner: object, name: string) => {
      calls++;
      if (calls === 1) throw new ConfigError('not yet');
      return testAgent({ name });
    });
    const owner = {};
    expect(() => identityOf(owner, 'A')).toThrow('not yet');
    expect(identityOf(owner, 'A').name).toBe('A');
  });

  it('takes an approver answer only when it is one', () => {
    expect(checkApprovalAnswer({ approve: true, by: 'alice' })).toEqual({ approve: true, by: 'alice' });
    expect(checkApprovalAnswer({ approve: false, by: 'bob', message: 'no' })).toEqual({
      approve: false,
      by: 'bob',
      message: 'no',
    });
    for (const nonsense of [
      undefined,
      null,
      'yes',
      { approve: 'yes', by: 'a' },
      { approve: true, by: '' },
      { approve: true, by: 'a', message: 7 },
    ]) {
      let thrown: unknown;
      try {
        checkApprovalAnswer(nonsense);
      } catch (error) {
        thrown = error;
      }
      expect(ConfigError.isInstance(thrown)).toBe(true);
      expect((thrown as ConfigError).code).toBe('approval_invalid');
    }
  });

  it('denies a check that failed with a decision of its own that says why', () => {
    const reason = failedCheckReason('the policy check failed', new Error('store closed'));
    expect(reason).toBe('the policy check failed, so the action is denied: store closed');
    const decision = failedCheckDecision(reason);
    expect(decision).toMatchObject({ allowed: false, effect: 'deny', mode: 'enforce', reason });
    expect(decision.decisionId).toMatch(/^failed-[0-9a-f-]{36}$/);
    expect(failedCheckDecision(reason).decisionId).not.toBe(decision.decisionId);
  });

  it('names built-in tools by actions policy can name', () => {
    for (const action of Object.values(BUILTIN_TOOL_ACTIONS)) expect(ActionSchema.parse(action)).toBe(action);
  });
});
