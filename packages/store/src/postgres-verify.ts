import {
  type AuditEvent,
  type ChainProblem,
  GENESIS_HASH,
  type StreamReport,
  StreamVerifier,
  type VerifyReport,
} from '@meshguard/core';
import type pg from 'pg';
import { agentKey, agentNamesProblem, bodyValue, columnMismatch, DERIVED_COLUMNS } from './derived-columns';
import { columnText, parseEvent } from './stored-row';
import { missingTrailTable, trailMissingReport } from './trail-missing';

/** The derived columns as PostgreSQL returns them (seq is an integer, every other one text). */
type DerivedRow = Record<string, string | number>;

/** A string as a text column holds it: NUL replaced, and lone surrogates (UTF-8 has none) too. */
function asStored(value: string): string {
  return columnText(value).replace(LONE_SURROGATE, '\uFFFD');
}
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/** The first derived column of a row that disagrees with the event's hashed body, if any. */
function disagreement(event: AuditEvent, row: DerivedRow): string | undefined {
  for (const { column, path } of DERIVED_COLUMNS) {
    const hashed = bodyValue(event, path);
    const expected = typeof hashed === 'string' ? asStored(hashed) : hashed;
    if (row[column] !== expected) return columnMismatch(event, column, row[column], hashed);
  }
  return undefined;
}

/**
 * Verifies every stream in one pass over the trail in stored order, a page at a time, inside one
 * repeatable-read snapshot: the heads and the events are read as of one moment, so writers
 * appending meanwhile cannot make the trail look broken. Each stream goes through core's
 * StreamVerifier, then its end is compared with the head the store recorded.
 */
export async function verifyPostgres(
  client: pg.PoolClient,
  s: string,
  pageSize: number,
): Promise<VerifyReport> {
  await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  try {
    const heads = new Map(
      (
        await client.query<{ stream: string; seq: number; hash: string }>(
          `SELECT stream, seq, hash FROM ${s}.audit_streams`,
        )
      ).rows.map((h) => [h.stream, h]),
    );
    const verifiers = new Map<string, { verifier: StreamVerifier; seq: number }>();
    let checked = 0;
    let problem: ChainProblem | undefined;
    let from = '0';
    // The (name, id) pairs of the events: `--agent <name>` reads the ids through audit_agents.
    const agents = new Set<string>();
    scan: for (;;) {
      const { rows } = await client.query<
        DerivedRow & { at: string; stream: string; seq: number; id: string; body: string; hash: string }
      >(
        `SELECT pos::text AS at, body, hash, ${DERIVED_COLUMNS.map((c) => c.column).join(', ')} FROM ${s}.audit_events WHERE pos > $1 ORDER BY pos LIMIT $2`,
        [from, pageSize],
      );
      for (const row of rows) {
        let state = verifiers.get(row.stream);
        if (!state) {
          state = { verifier: new StreamVerifier(row.stream), seq: 0 };
          verifiers.set(row.stream, state);
        }
        const event = parseEvent(row.body, row.hash);
        const edited = (message: string): ChainProblem => ({
          stream: row.stream,
          seq: row.seq,
          id: row.id,
          kind: 'edited',
          message,
        });
        if (!event) {
          problem = edited(`the event at seq ${row.seq} is not valid JSON: it was edited`);
          break scan;
        }
        if (
          typeof event.id !== 'string' ||
          event.stream !== row.stream ||
          event.seq !== row.seq ||
          columnText(event.id) !== row.id
        ) {
          problem = edited(
            `event ${row.id} (seq ${row.seq}) does not match the columns stored beside it: it was edited`,
          );
          break scan;
        }
        // A gap in seq is a removal, unless the missing seq comes later (a reordering).
        let upcoming: Set<number> | undefined;
        const expected = state.seq + 1;
        if (event.seq > expected) {
          const later = await client.query(
            `SELECT 1 FROM ${s}.audit_events WHERE stream = $1 AND seq = $2 AND pos > $3`,
            [row.stream, expected, row.at],
          );
          if ((later.rowCount ?? 0) > 0) upcoming = new Set([expected]);
        }
        if (!state.verifier.push(event, upcoming)) {
          problem = state.verifier.problem;
          break scan;
        }
        // The hash covers the body alone: a column beside it could still say something else.
        const mismatch = disagreement(event, row);
        if (mismatch) {
          problem = edited(mismatch);
          break scan;
        }
        agents.add(agentKey(asStored(event.agent.name), asStored(event.agent.id)));
        state.seq = event.seq;
        checked++;
      }
      if (rows.length < pageSize) break;
      from = rows[rows.length - 1]!.at;
    }
    if (!problem) problem = await checkAgentNames(client, s, agents);
    await client.query('COMMIT');

    const names = [...new Set([...verifiers.keys(), ...heads.keys()])].sort((a, b) => a.localeCompare(b));
    const streams: StreamReport[] = [];
    for (const stream of names) {
      const state = verifiers.get(stream) ?? { verifier: new StreamVerifier(stream), seq: 0 };
      const head = heads.get(stream);
      const headless = !problem && !head && state.seq > 0;
      streams.push(
        state.verifier.finish(problem || headless ? undefined : (head ?? { seq: 0, hash: GENESIS_HASH })),
      );
      if (problem) continue;
      if (headless) {
        problem = {
          stream,
          seq: state.seq,
          id: '',
          kind: 'edited',
          message: `stream "${stream}" has events but no recorded head: the head was deleted`,
        };
      } else if (state.verifier.problem) {
        problem = state.verifier.problem;
      }
    }
    return problem ? { ok: false, checked, streams, problem } : { ok: true, checked, streams };
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    const table = (error as { code?: string }).code === '42P01' ? missingTrailTable(error) : undefined;
    if (table) return trailMissingReport(table, `schema ${s}`);
    throw error;
  }
}

/** The agent names of the events against those audit_agents records (in the verify snapshot). */
async function checkAgentNames(
  client: pg.PoolClient,
  s: string,
  agents: ReadonlySet<string>,
): Promise<ChainProblem | undefined> {
  const { rows } = await client.query<{ name: string; id: string }>(`SELECT name, id FROM ${s}.audit_agents`);
  return agentNamesProblem(rows, agents);
}
