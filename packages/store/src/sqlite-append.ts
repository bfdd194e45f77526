import {
  type ApprovalRequest,
  type AuditEvent,
  type AuditEventBody,
  GENESIS_HASH,
  type Redactor,
} from '@meshguard/core';
import { approvalRequestedBody, chainHash, eventBody, redactBody } from '@meshguard/core/internal';
import createDebug from 'debug';
import { failBatch, type PendingAppend, settleBatch } from './append-batch';
import type { JournalEntry } from './journal-line';
import { prepareApprovalInsert } from './sqlite-approvals';
import type { SqliteDatabase } from './sqlite-driver';
import { rowToEvent } from './stored-row';
import type { Checkpointer } from './wal-checkpointer';

const debug = createDebug('meshguard:store');

/** Rows per multi-row INSERT, largest first (see `insertRows`). */
const ROWS_PER_INSERT = [64, 16, 4];

/** Thrown inside `appendNew` when an event turns out to be stored already. */
const SEEN = new Error('an event of this append is stored already');

/** Bodies from a journal line: their contexts were redacted before they were written to disk. */
const preRedacted = new WeakSet<object>();

interface Chain {
  seq: number;
  hash: string;
  /** Agents first seen in this transaction (marked known once it commits). */
  agents: Set<string>;
}

/** What one batch's transaction returns: each caller's events or error, and the agents it recorded. */
type BatchResults = Array<AuditEvent[] | Error> & { agents: Set<string> };

/**
 * One caller's events, and the approval requests a journal line brought with them: stored first in
 * the transaction, so never after the event that tells of them.
 */
interface SqlitePendingAppend extends PendingAppend {
  approvals?: readonly ApprovalRequest[];
}

/** The writing side of a SQLite store: batches appends, chains them and inserts them. */
export interface SqliteAppender {
  /** Queues one caller's events: appends made in the same turn of the event loop share one transaction. */
  add(pending: SqlitePendingAppend): void;
  /**
   * Queues a journal line's entry as one caller: its events (redacted already: chained as they
   * are), its requests, and the `approval_requested` events of the requests it opened.
   */
  addJournaled(
    entry: JournalEntry,
    resolve: (events: AuditEvent[]) => void,
    reject: (error: unknown) => void,
  ): void;
  /** Commits journal lines a crashed writer left, at once and on this thread. */
  replay(lines: readonly JournalEntry[]): void;
  /** Commits what is queued, now (the store closes). */
  flush(): void;
}

export function openSqliteAppender(
  db: SqliteDatabase,
  options: { stream: string; redact: Redactor; checkpointer: Checkpointer | undefined },
): SqliteAppender {
  const { stream, redact, checkpointer } = options;
  const getHead = db.prepare<[string], { seq: number; hash: string }>(
    'SELECT seq, hash FROM audit_streams WHERE stream = ?',
  );
  const putHead = db.prepare(
    'INSERT INTO audit_streams (stream, seq, hash) VALUES (?, ?, ?) ON CONFLICT(stream) DO UPDATE SET seq = excluded.seq, hash = excluded.hash',
  );
  const findById = db.prepare<[string], { body: string; hash: string }>(
    'SELECT body, hash FROM audit_events WHERE id = ?',
  );
  const insert = db.prepare(
    'INSERT INTO audit_events (stream, body, hash) VALUES (?, ?, ?) ON CONFLICT DO NOTHING',
  );
  // One INSERT of many rows costs less than as many one-row INSERTs (about 1 us per event): events
  // known to be new go in statements of 64, 16 and 4 rows, prepared once.
  const insertRows = new Map(
    ROWS_PER_INSERT.map((n) => [
      n,
      db.prepare(
        `INSERT INTO audit_events (stream, body, hash) VALUES ${'(?, ?, ?), '.repeat(n - 1)}(?, ?, ?) ON CONFLICT DO NOTHING`,
      ),
    ]),
  );
  const rememberAgent = db.prepare('INSERT OR IGNORE INTO audit_agents (name, id) VALUES (?, ?)');
  const knownAgents = new Set<string>();
  // Prepared when a journal first brings an approval request.
  let insertApproval: ((request: ApprovalRequest) => void) | undefined;

  /**
   * The batch's approval requests (idempotent by id: one the table holds is left as it is). One the
   * table refuses (a constraint, a value it cannot hold) fails only its own line: the statement is
   * undone, the transaction goes on. Returns those refusals by position in the batch.
   */
  const storeApprovals = (batch: readonly SqlitePendingAppend[]): Map<number, Error> | undefined => {
    let refused: Map<number, Error> | undefined;
    for (let i = 0; i < batch.length; i++) {
      for (const request of batch[i]!.approvals ?? []) {
        try {
          insertApproval ??= prepareApprovalInsert(db);
          insertApproval(request);
        } catch (error) {
          if (isStoreFailure(error) && !isConstraint(error)) throw error;
          refused ??= new Map();
          refused.set(i, error instanceof Error ? error : new Error(String(error)));
        }
      }
    }
    return refused;
  };

  /** The next link of the chain: the body redacted, numbered, linked and hashed, and its canonical JSON. */
  const link = (input: AuditEventBody, seq: number, prevHash: string) => {
    const event = copyBody(preRedacted.has(input) ? input : redactBody(input, redact));
    event.stream = stream;
    event.seq = seq;
    event.prevHash = prevHash;
    const body = eventBody(event);
    // Read once, so V8 lays the string out flat here rather than twice (the hash and the insert
    // each read it): about 0.5 us per event.
    body.charCodeAt(0);
    event.hash = chainHash(prevHash, body);
    return { event, body };
  };

  /** Records the agents of new events under their names (queries by agent name). */
  const rememberAgents = (events: readonly AuditEvent[], agents: Set<string>) => {
    for (const event of events) {
      const agentKey = `${event.agent.name}\u0000${event.agent.id}`;
      if (!knownAgents.has(agentKey) && !agents.has(agentKey)) {
        rememberAgent.run(event.agent.name, event.agent.id);
        agents.add(agentKey);
      }
    }
  };

  /**
   * Events none of which has been stored before (the usual case), several rows per INSERT. Any
   * event already stored makes one of those INSERTs add fewer rows than it was given: SEEN is
   * thrown, and the caller's savepoint rolls the work back. Nothing outside the database changes
   * until every row is in.
   */
  const insertNew = (
    bodies: readonly AuditEventBody[],
    chain: Chain,
    inBatch: Map<string, AuditEvent>,
  ): AuditEvent[] => {
    let { seq, hash } = chain;
    const out: AuditEvent[] = [];
    const params: string[] = [];
    for (let i = 0; i < bodies.length; ) {
      const left = bodies.length - i;
      const rows = ROWS_PER_INSERT.find((n) => n <= left) ?? 1;
      for (let j = i; j < i + rows; j++) {
        const input = bodies[j]!;
        if (inBatch.has(input.id)) throw SEEN;
        const { event, body } = link(input, ++seq, hash);
        hash = event.hash;
        params.push(stream, body, hash);
        out.push(event);
      }
      const statement = rows === 1 ? insert : insertRows.get(rows)!;
      if (statement.run(params).changes !== rows) throw SEEN;
      params.length = 0;
      i += rows;
    }
    rememberAgents(out, chain.agents);
    for (const event of out) inBatch.set(event.id, event);
    chain.seq = seq;
    chain.hash = hash;
    return out;
  };

  /** One caller's new events, in a savepoint of their own. */
  const appendNew = db.transaction((pending: PendingAppend, chain: Chain, inBatch: Map<string, AuditEvent>) =>
    insertNew(pending.bodies, chain, inBatch),
  );

  /**
   * Every caller's events of a batch in one savepoint and as few INSERTs as possible: when many
   * callers append an event each (concurrent checks, a batched guard), a savepoint and an INSERT
   * per caller cost more than the rows. Anything unusual (an event stored before, one that cannot
   * be stored) rolls it back and the batch is written caller by caller instead.
   */
  const appendAll = db.transaction(
    (batch: PendingAppend[], chain: Chain, inBatch: Map<string, AuditEvent>): AuditEvent[][] => {
      const stored = insertNew(
        batch.flatMap((pending) => pending.bodies),
        chain,
        inBatch,
      );
      let at = 0;
      return batch.map((pending) => {
        const start = at;
        at += pending.bodies.length;
        return stored.slice(start, at);
      });
    },
  );

  /** One caller's events one by one: an event stored before is answered with the stored one. */
  const appendEach = db.transaction(
    (pending: PendingAppend, chain: Chain, inBatch: Map<string, AuditEvent>): AuditEvent[] => {
      let { seq, hash } = chain;
      const out: AuditEvent[] = [];
      const added: AuditEvent[] = [];
      for (const input of pending.bodies) {
        const known = inBatch.get(input.id);
        if (known) {
          out.push(known);
          continue;
        }
        const { event, body } = link(input, seq + 1, hash);
        // The unique index on the event id answers "seen before?" as part of the insert.
        if (insert.run(stream, body, event.hash).changes === 0) {
          out.push(existing(input.id)!);
          continue;
        }
        out.push(event);
        added.push(event);
        seq += 1;
        hash = event.hash;
      }
      rememberAgents(added, chain.agents);
      for (const event of out) inBatch.set(event.id, event);
      chain.seq = seq;
      chain.hash = hash;
      return out;
    },
  );

  /** One caller's events, in a savepoint: an event that cannot be stored fails only its caller. */
  const writeOne = (pending: PendingAppend, chain: Chain, inBatch: Map<string, AuditEvent>): AuditEvent[] => {
    try {
      return appendNew(pending, chain, inBatch);
    } catch (error) {
      if (error !== SEEN) throw error;
      return appendEach(pending, chain, inBatch);
    }
  };

  const write = db.transaction((batch: SqlitePendingAppend[]): BatchResults => {
    const refused = batch.some((pending) => pending.approvals?.length) ? storeApprovals(batch) : undefined;
    const head = getHead.get(stream) ?? { seq: 0, hash: GENESIS_HASH };
    const chain: Chain = { seq: head.seq, hash: head.hash, agents: new Set() };
    const inBatch = new Map<string, AuditEvent>();
    let results: Array<AuditEvent[] | Error> | undefined;
    if (batch.length > 1) {
      try {
        results = appendAll(batch, chain, inBatch);
      } catch (error) {
        if (isStoreFailure(error)) throw error;
        // Rolled back, chain untouched: write caller by caller below.
      }
    }
    results ??= batch.map((pending) => {
      try {
        return writeOne(pending, chain, inBatch);
      } catch (error) {
        if (isStoreFailure(error)) throw error; // the store itself failed
        return error instanceof Error ? error : new Error(String(error));
      }
    });
    if (chain.seq !== head.seq) putHead.run(stream, chain.seq, chain.hash);
    if (refused) for (const [i, error] of refused) results[i] = error;
    return Object.assign(results, { agents: chain.agents });
  });

  function existing(id: string): AuditEvent | undefined {
    const row = findById.get(id);
    return row ? rowToEvent(row.body, row.hash) : undefined;
  }

  let queue: SqlitePendingAppend[] = [];
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    const batch = queue;
    queue = [];
    if (batch.length === 0) return;
    try {
      const results = write.immediate(batch);
      checkpointer?.committed(batch.reduce((n, p) => n + p.bodies.length + (p.approvals?.length ?? 0), 0));
      // Only once committed: a rolled-back batch must not leave agents marked as recorded.
      for (const agent of results.agents) if (knownAgents.size < 100_000) knownAgents.add(agent);
      settleBatch(batch, results);
    } catch (error) {
      failBatch(batch, error);
    }
  };

  const add = (pending: SqlitePendingAppend) => {
    queue.push(pending);
    if (!scheduled) {
      scheduled = true;
      setImmediate(flush);
    }
  };

  const journaled = (
    entry: JournalEntry,
    resolve: (events: AuditEvent[]) => void,
    reject: (error: unknown) => void,
  ): SqlitePendingAppend => {
    for (const body of entry.events) preRedacted.add(body);
    const bodies = entry.opened
      ? [...entry.events, ...entry.approvals.map(approvalRequestedBody)]
      : entry.events;
    return { bodies, approvals: entry.approvals, resolve, reject };
  };

  return {
    add,
    addJournaled(entry, resolve, reject) {
      add(journaled(entry, resolve, reject));
    },
    replay(lines) {
      const batch = lines.map((entry) =>
        journaled(
          entry,
          () => {},
          () => {},
        ),
      );
      const results = write.immediate(batch);
      for (const result of results)
        if (result instanceof Error) debug('a replayed journal line was refused: %O', result);
    },
    flush,
  };
}

function isStoreFailure(error: unknown): boolean {
  return Boolean((error as { code?: string } | undefined)?.code?.startsWith('SQLITE_'));
}

function isConstraint(error: unknown): boolean {
  return Boolean((error as { code?: string } | undefined)?.code?.startsWith('SQLITE_CONSTRAINT'));
}

/**
 * A copy of a body to chain: `{ ...body }` with the chain fields to add. Object.assign makes the
 * same object as the spread (own enumerable members, in order) about 15x faster once members are
 * added to it; only an own `__proto__` member, which assignment would not copy as a member, takes
 * the spread.
 */
function copyBody(body: AuditEventBody): AuditEvent {
  return (Object.hasOwn(body, '__proto__') ? { ...body } : Object.assign({}, body)) as AuditEvent;
}
