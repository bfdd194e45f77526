// The generics of the Vertex adapter's public functions, locked: each keeps the caller's SDK types
// (a generic that became `any`, or fell back to its default, fails these).

import type { CallableTool, Content, FunctionDeclaration, Tool } from '@google/genai';
import type {
  FunctionDeclaration as LegacyFunctionDeclaration,
  Tool as LegacyTool,
} from '@google-cloud/vertexai';
import type { Guard } from '@meshguard/core';
import { describe, expectTypeOf, it } from 'vitest';
import type { GovernedBuiltinTools } from './builtin-tools';
import { governBuiltinTools } from './builtin-tools';
import type { FunctionDeclarationLike, FunctionResponsePart } from './gemini-parts';
import {
  type FunctionCallInfo,
  type GovernedCallableTool,
  type GovernedFunctions,
  governFunctions,
} from './govern-functions';
import {
  type GovernedChatResult,
  type HistoryChat,
  type RunGovernedChatOptions,
  runGovernedChat,
} from './governed-chat';
import { type ResumeParkedChatOptions, resumeParkedChat } from './resume-parked-chat';

declare const guard: Guard;
declare const governed: GovernedFunctions;
const identity = { name: 'Support', tags: ['vertex'] };

describe('governFunctions', () => {
  it('keeps the declaration type of @google/genai, so the tool goes into its requests as it is', () => {
    const declaration: FunctionDeclaration = { description: 'Refund an order' };
    const governed = governFunctions({
      guard,
      identity,
      functions: { process_refund: { declaration, action: 'write:refund', handler: () => 'done' } },
    });
    expectTypeOf(governed).toEqualTypeOf<GovernedFunctions<FunctionDeclaration>>();
    expectTypeOf(governed.declarations).not.toBeAny();
    expectTypeOf(governed.declarations).toEqualTypeOf<FunctionDeclaration[]>();
    expectTypeOf(governed.tool).toExtend<Tool>();
    expectTypeOf(governed.callableTool()).toEqualTypeOf<GovernedCallableTool<FunctionDeclaration>>();
    expectTypeOf(governed.callableTool()).toExtend<CallableTool>();
    expectTypeOf(governed.respond).returns.resolves.toEqualTypeOf<FunctionResponsePart[]>();
  });

  it('keeps the declaration type of @google-cloud/vertexai', () => {
    const declaration: LegacyFunctionDeclaration = { name: 'get_order', description: 'An order' };
    const governed = governFunctions({
      guard,
      identity,
      functions: { get_order: { declaration, handler: () => ({}) } },
    });
    expectTypeOf(governed.declarations).toEqualTypeOf<LegacyFunctionDeclaration[]>();
    expectTypeOf(governed.tool).toExtend<LegacyTool>();
  });

  it('defaults to the structural declaration, and lets a handler name its argument type', () => {
    const governed = governFunctions({
      guard,
      identity,
      functions: {
        lookup: {
          declaration: { description: 'Find a customer' },
          handler: ({ email }: { email: string }, call) => {
            expectTypeOf(call).toEqualTypeOf<FunctionCallInfo>();
            return email;
          },
        },
      },
    });
    expectTypeOf(governed.declarations).toEqualTypeOf<Array<{ description: string }>>();
    expectTypeOf(governFunctions).returns.toEqualTypeOf<GovernedFunctions<FunctionDeclarationLike>>();
  });
});

describe('governBuiltinTools', () => {
  it("gives back the caller's tool type", async () => {
    const tools: Tool[] = [{ googleSearch: {} }, { codeExecution: {} }];
    const governed = await governBuiltinTools(tools, { guard, identity });
    expectTypeOf(governed).toEqualTypeOf<GovernedBuiltinTools<Tool>>();
    expectTypeOf(governed.tools).not.toBeAny();
    expectTypeOf(governed.tools).toEqualTypeOf<Tool[]>();
    const legacy = await governBuiltinTools([] as LegacyTool[], { guard, identity });
    expectTypeOf(legacy.tools).toEqualTypeOf<LegacyTool[]>();
  });
});

describe('runGovernedChat', () => {
  it("takes a history chat over the SDK's own content type, and no other", () => {
    const chat: HistoryChat<Content> = { history: [], generateContent: async () => ({}) };
    expectTypeOf(chat.history).not.toBeAny();
    expectTypeOf(chat.history).toEqualTypeOf<Content[]>();
    expectTypeOf(
      runGovernedChat({ chat, message: 'Hi', functions: governed }),
    ).resolves.toEqualTypeOf<GovernedChatResult>();
    expectTypeOf(runGovernedChat<Content>)
      .parameter(0)
      .toEqualTypeOf<RunGovernedChatOptions<Content>>();
    const numbers = { history: [1], generateContent: async (_contents: number[]) => ({}) };
    // @ts-expect-error a history of anything but contents is refused
    void runGovernedChat({ chat: numbers, message: 'Hi', functions: governed });
  });
});

describe('resumeParkedChat', () => {
  it("rebuilds the chat from a history of the caller's content type, and resolves like runGovernedChat", () => {
    const resumed = resumeParkedChat<Content>('apr_1', {
      functions: governed,
      chat: (history) => {
        expectTypeOf(history).toEqualTypeOf<Content[]>();
        return { history, generateContent: async () => ({}) };
      },
    });
    expectTypeOf(resumed).resolves.toEqualTypeOf<GovernedChatResult>();
    expectTypeOf<ResumeParkedChatOptions<Content>>().not.toHaveProperty('message');
    expectTypeOf<GovernedChatResult['status']>().toEqualTypeOf<'completed' | 'awaiting_approval'>();
  });
});
