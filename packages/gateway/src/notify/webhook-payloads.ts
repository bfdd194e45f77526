import type { AgentIdentity, ApprovalRequest, AuditEventBody, Redactor } from '@meshguard/core';
import { redactBody } from '@meshguard/core/internal';
import type { WebhookFormat } from './webhook-channels';

/** How long an argument summary may be, in characters, unless told otherwise. */
const DEFAULT_SUMMARY_MAX_CHARS = 1000;
const REASON_MAX_CHARS = 1000;

/** What every payload is built with. */
export interface PayloadOptions {
  /** Redacts the arguments and hides secrets in the reason before anything leaves the gateway. */
  redact: Redactor;
  /** The console's base URL, for links (`${consoleUrl}/approvals/${id}`); no links without it. */
  consoleUrl?: string | undefined;
  /** The longest argument summary, in characters; default {@link DEFAULT_SUMMARY_MAX_CHARS}. */
  summaryMaxChars?: number | undefined;
}

/** Where a person answers or looks, in the console. */
interface NotificationLinks {
  console?: string;
  approve?: string;
  reject?: string;
}

interface AgentSummary {
  id: string;
  name: string;
  tags: string[];
  tier: string;
}

/** The Standard Webhooks payload of an approval request (`type: 'approval.requested'`). */
export interface ApprovalRequestedPayload {
  type: 'approval.requested';
  /** When the request was opened. */
  timestamp: string;
  data: {
    id: string;
    decisionId: string;
    traceId: string;
    action: string;
    kind?: string;
    framework?: string;
    agent: AgentSummary;
    reason: string;
    requestedAt: string;
    expiresAt: string;
    /** Who may answer (empty: any approver). */
    approvers: string[];
    policy?: { name: string; version: string };
    rule?: { id: string; index: number };
    /** The arguments, redacted (secret- and personal-looking keys hashed) and cut to size; never raw. */
    argumentsSummary: string;
    links: NotificationLinks;
  };
}

/** The Standard Webhooks payload of a denied call (`type: 'decision.denied'`). */
export interface DecisionDeniedPayload {
  type: 'decision.denied';
  timestamp: string;
  data: {
    id: string;
    decisionId: string;
    traceId: string;
    action: string;
    kind: string;
    framework: string;
    agent: AgentSummary;
    reason: string;
    mode: string;
    policy?: { name: string; version: string };
    rule?: { id: string; index: number };
    argumentsSummary: string;
    links: NotificationLinks;
  };
}

/** A Slack incoming-webhook payload: `text` is the fallback (notifications), `blocks` the message. */
export interface SlackPayload {
  text: string;
  blocks: Array<Record<string, unknown>>;
}

/**
 * The body of an approval request's notification in a channel's format, as sent (JSON). The
 * arguments go through the redactor and are cut to size; the reason has its secrets hidden.
 *
 * @example
 * const body = approvalRequestedBody(approval, 'slack', { redact, consoleUrl: 'https://console.example.com' });
 */
export function approvalRequestedBody(
  approval: ApprovalRequest,
  format: WebhookFormat,
  options: PayloadOptions,
): string {
  const { summary, reason } = summarize(approval.arguments, approval.reason, options);
  const base = consoleBase(options.consoleUrl);
  const links: NotificationLinks = {};
  if (base) {
    const page = `${base}/approvals/${encodeURIComponent(approval.id)}`;
    links.console = page;
    links.approve = `${page}?answer=approve`;
    links.reject = `${page}?answer=reject`;
  }
  if (format === 'slack') return JSON.stringify(approvalSlack(approval, reason, summary, links));
  const payload: ApprovalRequestedPayload = {
    type: 'approval.requested',
    timestamp: approval.requestedAt,
    data: {
      id: approval.id,
      decisionId: approval.decisionId,
      traceId: approval.traceId,
      action: approval.action,
      ...(approval.kind ? { kind: approval.kind } : {}),
      ...(approval.framework ? { framework: approval.framework } : {}),
      agent: agentSummary(approval.agent),
      reason,
      requestedAt: approval.requestedAt,
      expiresAt: approval.expiresAt,
      approvers: approval.approvers,
      ...(approval.policy
        ? { policy: { name: approval.policy.name, version: approval.policy.version } }
        : {}),
      ...(approval.rule ? { rule: { id: approval.rule.id, index: approval.rule.index } } : {}),
      argumentsSummary: summary,
      links,
    },
  };
  return JSON.stringify(payload);
}

/**
 * The body of a denied call's notification in a channel's format (JSON). The event's context is
 * redacted in the trail already; it goes through the redactor again all the same.
 */
export function decisionDeniedBody(
  event: AuditEventBody,
  format: WebhookFormat,
  options: PayloadOptions,
): string {
  const { summary, reason } = summarize(event.context, event.reason ?? '', options);
  const base = consoleBase(options.consoleUrl);
  const links: NotificationLinks = base ? { console: `${base}/audit/${encodeURIComponent(event.id)}` } : {};
  if (format === 'slack') return JSON.stringify(deniedSlack(event, reason, summary, links));
  const payload: DecisionDeniedPayload = {
    type: 'decision.denied',
    timestamp: event.ts,
    data: {
      id: event.id,
      decisionId: event.decisionId,
      traceId: event.traceId,
      action: event.action,
      kind: event.kind,
      framework: event.framework,
      agent: agentSummary(event.agent),
      reason,
      mode: event.mode,
      ...(event.policy ? { policy: { name: event.policy.name, version: event.policy.version } } : {}),
      ...(event.rule ? { rule: { id: event.rule.id, index: event.rule.index } } : {}),
      argumentsSummary: summary,
      links,
    },
  };
  return JSON.stringify(payload);
}

/**
 * The arguments as a person may see them outside the gateway: redacted (secret- and
 * personal-looking keys replaced by salted hashes, secrets found by form hidden in every
 * string), as compact JSON, cut to `maxChars`.
 */
export function summarizeArguments(
  args: Record<string, unknown> | undefined,
  redact: Redactor,
  maxChars: number = DEFAULT_SUMMARY_MAX_CHARS,
): string {
  return truncate(JSON.stringify(redact(args ?? {})) ?? '{}', maxChars);
}

function summarize(
  args: Record<string, unknown> | undefined,
  rawReason: string,
  options: PayloadOptions,
): { summary: string; reason: string } {
  const hidden = redactBody({ context: args ?? {}, reason: rawReason }, options.redact);
  const max = options.summaryMaxChars ?? DEFAULT_SUMMARY_MAX_CHARS;
  return {
    summary: truncate(JSON.stringify(hidden.context) ?? '{}', max),
    reason: truncate(hidden.reason ?? '', REASON_MAX_CHARS),
  };
}

function agentSummary(agent: AgentIdentity): AgentSummary {
  return { id: agent.id, name: agent.name, tags: agent.tags, tier: agent.tier };
}

function consoleBase(consoleUrl: string | undefined): string | undefined {
  return consoleUrl ? consoleUrl.replace(/\/+$/, '') : undefined;
}

/** Cuts `text` to `max` characters, an ellipsis last, never inside a surrogate pair. */
export function truncate(text: string, max: number): string {
  if (text.length <= max) return text;
  let end = Math.max(0, max - 1);
  const last = text.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end -= 1;
  return `${text.slice(0, end)}…`;
}

// --- Slack ---------------------------------------------------------------------------------

/** Slack's limits: a section's text 3000 characters, a field 2000, a button's label 75. */
const SLACK_TEXT_MAX = 3000;
const SLACK_FIELD_MAX = 2000;
const SLACK_FALLBACK_MAX = 300;

/** Escapes Slack's control characters, so agent-supplied text cannot mention `@channel` or forge links. */
function esc(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Cuts escaped mrkdwn to `max`, dropping a half-cut `&amp;` at the end. */
function cut(mrkdwn: string, max: number): string {
  if (mrkdwn.length <= max) return mrkdwn;
  return truncate(mrkdwn, max).replace(/&[a-z]{0,4}…$/, '…');
}

/** Code-formatted text: backticks would end the code span, so they become quotes. */
function code(text: string): string {
  return `\`${esc(text.replace(/`/g, "'"))}\``;
}

function codeBlock(text: string): string {
  return `\`\`\`${esc(text.replace(/`/g, "'"))}\`\`\``;
}

function field(label: string, value: string): Record<string, unknown> {
  return { type: 'mrkdwn', text: cut(`*${label}*\n${value}`, SLACK_FIELD_MAX) };
}

function agentLine(agent: AgentIdentity): string {
  return `${esc(agent.name)} (${code(agent.id)})`;
}

/** A date Slack shows in the reader's own time zone, the ISO text as the fallback. */
function slackDate(iso: string): string {
  const seconds = Math.floor(Date.parse(iso) / 1000);
  if (!Number.isFinite(seconds)) return esc(iso);
  return `<!date^${seconds}^{date_short_pretty} {time}|${esc(iso)}>`;
}

function button(text: string, url: string, style?: 'primary' | 'danger'): Record<string, unknown> {
  return {
    type: 'button',
    text: { type: 'plain_text', text },
    url,
    ...(style ? { style } : {}),
    action_id: `meshguard_${text.toLowerCase().replace(/\s+/g, '_')}`,
  };
}

function approvalSlack(
  approval: ApprovalRequest,
  reason: string,
  summary: string,
  links: NotificationLinks,
): SlackPayload {
  const text = cut(
    esc(`Approval requested: ${approval.action} by ${approval.agent.name}${reason ? ` (${reason})` : ''}`),
    SLACK_FALLBACK_MAX,
  );
  const body = cut(
    `:raised_hand: *Approval requested*\n${esc(reason || 'No reason given.')}\n*Arguments* (redacted)\n${codeBlock(summary)}`,
    SLACK_TEXT_MAX,
  );
  const blocks: Array<Record<string, unknown>> = [
    {
      type: 'section',
      text: { type: 'mrkdwn', text: body },
      fields: [
        field('Action', code(approval.action)),
        field('Agent', agentLine(approval.agent)),
        field('Expires', slackDate(approval.expiresAt)),
        field('Approvers', approval.approvers.length ? esc(approval.approvers.join(', ')) : 'any approver'),
      ],
    },
  ];
  if (links.approve && links.reject && links.console) {
    blocks.push({
      type: 'actions',
      elements: [
        button('Approve', links.approve, 'primary'),
        button('Reject', links.reject, 'danger'),
        button('Open in console', links.console),
      ],
    });
  }
  blocks.push({
    type: 'context',
    elements: [
      {
        type: 'mrkdwn',
        text: cut(`Approval ${code(approval.id)} · trace ${code(approval.traceId)}`, SLACK_FIELD_MAX),
      },
    ],
  });
  return { text, blocks };
}

function deniedSlack(
  event: AuditEventBody,
  reason: string,
  summary: string,
  links: NotificationLinks,
): SlackPayload {
  const text = cut(
    esc(`Denied: ${event.action} by ${event.agent.name}${reason ? ` (${reason})` : ''}`),
    SLACK_FALLBACK_MAX,
  );
  const body = cut(
    `:no_entry: *Denied*${event.mode === 'shadow' ? ' (shadow mode: not enforced)' : ''}\n${esc(reason || 'No reason given.')}\n*Arguments* (redacted)\n${codeBlock(summary)}`,
    SLACK_TEXT_MAX,
  );
  const fields = [field('Action', code(event.action)), field('Agent', agentLine(event.agent))];
  if (event.policy) {
    const rule = event.rule ? ` rule ${code(event.rule.id || String(event.rule.index))}` : '';
    fields.push(field('Policy', `${code(event.policy.name)}${rule}`));
  }
  fields.push(field('When', slackDate(event.ts)));
  const blocks: Array<Record<string, unknown>> = [
    { type: 'section', text: { type: 'mrkdwn', text: body }, fields },
  ];
  if (links.console) blocks.push({ type: 'actions', elements: [button('Open in console', links.console)] });
  blocks.push({
    type: 'context',
    elements: [
      {
        type: 'mrkdwn',
        text: cut(`Decision ${code(event.decisionId)} · trace ${code(event.traceId)}`, SLACK_FIELD_MAX),
      },
    ],
  });
  return { text, blocks };
}
