import type { Guard } from '@meshguard/core';
import { Agent, type Handoff, handoff } from '@openai/agents';
import { describe, expectTypeOf, it } from 'vitest';
import { z } from 'zod';
import { governHandoff } from './govern-handoff';

declare const guard: Guard;
const identity = { name: 'Triage' };
interface Ctx {
  userId: string;
}
const Ticket = z.object({ ticket: z.string() });

describe('governHandoff', () => {
  it('keeps the context and output types of an agent handed to', () => {
    const billing = new Agent<Ctx, typeof Ticket>({ name: 'Billing', instructions: 'b', outputType: Ticket });
    const governed = governHandoff(billing, { guard, identity });
    expectTypeOf(governed).not.toBeAny();
    expectTypeOf(governed).toEqualTypeOf<Handoff<Ctx, typeof Ticket>>();
    expectTypeOf(governed).toEqualTypeOf(handoff(billing));
  });

  it('keeps them for a handoff too', () => {
    const billing = new Agent<Ctx, typeof Ticket>({ name: 'Billing', instructions: 'b', outputType: Ticket });
    const original = handoff(billing, { toolNameOverride: 'to_billing' });
    expectTypeOf(governHandoff(original, { guard, identity })).toEqualTypeOf(original);
  });
});
