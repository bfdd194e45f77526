// What a child process of parked-run-processes.test.ts does: park a run on an approval, answer
// the approval, or resume the run, each in a process of its own over one SQLite database and one
// parking folder, as separate hosts would.
import { appendFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createFileParking, createGuard, type EmbeddedGuard, MeshGuardError } from '@meshguard/core';
import { Agent, Runner, tool } from '@openai/agents';
import { assistantMessage, functionCall, ScriptedModel } from '@openai/agents/testing';
import { z } from 'zod';
import { governAgent } from '../govern-agent';
import { runGoverned } from '../governed-run';
import { parkedApprovals } from '../parked-runs';
import { resumeParkedRun } from '../resume-parked-run';
import { REFUND_APPROVAL_POLICY, SUPPORT_ACTIONS, seedPolicies } from '../support-fixtures';

const CROSS_PROCESS_TRACE = 'trace_cross_process';

export interface ChildArgs {
  role: 'park' | 'approve' | 'resume';
  db: string;
  parkingDir: string;
  /** Where the refund tool appends a line each time it really runs. */
  sideEffects: string;
  approvalId?: string;
  by?: string;
}

/** Runs one role; `report` writes one JSON line the test reads. `park` then waits to be killed. */
async function main(args: ChildArgs, report: (value: unknown) => void): Promise<void> {
  const guard = (await createGuard({
    policies: seedPolicies([REFUND_APPROVAL_POLICY]),
    store: `sqlite:${args.db}`,
  })) as EmbeddedGuard;
  const parking = createFileParking(args.parkingDir);
  const options = {
    guard,
    identity: { tags: ['openai', 'support'], tier: 'verified' as const },
    actions: SUPPORT_ACTIONS,
    ...(args.role === 'park' ? { traceId: CROSS_PROCESS_TRACE } : {}),
  };
  const agentFor = (model: ScriptedModel) =>
    governAgent(
      new Agent({
        name: 'Customer Support Agent',
        instructions: 'Process refunds.',
        model,
        tools: [
          tool({
            name: 'process_refund',
            description: 'Process a refund for an order.',
            parameters: z.object({ order_id: z.string(), amount: z.number(), reason: z.string() }),
            execute: ({ order_id, amount }) => {
              appendFileSync(args.sideEffects, `refund ${order_id} ${amount} pid ${process.pid}\n`);
              return `Refund of $${amount.toFixed(2)} processed for order ${order_id}.`;
            },
          }),
        ],
      }),
      options,
    );
  const runner = new Runner({ tracingDisabled: true });

  if (args.role === 'park') {
    const model = new ScriptedModel([
      [
        functionCall(
          'process_refund',
          { order_id: 'ORD-7', amount: 79.99, reason: 'damaged' },
          { callId: 'call_x1' },
        ),
      ],
    ]);
    const result = await runGoverned(agentFor(model), 'Refund $79.99 for ORD-7', {
      ...options,
      runner,
      parking,
    });
    report({ parked: parkedApprovals(result), interruptions: result.interruptions.length });
    // Holds the pending run until the test kills this process.
    await new Promise(() => {});
    return;
  }
  try {
    if (args.role === 'approve') {
      const answered = await guard.approvals!.answer(args.approvalId!, {
        approve: true,
        by: args.by ?? 'maria',
      });
      report({ status: answered.status, answeredBy: answered.answeredBy });
      return;
    }
    const model = new ScriptedModel([[assistantMessage('Refunded $79.99.')]]);
    const result = await resumeParkedRun(args.approvalId!, {
      ...options,
      agent: agentFor(model),
      runner,
      parking,
    });
    report({ finalOutput: result.finalOutput });
  } catch (error) {
    report({
      error: MeshGuardError.isInstance(error) ? error.code : 'unexpected',
      message: error instanceof Error ? error.message : String(error),
    });
  } finally {
    await guard.close();
  }
}

/** What the test needs: this module's path (for the launcher it spawns), its `main`, the trace. */
export const parkedRunChild = {
  path: fileURLToPath(import.meta.url),
  main,
  traceId: CROSS_PROCESS_TRACE,
};
