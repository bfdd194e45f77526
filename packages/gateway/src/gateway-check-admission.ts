import { type Decision, uuidv7 } from '@meshguard/core';
import { isoTime, RecentMap } from '@meshguard/core/internal';

/** How far a client-minted decision id's time may lie from the gateway's clock. */
const ID_PAST_MS = 5 * 60_000;
const ID_FUTURE_MS = 60_000;
/** Client-minted decision ids the gateway remembers (at least the last 100,000). */
const REMEMBERED_IDS = 200_000;

/**
 * The decision ids clients mint (UUIDv7), each taken once: an id the gateway has seen, from any
 * agent, is refused, and so is one whose time is far from the gateway's clock (minted more than
 * five minutes ago, or more than one in the future), so a client can neither replay an id nor
 * take another agent's. Each gateway process remembers the ids of at least its last 100,000
 * checks; outcomes are bound to the agent of their decision besides.
 */
export interface DecisionIds {
  /** Takes these ids for `agentId`; returns why not (nothing is taken then), or undefined. */
  claim(ids: readonly (string | undefined)[], agentId: string): string | undefined;
}

export function createDecisionIds(clock: () => number): DecisionIds {
  const seen = new RecentMap<string, string>(REMEMBERED_IDS);
  return {
    claim(ids, agentId) {
      const now = clock();
      const given = ids.filter((id): id is string => id !== undefined);
      const unique = new Set(given);
      if (unique.size !== given.length) return 'decisionId: the same id is given twice';
      for (const id of given) {
        // A UUIDv7 (the schema checked its form) begins with its 48-bit Unix time in milliseconds.
        const minted = Number.parseInt(id.slice(0, 8) + id.slice(9, 13), 16);
        if (minted < now - ID_PAST_MS || minted > now + ID_FUTURE_MS)
          return `decisionId: ${id} was minted at ${isoTime(minted)}, too far from the gateway's clock (${isoTime(now)})`;
        if (seen.has(id)) return `decisionId: ${id} is taken (the gateway has seen it)`;
      }
      for (const id of given) seen.set(id, agentId);
      return undefined;
    },
  };
}

/**
 * The decision for a check that reached the engine after the client's deadline: not evaluated
 * (the client has given up and denied it already), a deny recorded as such. Undefined when the
 * request has no deadline or is in time.
 */
export function pastDeadline(request: object, now: number): Decision | undefined {
  const deadline =
    'deadline' in request && typeof request.deadline === 'string' ? request.deadline : undefined;
  if (deadline === undefined) return undefined;
  const late = now - Date.parse(deadline);
  if (!(late > 0)) return undefined;
  return {
    decisionId: uuidv7(now),
    allowed: false,
    effect: 'deny',
    reason: `Denied: the check reached the gateway ${late} ms after the client's deadline (${deadline}), so it was not evaluated: the client had given up on it`,
    mode: 'enforce',
    evaluatedAt: isoTime(now),
  };
}
