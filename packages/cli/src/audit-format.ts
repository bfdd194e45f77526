import type { AuditEvent } from '@meshguard/core';
import { CLIENT_GAVE_UP } from '@meshguard/core/internal';
import { type paint, plural } from './cli-output';
import { columnWidths, fitTo, padTo } from './text-columns';

type Paint = ReturnType<typeof paint>;

/**
 * Text from the trail as one safe line: control characters (line breaks, escape sequences) are
 * shown escaped, so a recorded value cannot forge rows or recolour the terminal.
 */
function clean(text: string): string {
  return text.replace(CONTROL, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

// C0 and C1 control characters, DEL, and the two Unicode line separators (built from code
// points: the pattern is about control characters, so it must name them).
const CONTROL = new RegExp(
  `[${String.fromCharCode(0)}-${String.fromCharCode(0x1f)}${String.fromCharCode(0x7f)}-${String.fromCharCode(0x9f)}\u2028\u2029]`,
  'g',
);

/** What the "decision" column shows: the effect of a decision, the outcome of an outcome. */
function verdict(event: AuditEvent): string {
  if (event.type === 'decision') return event.mode === 'shadow' ? `shadow:${event.effect}` : event.effect;
  return event.outcome ?? event.type;
}

function colorVerdict(c: Paint, event: AuditEvent): string {
  const text = verdict(event);
  if (event.type !== 'decision')
    return event.outcome === 'error' || event.outcome === 'blocked' || event.outcome === 'rejected'
      ? c.red(text)
      : c.dim(text);
  if (event.mode === 'shadow') return c.dim(text);
  return c.effect(event.effect);
}

/** A readable table: time, agent, framework, action, decision, reason. */
export function formatTable(events: readonly AuditEvent[], c: Paint): string[] {
  const rows = events.map((e) => ({
    time: clean(e.ts.replace('T', ' ').replace(/\.\d+Z$/, 'Z')),
    agent: clean(e.agent.name),
    framework: clean(e.framework),
    action: clean(e.action),
    verdict: verdict(e),
    colored: colorVerdict(c, e),
    reason: clean(
      e.type === 'decision'
        ? (e.reason ?? '')
        : [
            e.durationMs !== undefined ? `${e.durationMs}ms` : '',
            e.actor ? `by ${e.actor}` : '',
            e.error ?? '',
          ]
            .filter(Boolean)
            .join(' '),
    ),
  }));
  // Widths in terminal columns, so a CJK or emoji name lines up; the reason runs on unpadded.
  const titles = ['TIME', 'AGENT', 'FRAMEWORK', 'ACTION', 'DECISION'];
  const w = columnWidths(
    titles,
    rows.map((r) => [r.time, r.agent, r.framework, r.action, r.verdict]),
    48,
  );
  const lines = [c.bold(`${titles.map((t, i) => padTo(t, w[i]!)).join('  ')}  REASON`)];
  for (const r of rows) {
    // The coloured verdict is padded, not cut: colour codes take no columns, and verdicts are short.
    lines.push(
      `${[r.time, r.agent, r.framework, r.action].map((cell, i) => fitTo(cell, w[i]!)).join('  ')}  ${padTo(r.colored, w[4]!)}  ${r.reason}`,
    );
  }
  return lines;
}

/**
 * A run as a timeline tree: each decision with its outcomes and durations beneath it; what an
 * agent does after a handoff nests under the handoff (by the length of its delegation chain);
 * denials are marked with their reason.
 */
export function formatTrace(recorded: readonly AuditEvent[], c: Paint): string[] {
  const events = recorded.map(cleanEvent);
  const lines: string[] = [];
  const outcomes = new Map<string, AuditEvent[]>();
  for (const e of events) {
    if (e.type === 'outcome') {
      const list = outcomes.get(e.decisionId) ?? [];
      list.push(e);
      outcomes.set(e.decisionId, list);
    }
  }
  const decided = new Set(events.filter((e) => e.type === 'decision').map((e) => e.decisionId));
  const start = events[0] ? Date.parse(events[0].ts) : 0;
  for (const e of events) {
    const depth = e.delegation?.length ?? 0;
    const indent = '  '.repeat(depth + 1);
    const offset = c.dim(formatOffset(Date.parse(e.ts) - start));
    if (e.type === 'decision') {
      if (e.mode === 'shadow') {
        lines.push(`${indent}  ${c.dim(`shadow: would ${e.effect}: ${e.reason ?? ''}`)}`);
        continue;
      }
      const mark = e.effect === 'allow' ? c.green('✓') : e.effect === 'deny' ? c.red('✗') : c.yellow('?');
      const results = (outcomes.get(e.decisionId) ?? [])
        .map(
          (o) =>
            `${o.outcome}${o.durationMs !== undefined ? ` ${o.durationMs}ms` : ''}${o.actor ? ` by ${o.actor}` : ''}`,
        )
        .join(', ');
      lines.push(
        `${offset} ${indent}${mark} ${c.bold(e.action)} ${c.dim(`[${e.agent.name}, ${e.framework}]`)} ${c.effect(e.effect)}${results ? ` → ${results}` : ''}`,
      );
      if (e.effect !== 'allow') lines.push(`${BLANK}${indent}  ${c.dim('reason:')} ${e.reason ?? ''}`);
      else if (gaveUpOn(outcomes.get(e.decisionId)))
        lines.push(
          `${BLANK}${indent}  ${c.yellow('allowed by the gateway, not executed: the client gave up')}`,
        );
      if (e.kind === 'handoff' && e.effect === 'allow') {
        lines.push(
          `${BLANK}${indent}  ${c.dim(`↳ ${e.action.slice(e.action.indexOf(':') + 1)} takes over`)}`,
        );
      }
    } else if (e.type === 'outcome' && !decided.has(e.decisionId) && e.outcome === 'blocked') {
      // Denied before any decision was recorded: by the client (the gateway unreachable, say).
      lines.push(
        `${offset} ${indent}${c.red('✗')} ${c.bold(e.action)} ${c.dim(`[${e.agent.name}, ${e.framework}]`)} ${c.effect('deny')} ${c.dim('(denied by the client)')}`,
      );
      lines.push(`${BLANK}${indent}  ${c.dim('reason:')} ${e.reason ?? e.error ?? ''}`);
    } else if (e.type === 'outcome' && !decided.has(e.decisionId)) {
      // An outcome with no decision in this trace: observed activity (not gated), or a late report.
      lines.push(
        `${offset} ${indent}${c.dim('•')} ${e.action} ${c.dim(`[${e.agent.name}, ${e.framework}]`)} ${e.outcome}${e.durationMs !== undefined ? ` ${e.durationMs}ms` : ''}${e.outcome === 'observed' ? c.dim(' (observed, not gated)') : ''}`,
      );
    } else if (e.type === 'session') {
      lines.push(
        `${offset} ${indent}${c.dim('○')} ${e.action} ${c.dim(`[${e.agent.name}]`)} ${e.outcome ?? ''}`,
      );
    }
  }
  return lines;
}

const BLANK = ' '.repeat(12);

/** Whether a decision's outcomes say the client gave up waiting for it (so it did not run). */
function gaveUpOn(outcomes: readonly AuditEvent[] | undefined): boolean {
  return (outcomes ?? []).some((o) => o.outcome === 'blocked' && o.error === CLIENT_GAVE_UP);
}

/**
 * The last line of a trace: how many decisions, and how many were not allowed to run. A check
 * denied by the client (no decision recorded: the gateway was unreachable) counts as a decision
 * not allowed, and so does one the gateway allowed after the client had given up on it.
 */
export function traceSummary(events: readonly AuditEvent[]): string {
  const enforced = events.filter((e) => e.type === 'decision' && e.mode === 'enforce');
  const decided = new Set(enforced.map((e) => e.decisionId));
  const blocked = events.filter((e) => e.type === 'outcome' && e.outcome === 'blocked');
  const byClient = new Set(blocked.filter((e) => !decided.has(e.decisionId)).map((e) => e.decisionId));
  const gaveUp = new Set(blocked.filter((e) => e.error === CLIENT_GAVE_UP).map((e) => e.decisionId));
  const allowedGivenUp = enforced.filter((e) => e.effect === 'allow' && gaveUp.has(e.decisionId)).length;
  const denied = enforced.filter((e) => e.effect !== 'allow').length;
  const notes = [
    byClient.size > 0 ? `${byClient.size} denied by the client` : '',
    allowedGivenUp > 0 ? `${allowedGivenUp} allowed by the gateway, not executed: the client gave up` : '',
  ].filter(Boolean);
  return `${plural(enforced.length + byClient.size, 'decision')}, ${denied + byClient.size + allowedGivenUp} not allowed${notes.length > 0 ? ` (${notes.join('; ')})` : ''}`;
}

function cleanEvent(e: AuditEvent): AuditEvent {
  const out: AuditEvent = {
    ...e,
    action: clean(e.action),
    framework: clean(e.framework),
    agent: { ...e.agent, name: clean(e.agent.name) },
  };
  if (e.reason !== undefined) out.reason = clean(e.reason);
  if (e.actor !== undefined) out.actor = clean(e.actor);
  if (e.error !== undefined) out.error = clean(e.error);
  return out;
}

/** `+1.250s`, `+2m05.000s`, `+1h02m05s`: time since the first event, 11 characters wide. */
function formatOffset(ms: number): string {
  const s = ms / 1000;
  let text: string;
  if (s < 60) text = `+${s.toFixed(3)}s`;
  else if (s < 3600) text = `+${Math.floor(s / 60)}m${(s % 60).toFixed(3).padStart(6, '0')}s`;
  else
    text = `+${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m${String(Math.floor(s % 60)).padStart(2, '0')}s`;
  return text.padEnd(11);
}

const CSV_COLUMNS = [
  'id',
  'ts',
  'type',
  'traceId',
  'spanId',
  'agentId',
  'agentName',
  'agentTier',
  'framework',
  'kind',
  'action',
  'effect',
  'mode',
  'outcome',
  'durationMs',
  'reason',
  'policy',
  'rule',
  'decisionId',
  'actor',
  'error',
  'stream',
  'seq',
  'hash',
] as const;

export function csvHeader(): string {
  return CSV_COLUMNS.join(',');
}

/** One CSV row (RFC 4180 quoting: a field with a comma, quote or line break is quoted). */
export function csvRow(e: AuditEvent): string {
  const values: Record<(typeof CSV_COLUMNS)[number], unknown> = {
    id: e.id,
    ts: e.ts,
    type: e.type,
    traceId: e.traceId,
    spanId: e.spanId,
    agentId: e.agent.id,
    agentName: e.agent.name,
    agentTier: e.agent.tier,
    framework: e.framework,
    kind: e.kind,
    action: e.action,
    effect: e.effect,
    mode: e.mode,
    outcome: e.outcome,
    durationMs: e.durationMs,
    reason: e.reason,
    policy: e.policy ? `${e.policy.name}@${e.policy.version}` : undefined,
    rule: e.rule?.id,
    decisionId: e.decisionId,
    actor: e.actor,
    error: e.error,
    stream: e.stream,
    seq: e.seq,
    hash: e.hash,
  };
  return CSV_COLUMNS.map((k) => {
    const v = values[k];
    if (v === undefined || v === null) return '';
    const s = String(v);
    return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
  }).join(',');
}
