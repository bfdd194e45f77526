// One step of a parked Bedrock turn, in a process of its own (approval-processes.test.ts): `park`
// runs a turn to its pause, parks it and exits; `approve` / `reject` answer as a person would;
// `resume` resumes the turn. They share nothing but the SQLite trail, the parking folder and the
// emulator. Uses the built package (pnpm --filter @meshguard/bedrock build).
import { appendFileSync } from 'node:fs';
import { BedrockAgentRuntimeClient } from '@aws-sdk/client-bedrock-agent-runtime';
import { createGovernedAgent, resumeParkedTurn } from '@meshguard/bedrock';
import { createFileParking, createGuard } from '@meshguard/core';

const [step, approvalId] = process.argv.slice(2);
const { DB, POLICY, PARKING, EFFECTS, CLIENT } = process.env;
const guard = await createGuard({ policies: POLICY, store: DB });
const options = {
  client: new BedrockAgentRuntimeClient(JSON.parse(CLIENT)),
  agentId: 'SUPPORT001',
  agentAliasId: 'LIVE001',
  guard,
  identity: { id: 'support-agent', name: 'Support Agent', tags: ['support'], tier: 'verified' },
  parking: createFileParking(PARKING),
  actionGroups: {
    Accounts: {
      functions: {
        credit_account: {
          action: 'write:account_credit',
          // The side effect, counted across processes.
          handler: ({ customer_id, amount }) => {
            appendFileSync(EFFECTS, `credit ${customer_id} ${amount} by ${process.pid}\n`);
            return `Credited $${amount}`;
          },
        },
      },
    },
  },
};

let out;
try {
  if (step === 'park') {
    const result = await createGovernedAgent(options).invoke({
      sessionId: 'session-processes',
      inputText: 'Credit John $25',
    });
    out = {
      status: result.status,
      traceId: result.traceId,
      approvalIds: result.pendingApprovals.map((p) => p.approvalId),
    };
  } else if (step === 'approve' || step === 'reject') {
    const answered = await guard.approvals.answer(approvalId, {
      approve: step === 'approve',
      by: 'maria',
      comment: step === 'approve' ? 'known customer' : 'credited last week',
    });
    out = { status: answered.status };
  } else if (step === 'resume') {
    const result = await resumeParkedTurn(approvalId, options);
    out = { status: result.status, text: result.text, traceId: result.traceId };
  } else throw new Error(`unknown step ${step}`);
} catch (error) {
  out = { error: error.code ?? 'error', message: error.message };
}
await guard.close();
process.stdout.write(JSON.stringify(out));
