import { randomBytes } from 'node:crypto';
import type { ApprovalStore } from '../approvals/approval-store';
import { createMemoryApprovals } from '../approvals/memory-approvals';
import { parseWithSchema } from '../errors/parse-with-schema';
import type { AuditEvent, AuditEventBody } from '../protocol/audit-event';
import { type AuditFilter, AuditFilterSchema } from '../protocol/audit-filter';
import { type ChainHead, chainEvents, GENESIS_HASH, type VerifyReport, verifyEvents } from './audit-chain';
import { compareEvents, compileAuditFilter, decodeCursor, encodeCursor } from './audit-filter-match';
import type { AuditPage, AuditStore } from './audit-store';
import { createRedactor, redactBody } from './redaction';

export interface MemoryStoreOptions {
  /** The writer stream's name (default `memory`). */
  stream?: string;
  /** Key words to redact; see `createRedactor`. */
  redactKeys?: readonly string[];
}

/**
 * An audit store that lives in memory and is lost on exit: only ever an explicit choice
 * (`createGuard({ store: 'memory' })`), for tests and throwaway runs.
 */
/** An audit store in memory (tests, demos). */
export interface MemoryStore extends AuditStore, ApprovalStore {
  /** The stored events, in append order (tests tamper with them to exercise `verify`). */
  readonly events: AuditEvent[];
}

export function createMemoryStore(options: MemoryStoreOptions = {}): MemoryStore {
  const events: AuditEvent[] = [];
  const byId = new Map<string, AuditEvent>();
  const redact = createRedactor({ keys: options.redactKeys, salt: randomBytes(16).toString('hex') });
  let head: ChainHead = { stream: options.stream ?? 'memory', seq: 0, hash: GENESIS_HASH };
  let closed = false;

  return {
    ...createMemoryApprovals(),
    kind: 'memory',
    events,
    async append(bodies: readonly AuditEventBody[]): Promise<AuditEvent[]> {
      if (closed) throw new Error('the memory store is closed');
      const fresh: AuditEventBody[] = [];
      for (const body of bodies) {
        if (byId.has(body.id) || fresh.some((f) => f.id === body.id)) continue;
        fresh.push(redactBody(body, redact));
      }
      const chained = chainEvents(head, fresh);
      head = chained.head;
      for (const event of chained.events) {
        events.push(event);
        byId.set(event.id, event);
      }
      return bodies.map((b) => byId.get(b.id)).filter((e): e is AuditEvent => e !== undefined);
    },
    async query(input: AuditFilter): Promise<AuditPage> {
      const filter = parseWithSchema(AuditFilterSchema, input, 'filter');
      const match = compileAuditFilter(filter);
      const after = filter.cursor ? decodeCursor(filter.cursor) : undefined;
      const sorted = events.filter(match).sort(compareEvents);
      if (filter.order === 'desc') sorted.reverse();
      const page = sorted.filter(
        (e) =>
          !after || (filter.order === 'desc' ? compareEvents(e, after) < 0 : compareEvents(e, after) > 0),
      );
      const out = page.slice(0, filter.limit);
      const last = out[out.length - 1];
      return page.length > filter.limit && last
        ? { events: out, nextCursor: encodeCursor(last) }
        : { events: out };
    },
    async verify(): Promise<VerifyReport> {
      return verifyEvents(events, new Map([[head.stream, { seq: head.seq, hash: head.hash }]]));
    },
    async close() {
      closed = true;
    },
  };
}
