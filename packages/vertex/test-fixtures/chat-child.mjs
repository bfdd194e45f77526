// One step of a parked Gemini chat, in a process of its own (approval-processes.test.ts): `park`
// runs a chat to its pause, parks it and exits; `approve` / `reject` answer as a person would;
// `resume` resumes the chat. They share nothing but the SQLite trail, the parking folder and the
// emulator. Uses the built package (pnpm --filter @meshguard/vertex build).
import { appendFileSync } from 'node:fs';
import { GoogleGenAI } from '@google/genai';
import { createFileParking, createGuard } from '@meshguard/core';
import { governFunctions, resumeParkedChat, runGovernedChat } from '@meshguard/vertex';
import { fixedTokenAuthClient } from '@meshguard/vertex/testing';

const [step, approvalId] = process.argv.slice(2);
const { DB, POLICIES, PARKING, EFFECTS, EMULATOR_URL } = process.env;
const guard = await createGuard({ policies: POLICIES.split(','), store: DB });
const functions = governFunctions({
  guard,
  identity: { name: 'Customer Support Agent', tags: ['vertex', 'support'], tier: 'verified' },
  traceId: step === 'park' ? 'trace_processes' : undefined,
  functions: {
    process_refund: {
      action: 'write:refund',
      declaration: { description: 'Refund an order.' },
      // The side effect, counted across processes.
      handler: ({ order_id, amount }) => {
        appendFileSync(EFFECTS, `refund ${order_id} ${amount} by ${process.pid}\n`);
        return { status: 'refunded', order_id, amount };
      },
    },
  },
});
const ai = new GoogleGenAI({
  vertexai: true,
  project: 'meshguard-test',
  location: 'us-central1',
  googleAuthOptions: { authClient: fixedTokenAuthClient() },
  httpOptions: { baseUrl: EMULATOR_URL },
});
const chat = (history) =>
  ai.chats.create({
    model: 'gemini-2.5-flash',
    config: { tools: [functions.tool] },
    ...(history ? { history } : {}),
  });
const parking = createFileParking(PARKING);

let out;
try {
  if (step === 'park') {
    const result = await runGovernedChat({
      chat: chat(),
      message: 'Refund $60 on ORD-7',
      functions,
      parking,
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
      comment: step === 'approve' ? 'known customer' : 'refunded last week',
    });
    out = { status: answered.status };
  } else if (step === 'resume') {
    const result = await resumeParkedChat(approvalId, { functions, parking, chat });
    out = { status: result.status, text: result.text, traceId: result.traceId };
  } else throw new Error(`unknown step ${step}`);
} catch (error) {
  out = { error: error.code ?? 'error', message: error.message };
}
await guard.close();
process.stdout.write(JSON.stringify(out));
