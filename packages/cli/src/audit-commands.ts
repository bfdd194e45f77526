import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import type { Writable } from 'node:stream';
import type { AuditEvent, AuditFilter, VerifyReport } from '@meshguard/core';
import { csvHeader, csvRow, formatTable, formatTrace, traceSummary } from './audit-format';
import { pendingLines, pendingNote } from './audit-pending';
import { openAuditForReading, TrailMissingError } from './audit-source';
import { UsageError } from './cli-error';
import { type CliIo, paint, plural } from './cli-output';
import { parsePositiveInt, parseTimeFlag } from './time-flags';

export interface AuditQueryFlags {
  db?: string;
  gateway?: string;
  agent?: string;
  action?: string;
  decision?: 'allow' | 'deny' | 'require_approval';
  framework?: string;
  trace?: string;
  since?: string;
  until?: string;
  limit?: string;
  json?: boolean;
}

function filterOf(flags: AuditQueryFlags): AuditFilter {
  const filter: AuditFilter = {};
  if (flags.agent) filter.agent = flags.agent;
  if (flags.action) filter.action = flags.action;
  if (flags.decision) {
    filter.effect = flags.decision;
    filter.type = 'decision';
  }
  if (flags.framework) filter.framework = flags.framework;
  if (flags.trace) filter.traceId = flags.trace;
  if (flags.since) filter.since = parseTimeFlag('--since', flags.since);
  if (flags.until) filter.until = parseTimeFlag('--until', flags.until);
  return filter;
}

/** `audit query`: the latest matching events, oldest of them first (a table, or JSON lines). */
export async function auditQuery(io: CliIo, flags: AuditQueryFlags): Promise<number> {
  const filter = filterOf(flags);
  const limit = flags.limit ? parsePositiveInt('--limit', flags.limit, 10_000) : 50;
  const store = openAuditForReading(flags);
  try {
    const page = await store.query({ ...filter, order: 'desc', limit });
    const events = page.events.reverse();
    const pending = (await store.pending(filter)).slice(-limit);
    if (flags.json) {
      for (const e of events) io.out(JSON.stringify(e));
    } else if (events.length === 0 && pending.length === 0) {
      io.out('no matching events');
    } else if (events.length > 0) {
      for (const line of formatTable(events, paint(io))) io.out(line);
      if (page.nextCursor) io.out(paint(io).dim(`(the latest ${limit}; use --limit or --since for more)`));
    }
    for (const line of pendingLines(pending, paint(io), flags.json)) io.out(line);
    return 0;
  } finally {
    await store.close();
  }
}

/** `audit trace <traceId>`: the run as a timeline tree. */
export async function auditTrace(
  io: CliIo,
  traceId: string,
  flags: { db?: string; gateway?: string; json?: boolean },
): Promise<number> {
  const store = openAuditForReading(flags);
  try {
    const events: AuditEvent[] = [];
    for await (const event of store.iterate({ traceId })) events.push(event);
    const pending = await store.pending({ traceId });
    if (events.length === 0 && pending.length === 0)
      throw new UsageError(`no events with trace id "${traceId}"`);
    const c = paint(io);
    if (flags.json || events.length === 0) {
      for (const e of flags.json ? events : []) io.out(JSON.stringify(e));
      for (const line of pendingLines(pending, c, flags.json)) io.out(line);
      return 0;
    }
    const frameworks = [...new Set(events.map((e) => e.framework))].join(', ');
    io.out(
      `${c.bold(`trace ${traceId}`)} ${c.dim(`(${plural(events.length, 'event')}; ${frameworks}; from ${events[0]!.ts})`)}`,
    );
    for (const line of formatTrace(events, c)) io.out(line);
    io.out(c.dim(traceSummary(events)));
    for (const line of pendingLines(pending, c, false)) io.out(line);
    return 0;
  } finally {
    await store.close();
  }
}

/** `audit tail [-f]`: the latest events; with -f, new ones as they arrive (until interrupted). */
export async function auditTail(
  io: CliIo,
  flags: {
    db?: string;
    gateway?: string;
    follow?: boolean;
    lines?: string;
    json?: boolean;
    interval?: string;
  },
  signal?: AbortSignal,
): Promise<number> {
  const n = flags.lines ? parsePositiveInt('--lines', flags.lines, 10_000) : 20;
  const interval = flags.interval ? parsePositiveInt('--interval', flags.interval, 60_000) : 500;
  const store = openAuditForReading(flags);
  const c = paint(io);
  const print = (events: AuditEvent[], header: boolean) => {
    if (flags.json) for (const e of events) io.out(JSON.stringify(e));
    else {
      const lines = formatTable(events, c);
      for (const line of header ? lines : lines.slice(1)) io.out(line);
    }
  };
  try {
    const latest = await store.latest(n);
    let cursor = latest.cursor;
    print(latest.events, true);
    if (!flags.follow) return 0;
    const stop = signal ?? abortOnSigint();
    while (!stop.aborted) {
      await new Promise((resolve) => setTimeout(resolve, interval));
      // Follows by recorded position, so an event whose own timestamp is odd is still shown.
      for (;;) {
        const next = await store.after(cursor);
        cursor = next.cursor;
        if (next.events.length > 0) print(next.events, false);
        if (next.events.length < 1000) break;
      }
    }
    return 0;
  } finally {
    await store.close();
  }
}

function abortOnSigint(): AbortSignal {
  const controller = new AbortController();
  process.once('SIGINT', () => controller.abort());
  process.once('SIGTERM', () => controller.abort());
  return controller.signal;
}

/** `audit verify`: 0 every stream intact, 1 with the first broken event and what is wrong. */
export async function auditVerify(
  io: CliIo,
  flags: { db?: string; gateway?: string; json?: boolean },
): Promise<number> {
  let store: ReturnType<typeof openAuditForReading>;
  try {
    store = openAuditForReading(flags);
  } catch (error) {
    // A trail whose tables were dropped is a broken trail, not bad input.
    if (!(error instanceof TrailMissingError)) throw error;
    const problem = { stream: '', seq: 0, id: '', kind: 'truncated', message: error.message } as const;
    return printVerifyReport(io, flags, { ok: false, checked: 0, streams: [], problem }, 0);
  }
  try {
    const started = process.hrtime.bigint();
    const report = await store.verify();
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const pending = (await store.pending({})).length;
    return printVerifyReport(io, flags, pending > 0 ? { ...report, pending } : report, seconds);
  } finally {
    await store.close();
  }
}

/** A verify report, with `pending`: how many journaled events are not in the chain yet. */
function printVerifyReport(
  io: CliIo,
  flags: { json?: boolean },
  report: VerifyReport & { pending?: number },
  seconds: number,
): number {
  if (flags.json) {
    io.out(JSON.stringify(report));
    return report.ok ? 0 : 1;
  }
  const c = paint(io);
  // Not a break in the chain: events that will be chained when a writer next opens the store.
  const pending = () => {
    if (report.pending) io.out(c.yellow(`  ${pendingNote(report.pending)}`));
  };
  if (report.ok) {
    io.out(
      `${c.green('✓')} audit trail intact: ${plural(report.checked, 'event')} in ${plural(report.streams.length, 'stream')} verified in ${seconds.toFixed(2)}s${report.threads && report.threads > 1 ? ` (${report.threads} threads)` : ''}`,
    );
    pending();
    return 0;
  }
  const p = report.problem!;
  // A problem of no one stream (a dropped table, the agent names) has no place to name.
  const at = p.stream ? ` at stream "${p.stream}" seq ${p.seq}${p.id ? ` id ${p.id}` : ''}` : '';
  io.out(`${c.red('✗')} audit trail BROKEN: ${p.kind}${at}`);
  io.out(`  ${p.message}`);
  pending();
  return 1;
}

/**
 * `audit export`: streams every matching event (or the first `--limit`) as JSON lines or CSV,
 * never all in memory.
 */
export async function auditExport(
  io: CliIo,
  flags: AuditQueryFlags & { format?: string; out?: string },
): Promise<number> {
  const format = flags.format ?? 'jsonl';
  if (format !== 'jsonl' && format !== 'csv')
    throw new UsageError(`--format: "${format}" is not jsonl or csv`);
  const filter = filterOf(flags);
  const limit = flags.limit ? parsePositiveInt('--limit', flags.limit, 1_000_000_000) : undefined;
  const store = openAuditForReading(flags);
  let out: Writable = process.stdout;
  if (flags.out) {
    const file = createWriteStream(flags.out);
    try {
      await once(file, 'open');
    } catch (error) {
      await store.close();
      throw new UsageError(
        `--out: cannot write "${flags.out}" (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
      );
    }
    out = file;
  }
  const count = process.stderr.isTTY ? await store.count(filter) : undefined;
  const total = count === undefined || limit === undefined ? count : Math.min(count, limit);
  const progress = total !== undefined ? progressBar(total) : undefined;
  const write = async (text: string) => {
    if (!out.write(text)) await once(out, 'drain');
  };
  let n = 0;
  try {
    if (format === 'csv') await write(`${csvHeader()}\n`);
    for await (const event of store.iterate(filter)) {
      await write(`${format === 'csv' ? csvRow(event) : JSON.stringify(event)}\n`);
      n++;
      if (progress && n % 1000 === 0) progress(n);
      // With --limit: the first n matching events, oldest first (leaving the loop ends the read).
      if (n === limit) break;
    }
    progress?.(n, true);
    if (flags.out) {
      out.end();
      await once(out, 'finish');
      io.err(`exported ${plural(n, 'event')} to ${flags.out}`);
    }
    return 0;
  } finally {
    await store.close();
  }
}

function progressBar(total: number): (done: number, final?: boolean) => void {
  return (done, final = false) => {
    const ratio = total === 0 ? 1 : Math.min(1, done / total);
    const filled = Math.round(ratio * 30);
    process.stderr.write(
      `\r[${'#'.repeat(filled)}${'.'.repeat(30 - filled)}] ${Math.round(ratio * 100)}% ${done}/${total}`,
    );
    if (final) process.stderr.write('\n');
  };
}

/** `audit stats [--since]`: counts by decision, action and agent. */
export async function auditStats(
  io: CliIo,
  flags: { db?: string; gateway?: string; since?: string; json?: boolean },
): Promise<number> {
  const filter: AuditFilter = flags.since ? { since: parseTimeFlag('--since', flags.since) } : {};
  const store = openAuditForReading(flags);
  try {
    const stats = await store.stats(filter);
    if (flags.json) {
      io.out(JSON.stringify(stats));
      return 0;
    }
    const c = paint(io);
    io.out(`${c.bold(plural(stats.total, 'event'))}${flags.since ? c.dim(` since ${filter.since}`) : ''}`);
    const section = (title: string, rows: Array<{ key: string; count: number }>) => {
      io.out('');
      io.out(c.bold(title));
      if (rows.length === 0) io.out('  (none)');
      const width = Math.max(...rows.map((r) => String(r.count).length), 1);
      for (const r of rows) io.out(`  ${String(r.count).padStart(width)}  ${r.key}`);
    };
    section('Decisions', stats.byEffect);
    section('Actions', stats.byAction);
    section('Agents', stats.byAgent);
    section('Event types', stats.byType);
    return 0;
  } finally {
    await store.close();
  }
}
