import {
  type AgentIdentity,
  type EmbeddedGuard,
  MeshGuardError,
  uuidv7,
  type ValidationError,
} from '@meshguard/core';
import { isoTime, safeParseWithSchema } from '@meshguard/core/internal';
import type { z } from 'zod';

type OutcomeEventBody = z.infer<typeof OutcomeEventBodySchema>;

import { OutcomeEventBodySchema, type OutcomeReplySchema } from './gateway-schemas';

/** An event's own time this much before it arrived makes it late: it gets a `deliveredAt`. */
const LATE_MS = 1000;

/** Outcomes an agent token may not record: a human's answer to an approval. */
const APPROVER_OUTCOMES: ReadonlySet<string> = new Set(['approved', 'rejected']);

type Rejection = z.infer<typeof OutcomeReplySchema>['rejected'][number];

/**
 * Records the outcome events of one `POST /v1/audit`, each on its own: the answer names the id of
 * every event recorded (an id the trail holds already counts: a retry is harmless) and says for
 * every other one why it was rejected, so a client counts as delivered only what is named, and
 * one bad event never holds up the rest. An agent may not record an approval's answer
 * (`approved` / `rejected`): that is the approver's to record, not the asking agent's.
 * A failure to store (not an event's fault) is thrown: the whole request fails, and the client
 * keeps every event for a retry.
 */
export async function recordOutcomes(
  guard: EmbeddedGuard,
  /** Stamps the caller on an event: the token's agent and, for a delegated token, its chain. */
  asCaller: (event: OutcomeEventBody) => OutcomeEventBody & { agent: AgentIdentity },
  events: readonly unknown[],
  now: () => number,
): Promise<z.infer<typeof OutcomeReplySchema>> {
  const recorded: string[] = [];
  const rejected: Rejection[] = [];
  for (let index = 0; index < events.length; index++) {
    const raw = events[index];
    const givenId =
      raw !== null && typeof raw === 'object' && typeof (raw as { id?: unknown }).id === 'string'
        ? (raw as { id: string }).id
        : undefined;
    const refuse = (error: Rejection['error'], message: string, field?: string) => {
      const rejection: Rejection = { index, error, message };
      if (givenId !== undefined) rejection.id = givenId;
      if (field !== undefined) rejection.field = field;
      rejected.push(rejection);
    };
    const parsed = safeParseWithSchema(OutcomeEventBodySchema, raw, { under: `events.${index}` });
    if (!parsed.success) {
      refuse('bad_request', parsed.error.message, parsed.error.field);
      continue;
    }
    const event = parsed.data;
    if (APPROVER_OUTCOMES.has(event.outcome)) {
      refuse(
        'forbidden',
        `events.${index}.outcome: an agent token cannot record "${event.outcome}": an approval's answer is recorded by the approver, not by the agent that asked`,
        `events.${index}.outcome`,
      );
      continue;
    }
    const at = now();
    const id = event.id ?? uuidv7(at);
    const happened = event.ts !== undefined ? Date.parse(event.ts) : at;
    try {
      await guard.record({
        ...asCaller(event),
        id,
        ...(happened < at - LATE_MS ? { deliveredAt: isoTime(at) } : {}),
      });
    } catch (error) {
      if (MeshGuardError.isInstance(error) && error.code === 'validation_failed') {
        const field = (error as ValidationError).field;
        refuse(
          'bad_request',
          `events.${index}.${error.message}`,
          field ? `events.${index}.${field}` : undefined,
        );
        continue;
      }
      throw error;
    }
    recorded.push(id);
  }
  return { accepted: recorded.length, recorded, rejected };
}
