import * as crypto from 'node:crypto';
import type { AuditEvent, AuditEventBody } from '../protocol/audit-event';
import { eventBodyJson } from './event-body-json';

/** The `prevHash` of the first event of every stream. */
export const GENESIS_HASH = '0'.repeat(64);

// One-shot crypto.hash (Node >= 20.12) is about twice as fast as createHash for small inputs,
// and verification hashes every event.
const oneShot = (crypto as { hash?: (algorithm: string, data: string) => string }).hash;

/** `sha256(text)`, hex. */
export function sha256Hex(text: string): string {
  if (oneShot) return oneShot('sha256', text);
  return crypto.createHash('sha256').update(text).digest('hex');
}

/** `sha256(prevHash + body)`, hex, where body is the canonical JSON of the event without `hash`. */
export function chainHash(prevHash: string, body: string): string {
  return sha256Hex(prevHash + body);
}

/** The text an event's hash covers (after its `prevHash`): canonical JSON without `hash`. */
export function eventBody(event: Omit<AuditEvent, 'hash'> | AuditEvent): string {
  const { hash: _ignored, ...rest } = event as AuditEvent;
  return eventBodyJson(rest);
}

/** `sha256(prevHash + canonicalJson(event without hash))`, hex. */
export function hashEvent(event: Omit<AuditEvent, 'hash'> | AuditEvent): string {
  return chainHash(event.prevHash, eventBody(event));
}

/** The head of one writer's chain: the next event gets `seq + 1` and `prevHash = hash`. */
export interface ChainHead {
  stream: string;
  seq: number;
  hash: string;
}

/** Chains bodies onto a stream head, returning the events and the new head. */
export function chainEvents(
  head: ChainHead,
  bodies: readonly AuditEventBody[],
): { events: AuditEvent[]; head: ChainHead } {
  let { seq, hash } = head;
  const events: AuditEvent[] = [];
  for (const body of bodies) {
    const unsigned = { ...body, stream: head.stream, seq: seq + 1, prevHash: hash };
    const next = hashEvent(unsigned);
    events.push({ ...unsigned, hash: next });
    seq += 1;
    hash = next;
  }
  return { events, head: { stream: head.stream, seq, hash } };
}

export type ChainProblemKind = 'edited' | 'missing' | 'reordered' | 'duplicate' | 'truncated';

export interface ChainProblem {
  stream: string;
  seq: number;
  id: string;
  kind: ChainProblemKind;
  message: string;
}

export interface StreamReport {
  stream: string;
  events: number;
  lastSeq: number;
  lastHash: string;
}

export interface VerifyReport {
  ok: boolean;
  checked: number;
  /** How many threads hashed the events (a large SQLite file is verified in parallel). */
  threads?: number;
  streams: StreamReport[];
  problem?: ChainProblem;
}

/**
 * Verifies one stream's events in stored order. Stops at the first problem: an edited event
 * (its hash no longer matches its content), a missing one (a gap in `seq`), or events out of
 * order. `expectedHead`, when the store keeps one, also catches events removed from the end.
 */
export class StreamVerifier {
  private seq = 0;
  private hash = GENESIS_HASH;
  private count = 0;
  problem: ChainProblem | undefined;

  constructor(readonly stream: string) {}

  /** Feeds the next stored event; false once a problem is found. */
  push(event: AuditEvent, upcomingSeqs?: ReadonlySet<number>): boolean {
    if (this.problem) return false;
    const expected = this.seq + 1;
    const fail = (kind: ChainProblemKind, message: string) => {
      this.problem = { stream: this.stream, seq: event.seq, id: event.id, kind, message };
      return false;
    };
    if (event.seq !== expected) {
      if (event.seq <= this.seq) {
        return fail(
          event.seq === this.seq ? 'duplicate' : 'reordered',
          `event ${event.id} has seq ${event.seq} after seq ${this.seq}: events are out of order`,
        );
      }
      if (upcomingSeqs?.has(expected)) {
        return fail(
          'reordered',
          `event ${event.id} (seq ${event.seq}) comes before seq ${expected}: events are out of order`,
        );
      }
      return fail(
        'missing',
        `seq ${expected}${event.seq > expected + 1 ? `-${event.seq - 1}` : ''} missing before event ${event.id} (seq ${event.seq}): events were removed`,
      );
    }
    if (hashEvent(event) !== event.hash) {
      return fail('edited', `event ${event.id} (seq ${event.seq}) does not match its hash: it was edited`);
    }
    if (event.prevHash !== this.hash) {
      return fail(
        'edited',
        `event ${event.id} (seq ${event.seq}) does not link to the previous event's hash: the chain was rewritten`,
      );
    }
    this.seq = event.seq;
    this.hash = event.hash;
    this.count++;
    return true;
  }

  /** Compares the end of the stream with the head the store recorded separately, if any. */
  finish(expectedHead?: { seq: number; hash: string }): StreamReport {
    if (!this.problem && expectedHead && (expectedHead.seq !== this.seq || expectedHead.hash !== this.hash)) {
      this.problem = {
        stream: this.stream,
        seq: expectedHead.seq,
        id: '',
        kind: expectedHead.seq > this.seq ? 'truncated' : 'edited',
        message:
          expectedHead.seq > this.seq
            ? `the stream ends at seq ${this.seq} but its head records seq ${expectedHead.seq}: events were removed from the end`
            : `the stream's recorded head (seq ${expectedHead.seq}) does not match its last event (seq ${this.seq})`,
      };
    }
    return { stream: this.stream, events: this.count, lastSeq: this.seq, lastHash: this.hash };
  }
}

/**
 * Verifies events grouped by stream, each group in stored order; with the heads the store keeps,
 * events removed from the end of a stream are caught too.
 */
export function verifyEvents(
  events: Iterable<AuditEvent>,
  heads?: ReadonlyMap<string, { seq: number; hash: string }>,
): VerifyReport {
  const byStream = new Map<string, AuditEvent[]>();
  for (const event of events) {
    const list = byStream.get(event.stream);
    if (list) list.push(event);
    else byStream.set(event.stream, [event]);
  }
  const streams: StreamReport[] = [];
  let checked = 0;
  for (const [stream, list] of byStream) {
    const verifier = new StreamVerifier(stream);
    const seqs = new Set(list.map((e) => e.seq));
    for (const event of list) {
      if (!verifier.push(event, seqs)) break;
      checked++;
    }
    streams.push(verifier.finish(heads?.get(stream)));
    if (verifier.problem) return { ok: false, checked, streams, problem: verifier.problem };
  }
  for (const [stream, head] of heads ?? []) {
    if (byStream.has(stream) || head.seq === 0) continue;
    const verifier = new StreamVerifier(stream);
    streams.push(verifier.finish(head));
    return { ok: false, checked, streams, problem: verifier.problem! };
  }
  return { ok: true, checked, streams };
}
