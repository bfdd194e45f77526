// Generates docs/audit-events.md from the JSON Schema core ships
// (`@meshguard/core/audit-event.schema.json`): one row per field with its type, whether it is
// required, and its limits, all read from the schema; descriptions come from the schema where it
// has them, else from FIELD_DESCRIPTIONS below, and a field without either stops the generator.
// The example event is built with core's own redactor and hash chain, and verified.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import {
  AuditEventSchema,
  chainEvents,
  createRedactor,
  DEFAULT_REDACTED_KEY_SEGMENTS,
  DEFAULT_REDACTED_KEYS,
  GENESIS_HASH,
  REDACTED_PREFIX,
  verifyEvents,
} from '@meshguard/core';
import { flattenFields, type JsonSchema, markdownTable } from './json-schema-fields';

export const AUDIT_EVENTS_DOC = 'docs/audit-events.md';

/** What each field means, for fields whose schema has no `description`. */
const FIELD_DESCRIPTIONS: Readonly<Record<string, string>> = {
  v: 'Schema version. A change that breaks readers of v1 gets a new number.',
  id: 'Unique id of the event, a UUIDv7 (sortable by creation time). An outcome sent with its own `id` keeps it, which makes sending it again harmless.',
  ts: 'When the event happened: an ISO 8601 date-time in UTC (`2026-01-05T10:00:00.000Z`).',
  type: '`decision` (a check and what was decided), `outcome` (what happened after it), `session` (run-level activity, e.g. a trace starting or ending), or a step of an approval request: `approval_requested`, `approval_granted`, `approval_rejected`, `approval_expired`, `approval_cancelled` (see [approvals.md](approvals.md)).',
  approvalId:
    'The approval request the event belongs to (`apr_...`): on `approval_*` events, and on the decision a `require_approval` opened or an approval let through.',
  traceId:
    "The run the event belongs to: the framework's own trace id where it has one (else `trace_<decisionId without dashes>`), so `meshguard audit trace <traceId>` shows the run. Outcomes take their decision's.",
  spanId: 'The span inside the run, where the framework has spans.',
  agent:
    'The acting agent. Behind the gateway this is the identity of the verified agent token, never what a request body claims.',
  'agent.id': 'Stable id of the agent.',
  'agent.name': 'Display name of the agent (what `appliesTo.agents` and handoff actions name).',
  'agent.tags': "The agent's tags (what `appliesTo.tags` matches).",
  'agent.tier':
    "The agent's trust tier, lowest first: `untrusted`, `basic`, `verified`, `trusted`, `privileged`.",
  delegation:
    'The agents the request came through, root first, when the agent acts on behalf of others (after a handoff).',
  'delegation[].id': 'As `agent.id`, for one agent of the chain.',
  'delegation[].name': 'As `agent.name`, for one agent of the chain.',
  'delegation[].tags': 'As `agent.tags`, for one agent of the chain.',
  'delegation[].tier': 'As `agent.tier`, for one agent of the chain.',
  framework:
    "The agent framework the event came from: `openai-agents`, `bedrock`, `vertex`... as the adapter or the request says; the guard's own `framework` option, else `custom`, when nothing does.",
  kind: 'What sort of action: a function `tool`, a `handoff`, a framework `builtin_tool` (web search, code execution...), a `guardrail`, a `session`, or `custom`.',
  action: 'The action, `verb:resource` (`write:refund`, `handoff:Billing Specialist`).',
  effect:
    "The decision's effect. Outcome events repeat the effect of their decision (when the writer no longer holds it: the effect sent with the outcome, else `deny` for `blocked` and `rejected`, `allow` otherwise).",
  reason:
    "Why: the deciding rule's reason, or what failed. Stored as it is (never redacted), so MeshGuard never puts a context value in it.",
  policy: 'The policy that decided, when one did (absent when nothing applied).',
  'policy.name': "The policy's `name`.",
  'policy.version': "The policy's `version`, so the event says which text of the policy decided.",
  rule: 'The rule that decided, when a rule did (absent for defaults and delegation limits).',
  'rule.id': "The rule's `id`, or its default `<policy name>#<index>`.",
  'rule.index': "The rule's position in its policy, from 0.",
  mode: '`enforce`, or `shadow` for what shadow policies would have decided (a second event with the same `decisionId`; it never changed what happened).',
  decisionId:
    'The decision this event is or belongs to: joins outcomes (and the shadow event) to their decision.',
  outcome:
    "For outcome events: the action ran (`success`, `error`), was stopped (`blocked`), a human answered an approval (`approved`, `rejected`), or MeshGuard could only watch it happen inside the framework's own service (`observed`: not gated).",
  durationMs: 'For outcome events: how long the action took, in milliseconds.',
  actor:
    'Who answered: on `approval_granted` and `approval_rejected` events the approver (`meshguard` for an expiry), on `approved` and `rejected` outcomes the person named.',
  error: 'For `error` outcomes: what failed.',
  source: 'The package that produced the event, with its version (each adapter stamps its own).',
  'source.name': 'Package name, e.g. `@meshguard/openai-agents`.',
  'source.version': 'Package version.',
  context: 'Tool arguments and metadata of the check, redacted (see [Redaction](#redaction)).',
  stream:
    'The writer stream the event is chained in (each writer, e.g. each gateway replica, keeps its own).',
  seq: 'Position of the event in its stream: 1 for the first event, then each next one adds 1.',
  prevHash: 'The `hash` of the previous event of the stream; 64 zeros for the first one.',
  hash: '`sha256(prevHash + canonicalJson(event without hash))`, 64 lowercase hex digits.',
};

/** The JSON Schema as the published package ships it. */
function readAuditEventJsonSchema(): JsonSchema & { title?: string; $id?: string } {
  const require = createRequire(import.meta.url);
  const file = require.resolve('@meshguard/core/audit-event.schema.json');
  return JSON.parse(readFileSync(file, 'utf8')) as JsonSchema;
}

/** The Markdown of docs/audit-events.md. */
export function renderAuditEventsDoc(schema = readAuditEventJsonSchema()): string {
  const rows = flattenFields(schema);
  const missing = rows.filter((r) => !r.description && !FIELD_DESCRIPTIONS[r.path]).map((r) => r.path);
  if (missing.length > 0) {
    throw new Error(
      `no description for audit event field(s) ${missing.join(', ')}: add one to the zod schema (.describe) or to FIELD_DESCRIPTIONS in tests/release/src/audit-events-doc.ts`,
    );
  }
  const known = new Set(rows.map((r) => r.path));
  const stale = Object.keys(FIELD_DESCRIPTIONS).filter((path) => !known.has(path));
  if (stale.length > 0) {
    throw new Error(
      `FIELD_DESCRIPTIONS in tests/release/src/audit-events-doc.ts describes field(s) the schema no longer has: ${stale.join(', ')}`,
    );
  }
  const table = markdownTable(
    ['field', 'type', 'required', 'constraints', 'description'],
    rows.map((r) => [
      `\`${r.path}\``,
      r.type,
      r.required ? 'yes' : 'no',
      r.constraints.join('; '),
      r.description ?? FIELD_DESCRIPTIONS[r.path]!,
    ]),
  );
  const title = schema.title ?? 'AuditEvent';
  return `${[
    '# Audit event reference',
    '',
    '<!-- Generated by tests/release/src/audit-events-doc.ts from packages/core/audit-event.schema.json: do not edit by hand; run `pnpm docs:generate`. -->',
    '',
    'Every decision MeshGuard makes and every outcome an adapter reports is one audit event, the',
    `same for every framework: ${title}. This page lists every field. How the trail is stored, queried and`,
    'verified is in [audit.md](audit.md); the gateway serves events at `GET /v1/audit`',
    '([gateway-api.md](gateway-api.md)).',
    '',
    'The schema has two forms, kept in step by a test:',
    '',
    '- zod, in TypeScript: `AuditEventSchema` (and the `AuditEvent` type) from `@meshguard/core`;',
    '- JSON Schema (draft 2020-12), for any other language: `@meshguard/core/audit-event.schema.json`',
    `  (\`$id\` \`${schema.$id ?? ''}\`).`,
    '',
    schema.additionalProperties === false
      ? 'An event has no keys besides these (`additionalProperties: false`).'
      : 'An event may carry keys besides these.',
    '"Required" inside a nested object (`agent.tier`) means required when that object is present.',
    '',
    '## Fields',
    '',
    table,
    '',
    '## Which fields each event type carries',
    '',
    '- **`decision`**: written by every `check`, whatever the effect: the agent, `action`, `effect`,',
    '  `reason`, `policy` and `rule` when one decided, `mode`, and the (redacted) `context`. The',
    '  event has its own `id`; `decisionId` is the id the caller got in the decision. When shadow',
    '  policies apply, a second decision event with `mode: shadow` and the same `decisionId`',
    '  records what they would have decided.',
    '- **`outcome`**: what happened after the decision, joined by `decisionId`: `outcome`, and',
    "  where known `durationMs`, `error`, `actor`. Agent, action and trace are the decision's.",
    "  Activity MeshGuard could only watch (a hosted tool that ran inside the framework's own",
    '  service) is an `outcome` with `outcome: observed` and its own `decisionId`.',
    "- **`session`**: run-level activity, such as the framework's traces mirrored into the trail.",
    '',
    '## The chain fields',
    '',
    'A store does not just keep events: each writer appends them to its own hash chain, its',
    '**stream**, so any later change shows.',
    '',
    "- `stream` names the chain; `seq` is the event's position in it (1, 2, 3... with no gap).",
    "- `prevHash` is the previous event's `hash` (64 zeros for `seq` 1).",
    '- `hash` is `sha256(prevHash + canonicalJson(event without hash))` in lowercase hex, where',
    '  canonical JSON sorts object keys and prints numbers as ECMAScript does (RFC 8785 for these',
    '  values). Core exports it as `hashEvent`; `canonicalJson` and `verifyEvents` are exported too.',
    '',
    'Editing any field of an event changes its hash; removing or reordering events breaks the',
    "`prevHash` links; the store keeps each stream's head, so cutting events off the end shows too.",
    '`meshguard audit verify` (or `GET /v1/audit/verify`) checks every stream and names the first',
    'broken event. The chain shows changes made after the fact; it does not stop someone with write',
    'access to the database from rewriting a stream and every hash after a point: keep the stream',
    'heads (`meshguard audit verify --json`) somewhere else if that matters. More in',
    '[audit.md](audit.md#the-hash-chain).',
    '',
    '## Redaction',
    '',
    'Only `context` is redacted, before the event is hashed and stored. A key, at any depth, is',
    'sensitive when, lower-cased and stripped of everything but letters and digits, it contains one',
    'of these words (stripped the same way):',
    '',
    DEFAULT_REDACTED_KEYS.map((k) => `\`${k}\``).join(', '),
    '',
    'or has one of these as a whole segment (split at separators and camelCase humps, so `db_pass`',
    'and `sessionId` are sensitive but `passenger_count` is not):',
    '',
    DEFAULT_REDACTED_KEY_SEGMENTS.map((k) => `\`${k}\``).join(', '),
    '',
    `The value of a sensitive key (whatever its type, objects included) becomes`,
    `\`${REDACTED_PREFIX}<32 hex digits>\`: an HMAC-SHA256 of its canonical JSON under a salt the`,
    'store keeps (never in code), cut to 32 hex digits. The same value always gives the',
    'same hash, so events can still be joined on it, but the value cannot be read back. The lists',
    'are configurable (`redactKeys`); matching errs on the safe side (`max_tokens` is redacted, as it',
    'contains `token`).',
    '',
    'In every other string of `context`, under any key and at any depth (arrays included), secrets',
    'recognized by their form are replaced by the same hash of the matched text, the rest of the',
    'string kept: card numbers (13 to 19 digits, spaces or dashes allowed, Luhn-checked), AWS access',
    'key ids (`AKIA...`, `ASIA...`), JWTs, and the token after `Bearer `.',
    '',
    'Nothing else is redacted: `reason` is stored as it is, so MeshGuard never puts a context value',
    'in a reason that redaction would hide (a failed `context` condition names the condition, not',
    'the value; an amount is quoted only when it is a harmless scalar), and action names, agent',
    'names and tags should not hold personal data.',
    '',
    '## Example',
    '',
    "A decision event as a store returns it (built and verified with core's own redactor and hash",
    'chain when this page is generated):',
    '',
    '```json',
    prettyJson(exampleEvent()),
    '```',
  ].join('\n')}\n`;
}

/** A real decision event: redacted and chained by core, then verified. */
function exampleEvent() {
  const redact = createRedactor({ salt: 'example-salt-kept-in-the-store' });
  const body = AuditEventSchema.omit({ stream: true, seq: true, prevHash: true, hash: true }).parse({
    v: 1,
    id: '019b8c6e-5a40-7000-8000-000000000001',
    ts: '2026-01-05T10:00:00.000Z',
    type: 'decision',
    traceId: 'trace_6f1c2a',
    agent: {
      id: 'agent_support',
      name: 'Customer Support Agent',
      tags: ['openai', 'support'],
      tier: 'verified',
    },
    framework: 'openai-agents',
    kind: 'tool',
    action: 'write:refund',
    effect: 'deny',
    reason: 'Refunds over $100 require manager approval (rule openai-support-agent-policy#4)',
    policy: { name: 'openai-support-agent-policy', version: '1.0' },
    rule: { id: 'openai-support-agent-policy#4', index: 4 },
    mode: 'enforce',
    decisionId: '019b8c6e-5a40-7000-8000-0000000000aa',
    source: { name: '@meshguard/openai-agents', version: '0.1.0' },
    context: redact({ order_id: 'ord_1234', amount: 150, customer_email: 'jane@example.com' }),
  });
  const { events } = chainEvents({ stream: 'main', seq: 0, hash: GENESIS_HASH }, [body]);
  const report = verifyEvents(events);
  if (!report.ok) throw new Error(`the example audit event does not verify: ${JSON.stringify(report)}`);
  return AuditEventSchema.parse(events[0]);
}

/** JSON as Biome formats it in a Markdown code block: objects expanded, short arrays of scalars on one line. */
function prettyJson(value: unknown, indent = ''): string {
  const inner = `${indent}  `;
  if (Array.isArray(value)) {
    const flat = `[${value.map((v) => JSON.stringify(v)).join(', ')}]`;
    if (value.every((v) => v === null || typeof v !== 'object') && indent.length + flat.length < 80)
      return flat;
    return `[\n${value.map((v) => `${inner}${prettyJson(v, inner)}`).join(',\n')}\n${indent}]`;
  }
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value);
    if (entries.length === 0) return '{}';
    return `{\n${entries.map(([k, v]) => `${inner}${JSON.stringify(k)}: ${prettyJson(v, inner)}`).join(',\n')}\n${indent}}`;
  }
  return JSON.stringify(value);
}
