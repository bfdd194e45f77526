import type { Decision, Guard } from '@meshguard/core';
import { Agent, type RunState, type RunToolApprovalItem, run } from '@openai/agents';
import { describe, expectTypeOf, it } from 'vitest';
import { z } from 'zod';
import { governAgent } from './govern-agent';
import { approvalDecision, approveToolCall, resolvePolicyInterruptions, runGoverned } from './governed-run';
import { parkedApprovals } from './parked-runs';
import { resumeParkedRun } from './resume-parked-run';

// The SDK's RunResult<TContext, TAgent> cannot be spelled out for a concrete agent (its bound is
// Agent<TContext, AgentOutputType>, which no typed agent meets): results are compared with run()'s.
declare const guard: Guard;
interface Ctx {
  userId: string;
}
const Answer = z.object({ answer: z.string() });
const agent = new Agent({ name: 'Support', instructions: 'Help.', outputType: Answer });
type TypedAgent = typeof agent;

describe('runGoverned', () => {
  it('returns what the SDK run() returns, with its generics', () => {
    const result = runGoverned(agent, 'hi', { guard });
    expectTypeOf(result).toEqualTypeOf(run(agent, 'hi'));
    expectTypeOf<Awaited<typeof result>['state']>().toEqualTypeOf<RunState<undefined, TypedAgent>>();
    expectTypeOf<Awaited<typeof result>['finalOutput']>().not.toBeAny();
    expectTypeOf<Awaited<typeof result>['finalOutput']>().toEqualTypeOf<{ answer: string } | undefined>();
    expectTypeOf<Awaited<typeof result>['lastAgent']>().toEqualTypeOf<TypedAgent | undefined>();
  });

  it('takes the run context type from runOptions.context, as run() does', () => {
    const result = runGoverned(agent, 'hi', { guard, runOptions: { context: { userId: 'u1' } } });
    expectTypeOf(result).toEqualTypeOf(run(agent, 'hi', { context: { userId: 'u1' } }));
    expectTypeOf<Awaited<typeof result>['state']>().toEqualTypeOf<RunState<{ userId: string }, TypedAgent>>();
  });

  it('resumes a typed RunState with its context and agent', () => {
    const state = {} as RunState<Ctx, TypedAgent>;
    const result = runGoverned(agent, state, { guard });
    expectTypeOf(result).toEqualTypeOf(run(agent, state));
    expectTypeOf<Awaited<typeof result>['state']>().toEqualTypeOf<RunState<Ctx, TypedAgent>>();
  });

  it('streams with runOptions.stream, returning the SDK StreamedRunResult', () => {
    const result = runGoverned(agent, 'hi', {
      guard,
      runOptions: { stream: true, context: { userId: 'u' } },
    });
    expectTypeOf(result).toEqualTypeOf(run(agent, 'hi', { stream: true, context: { userId: 'u' } }));
    expectTypeOf<Awaited<typeof result>['completed']>().toEqualTypeOf<Promise<void>>();
    expectTypeOf<Awaited<typeof result>['finalOutput']>().not.toBeAny();
    expectTypeOf<Awaited<typeof result>['state']>().toEqualTypeOf<RunState<{ userId: string }, TypedAgent>>();
    // A streamed leg is answered by the host: approvals are not asked for inside it.
    // @ts-expect-error onApprovalRequired does not apply to a streamed leg
    runGoverned(agent, 'hi', {
      guard,
      runOptions: { stream: true },
      onApprovalRequired: () => ({ approve: true, by: 'me' }),
    });
  });

  it('keeps the agent type through governAgent', () => {
    expectTypeOf(governAgent(agent, { guard })).toEqualTypeOf<TypedAgent>();
    expectTypeOf(governAgent(agent, { guard })).not.toBeAny();
  });
});

describe('approvals', () => {
  it('take the typed state of a run', async () => {
    const result = await runGoverned(agent, 'hi', { guard, runOptions: { context: { userId: 'u1' } } });
    const item = {} as RunToolApprovalItem;
    expectTypeOf(approvalDecision(result.state, item)).toEqualTypeOf<Decision | undefined>();
    expectTypeOf(approveToolCall(result.state, item, { by: 'alice' })).toEqualTypeOf<Promise<void>>();
    expectTypeOf(resolvePolicyInterruptions(result)).toEqualTypeOf<RunToolApprovalItem[]>();
  });
});

describe('parking', () => {
  it('parks through runGoverned options, with the same result type; parkedApprovals names the ids', async () => {
    const result = runGoverned(agent, 'hi', { guard, parking: true });
    expectTypeOf(result).toEqualTypeOf(run(agent, 'hi'));
    expectTypeOf(parkedApprovals(await result)).toEqualTypeOf<string[]>();
    // @ts-expect-error a streamed leg is not parked: the host answers it
    runGoverned(agent, 'hi', { guard, runOptions: { stream: true }, parking: true });
  });

  it('resumeParkedRun returns what run() returns for the resumed state, typed by its agent and context', () => {
    const resumed = resumeParkedRun('apr_1', { guard, agent });
    expectTypeOf(resumed).toEqualTypeOf(run(agent, {} as RunState<undefined, TypedAgent>));
    expectTypeOf<Awaited<typeof resumed>['finalOutput']>().toEqualTypeOf<{ answer: string } | undefined>();
    const typed = resumeParkedRun('apr_1', { guard, agent, runOptions: { context: { userId: 'u1' } } });
    expectTypeOf<Awaited<typeof typed>['state']>().toEqualTypeOf<RunState<{ userId: string }, TypedAgent>>();
    // @ts-expect-error the agent graph to resume with is required
    resumeParkedRun('apr_1', { guard });
  });
});
