import type { Guard } from '@meshguard/core';
import { type FunctionTool, type RunContext, tool } from '@openai/agents';
import { describe, expectTypeOf, it } from 'vitest';
import { z } from 'zod';
import { governedTool, governTool } from './govern-tool';

declare const guard: Guard;
const identity = { name: 'Support', tags: ['support'] };
interface Ctx {
  userId: string;
}
const Refund = z.object({ order_id: z.string(), amount: z.number() });
const Empty = z.object({});

describe('governedTool', () => {
  it('infers execute arguments from the zod schema, as tool() does', () => {
    const governed = governedTool(
      {
        name: 'refund',
        description: 'Refund an order.',
        parameters: Refund,
        action: 'write:refund',
        execute: (args) => {
          expectTypeOf(args).not.toBeAny();
          expectTypeOf(args).toEqualTypeOf<{ order_id: string; amount: number }>();
          return 'done';
        },
      },
      { guard, identity },
    );
    const plain = tool({
      name: 'refund',
      description: 'Refund an order.',
      parameters: Refund,
      execute: () => 'done',
    });
    expectTypeOf(governed).not.toBeAny();
    expectTypeOf(governed).toEqualTypeOf(plain);
    expectTypeOf(governed).toEqualTypeOf<FunctionTool<unknown, typeof Refund, string>>();
  });

  it('keeps the run context type of execute', () => {
    const governed = governedTool(
      {
        name: 'whoami',
        description: 'Who is asking.',
        parameters: Empty,
        execute: (_args, runContext?: RunContext<Ctx>) => {
          expectTypeOf(runContext?.context).toEqualTypeOf<Ctx | undefined>();
          return runContext?.context.userId ?? 'nobody';
        },
      },
      { guard, identity },
    );
    expectTypeOf(governed).toEqualTypeOf<FunctionTool<Ctx, typeof Empty, string>>();
    expectTypeOf<Parameters<typeof governed.invoke>[0]>().toEqualTypeOf<RunContext<Ctx>>();
  });

  it('rejects arguments the schema does not have', () => {
    governedTool(
      // @ts-expect-error execute takes `reason`, which the schema does not have
      {
        name: 'refund',
        description: 'Refund an order.',
        parameters: Refund,
        execute: ({ reason }: { reason: string }) => reason,
      },
      { guard, identity },
    );
  });
});

describe('governTool', () => {
  it('returns the type of the tool it governs', () => {
    const plain = tool({ name: 'refund', description: 'Refund.', parameters: Refund, execute: () => 'done' });
    expectTypeOf(governTool(plain, { guard, identity })).toEqualTypeOf(plain);
    expectTypeOf(governTool(plain, { guard, identity })).not.toBeAny();
  });
});
