import {
  type AuditEvent,
  type ChainProblem,
  GENESIS_HASH,
  type StreamReport,
  StreamVerifier,
  type VerifyReport,
} from '@meshguard/core';
import { chainHash } from '@meshguard/core/internal';
import { type ChainScan, scanInParallel } from './parallel-verify';
import { checkDerivedColumns } from './sqlite-derived-columns';
import type { SqliteDatabase } from './sqlite-driver';
import { rowToEvent } from './stored-row';
import { missingTrailTable, trailMissingReport } from './trail-missing';

/**
 * Verifies every stream in one pass over the table in stored order: each body is hashed onto the
 * previous hash of its stream (no JSON parsing on the happy path), and each stream's end is
 * compared with its recorded head. Only at a break are events parsed to say what is wrong.
 */
export async function verifySqlite(
  db: SqliteDatabase,
  path: string,
  parallelFrom: number,
): Promise<VerifyReport> {
  // The heads and the last position are read in one snapshot, and only rows up to that position
  // are scanned: a writer appending meanwhile adds rows after it and cannot make the trail look
  // broken.
  let snapshot: ReturnType<typeof readSnapshot>;
  try {
    snapshot = readSnapshot(db);
  } catch (error) {
    // Dropped while this store was open (a store opened afterwards refuses the file).
    const table = missingTrailTable(error);
    if (table) return trailMissingReport(table, `"${path}"`);
    throw error;
  }
  const heads = new Map(snapshot.heads.map((h) => [h.stream, h]));
  const { lo, hi } = snapshot.bounds;
  const scan =
    lo === null || hi === null
      ? { state: new Map<string, { hash: string; count: number }>(), checked: 0, threads: 1 }
      : ((await scanInParallel(path, db.driver, lo, hi, parallelFrom)) ?? scanSequentially(db, hi));
  const { state, checked, threads } = scan;
  if (scan.broken) {
    const problem = diagnose(db, scan.broken.stream, scan.broken.pos);
    return { ok: false, checked, threads, streams: reports(state), problem };
  }
  for (const stream of heads.keys())
    if (!state.has(stream)) state.set(stream, { hash: GENESIS_HASH, count: 0 });
  for (const [stream, s] of [...state].sort(([a], [b]) => a.localeCompare(b))) {
    const head = heads.get(stream);
    if (head && head.seq === s.count && head.hash === s.hash) continue;
    const last = db
      .prepare('SELECT id, seq FROM audit_events WHERE stream = ? ORDER BY pos DESC LIMIT 1')
      .get(stream) as { id: string; seq: number } | undefined;
    const problem: ChainProblem = !head
      ? {
          stream,
          seq: s.count,
          id: last?.id ?? '',
          kind: 'edited',
          message: `stream "${stream}" has events but no recorded head: the head was deleted`,
        }
      : head.seq > s.count
        ? {
            stream,
            seq: s.count + 1,
            id: '',
            kind: 'truncated',
            message: `stream "${stream}" ends at seq ${s.count}, but its head records seq ${head.seq}: events were removed from the end`,
          }
        : {
            stream,
            seq: last?.seq ?? s.count,
            id: last?.id ?? '',
            kind: 'edited',
            message: `stream "${stream}"'s recorded head (seq ${head.seq}) does not match its last event (seq ${s.count})`,
          };
    return { ok: false, checked, threads, streams: reports(state), problem };
  }
  const problem = hi === null ? undefined : checkDerivedColumns(db, hi);
  if (problem) return { ok: false, checked, threads, streams: reports(state), problem };
  return { ok: true, checked, threads, streams: reports(state) };
}

/** One pass over the table in stored order, each body hashed onto its stream's previous hash. */
function scanSequentially(db: SqliteDatabase, lastPos: number): ChainScan {
  const state = new Map<string, { hash: string; count: number }>();
  const rows = db.prepare<[number], [string, string, string, number]>(
    'SELECT stream, body, hash, pos FROM audit_events WHERE pos <= ? ORDER BY pos',
  );
  rows.raw(true);
  let checked = 0;
  for (const [stream, body, hash, pos] of rows.iterate(lastPos)) {
    let s = state.get(stream);
    if (!s) {
      s = { hash: GENESIS_HASH, count: 0 };
      state.set(stream, s);
    }
    if (chainHash(s.hash, body) !== hash) return { state, checked, threads: 1, broken: { stream, pos } };
    s.hash = hash;
    s.count++;
    checked++;
  }
  return { state, checked, threads: 1 };
}

function reports(state: Map<string, { hash: string; count: number }>): StreamReport[] {
  return [...state]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([stream, s]) => ({ stream, events: s.count, lastSeq: s.count, lastHash: s.hash }));
}

/** Parses the stream (only when broken) to say whether events were edited, removed or reordered. */
function diagnose(db: SqliteDatabase, stream: string, brokenPos: number): ChainProblem {
  const rows = db
    .prepare('SELECT body, hash, pos FROM audit_events WHERE stream = ? ORDER BY pos')
    .all(stream) as Array<{ body: string; hash: string; pos: number }>;
  const events: AuditEvent[] = [];
  for (const row of rows) {
    try {
      events.push(rowToEvent(row.body, row.hash));
    } catch {
      const seq = events.length + 1;
      return {
        stream,
        seq,
        id: '',
        kind: 'edited',
        message: `the event at seq ${seq} is not valid JSON: it was edited`,
      };
    }
  }
  const verifier = new StreamVerifier(stream);
  const seqs = new Set(events.map((e) => e.seq));
  for (const event of events) if (!verifier.push(event, seqs)) break;
  if (verifier.problem) return verifier.problem;
  const at = rows.findIndex((r) => r.pos === brokenPos);
  const event = events[at]!;
  return {
    stream,
    seq: event.seq,
    id: event.id,
    kind: 'edited',
    message: `event ${event.id} (seq ${event.seq}) does not match its hash: it was edited`,
  };
}

/** The heads and the last position, read in one snapshot. */
function readSnapshot(db: SqliteDatabase) {
  return db.transaction(() => ({
    heads: db.prepare('SELECT stream, seq, hash FROM audit_streams').all() as Array<{
      stream: string;
      seq: number;
      hash: string;
    }>,
    bounds: db.prepare('SELECT min(pos) AS lo, max(pos) AS hi FROM audit_events').get() as {
      lo: number | null;
      hi: number | null;
    },
  }))();
}
