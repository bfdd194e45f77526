// The types the Bedrock adapter's factories carry from the AWS SDK, locked: requests and results
// keep the SDK's own types (one that became `any` fails these), and handlers see typed calls.
import type {
  BedrockAgentRuntimeClient,
  InlineAgentTracePart,
  InvokeAgentRequest,
  InvokeInlineAgentRequest,
  OutputFile,
  TracePart,
} from '@aws-sdk/client-bedrock-agent-runtime';
import type { Guard, RunParking } from '@meshguard/core';
import { describe, expectTypeOf, it } from 'vitest';
import type { ActionHandler, BedrockActionCall } from './action-group-handlers';
import type { GovernedTurnResult } from './bedrock-invocation-loop';
import type { GovernedCall, ObservedActivity } from './bedrock-turn';
import { createGovernedAgent, type GovernedAgent, type InvokeTurnInput } from './governed-agent';
import {
  type GovernedInlineAgentInput,
  type GovernedInlineTurnResult,
  invokeGovernedInlineAgent,
} from './governed-inline-agent';
import type { RemovedCapability } from './inline-agent-ceiling';
import { type ResumeParkedTurnOptions, resumeParkedTurn } from './resume-parked-turn';

declare const guard: Guard;
declare const client: BedrockAgentRuntimeClient;

describe('createGovernedAgent', () => {
  const agent = createGovernedAgent({
    client,
    guard,
    agentId: 'AGENT123',
    agentAliasId: 'ALIAS123',
    identity: { name: 'Support Agent', tags: ['support'] },
    actionGroups: {
      Orders: {
        functions: {
          get_order: (args, call) => {
            expectTypeOf(args).toEqualTypeOf<Record<string, unknown>>();
            expectTypeOf(call).toEqualTypeOf<BedrockActionCall>();
            return 'ORD-1';
          },
          process_refund: { action: 'write:refund', handler: ({ amount }) => amount },
        },
      },
    },
  });

  it('is a governed agent whose turns take InvokeAgent fields but the ones it sets itself', () => {
    expectTypeOf(agent).toEqualTypeOf<GovernedAgent>();
    expectTypeOf(agent.invoke).parameter(0).toEqualTypeOf<InvokeTurnInput>();
    expectTypeOf<InvokeTurnInput['memoryId']>().not.toBeAny();
    expectTypeOf<InvokeTurnInput['memoryId']>().toEqualTypeOf<InvokeAgentRequest['memoryId']>();
    expectTypeOf<InvokeTurnInput['sessionState']>().toEqualTypeOf<InvokeAgentRequest['sessionState']>();
    expectTypeOf<InvokeTurnInput>().not.toHaveProperty('agentId');
    expectTypeOf<InvokeTurnInput>().not.toHaveProperty('agentAliasId');
    // @ts-expect-error a turn needs its text
    void agent.invoke({ sessionId: 's-1' });
  });

  it("resolves to the turn's result, in the SDK's trace and file types", () => {
    expectTypeOf(agent.invoke).returns.resolves.toEqualTypeOf<GovernedTurnResult>();
    expectTypeOf<GovernedTurnResult['trace']>().not.toBeAny();
    expectTypeOf<GovernedTurnResult['trace']>().toEqualTypeOf<Array<TracePart | InlineAgentTracePart>>();
    expectTypeOf<GovernedTurnResult['files']>().toEqualTypeOf<OutputFile[]>();
    expectTypeOf<GovernedTurnResult['decisions']>().toEqualTypeOf<GovernedCall[]>();
    expectTypeOf<GovernedTurnResult['observed']>().toEqualTypeOf<ObservedActivity[]>();
  });
});

describe('invokeGovernedInlineAgent', () => {
  it('takes the InvokeInlineAgent request as the SDK types it', () => {
    expectTypeOf(invokeGovernedInlineAgent).parameter(0).toEqualTypeOf<GovernedInlineAgentInput>();
    expectTypeOf(invokeGovernedInlineAgent).parameter(0).toExtend<InvokeInlineAgentRequest>();
    expectTypeOf<GovernedInlineAgentInput['actionGroups']>().not.toBeAny();
    expectTypeOf<GovernedInlineAgentInput['actionGroups']>().toEqualTypeOf<
      InvokeInlineAgentRequest['actionGroups']
    >();
    expectTypeOf<GovernedInlineAgentInput['collaborators']>().toEqualTypeOf<
      InvokeInlineAgentRequest['collaborators']
    >();
    expectTypeOf<GovernedInlineAgentInput['client']>().toEqualTypeOf<BedrockAgentRuntimeClient>();
  });

  it('resolves to the turn with what policy removed', () => {
    expectTypeOf(invokeGovernedInlineAgent).returns.resolves.toEqualTypeOf<GovernedInlineTurnResult>();
    expectTypeOf<GovernedInlineTurnResult>().toExtend<GovernedTurnResult>();
    expectTypeOf<GovernedInlineTurnResult['removed']>().toEqualTypeOf<RemovedCapability[]>();
  });

  it('gives handlers typed calls', () => {
    expectTypeOf<ActionHandler>().parameters.toEqualTypeOf<[Record<string, unknown>, BedrockActionCall]>();
    expectTypeOf<BedrockActionCall['args']>().not.toBeAny();
  });
});

describe('resumeParkedTurn', () => {
  it("takes the agent's own options and resolves to a turn like invoke's", () => {
    expectTypeOf(resumeParkedTurn).parameter(0).toEqualTypeOf<string>();
    expectTypeOf(resumeParkedTurn).parameter(1).toEqualTypeOf<ResumeParkedTurnOptions>();
    expectTypeOf<ResumeParkedTurnOptions>().toExtend<Parameters<typeof createGovernedAgent>[0]>();
    expectTypeOf(resumeParkedTurn).returns.resolves.toEqualTypeOf<GovernedTurnResult>();
    expectTypeOf<ResumeParkedTurnOptions['parking']>().toEqualTypeOf<RunParking | true | undefined>();
    expectTypeOf<GovernedTurnResult['status']>().toEqualTypeOf<
      'completed' | 'awaiting_approval' | 'session_ended'
    >();
  });
});
