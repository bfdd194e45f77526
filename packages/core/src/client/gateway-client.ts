import { z } from 'zod';
import { GatewayError } from '../errors/meshguard-error';
import { parseGatewayUrl } from '../guard/remote-url';
import type { ApprovalListQuery } from '../protocol/approval';
import type { AuditEvent } from '../protocol/audit-event';
import type { AuditFilter } from '../protocol/audit-filter';
import {
  AgentListReplySchema,
  type CreateAgentBodySchema,
  CreateAgentReplySchema,
  PolicySetReplySchema,
  type PutPoliciesBodySchema,
} from '../protocol/gateway-admin-wire';
import {
  type BatchCheckBodySchema,
  BatchCheckReplySchema,
  DecisionReplySchema,
  type DelegatingCheckBodySchema,
  HandoffTokenSchema,
  type JudgeBodySchema,
  JudgeReplySchema,
  type OutcomeBodySchema,
  OutcomeReplySchema,
  type ReachableBodySchema,
  ReachableReplySchema,
} from '../protocol/gateway-agent-wire';
import {
  AgentApprovalReplySchema,
  ApprovalPageReplySchema,
  ApprovalReplySchema,
  ApproverListReplySchema,
  type CreateApproverBodySchema,
  CreateApproverReplySchema,
} from '../protocol/gateway-approval-wire';
import {
  AuditPageSchema,
  StatsReplySchema,
  TailReplySchema,
  VerifyReplySchema,
} from '../protocol/gateway-audit-wire';
import { ErrorReplySchema } from '../protocol/gateway-error-wire';
import { createGatewayHttp, DEFAULT_MAX_RESPONSE_BYTES } from './gateway-http';

export interface GatewayClientOptions {
  /** The gateway's base URL, e.g. `http://127.0.0.1:8787` (http(s), no user name or password). */
  url: string;
  /** The bearer token of every call (an agent token, or the admin token); a call may pass its own. */
  token?: string | undefined;
  /** How long a call may take, reading the answer included (default 10000 ms). */
  timeoutMs?: number | undefined;
  /** The largest answer read, in bytes (default 1 MiB); `Infinity` reads any. */
  maxResponseBytes?: number | undefined;
  /** The fetch to use (default: the global one). */
  fetch?: typeof globalThis.fetch | undefined;
}

export interface GatewayCallOptions {
  /** The bearer token of this call, instead of the client's. */
  token?: string | undefined;
  /** The largest answer of this call, in bytes, instead of the client's cap. */
  maxBytes?: number | undefined;
  /** Ends the call (a `gateway_aborted` GatewayError). */
  signal?: AbortSignal | undefined;
  /** How long this call may take, instead of the client's `timeoutMs` (a long poll). */
  timeoutMs?: number | undefined;
}

type Input<Schema extends z.ZodType> = z.input<Schema>;
type Reply<Schema extends z.ZodType> = Promise<z.output<Schema>>;
/** A page of events, each as the gateway sent it (see `eventPage`). */
type EventPage<Schema extends z.ZodType> = Promise<z.output<Schema> & { events: AuditEvent[] }>;

/**
 * The check route's reply as a client reads it: a handoff token it cannot read is dropped, not
 * the decision (the decision is the caller's; the token is only for the handoff's target).
 */
const CheckReplySchema = DecisionReplySchema.extend({
  handoffToken: HandoffTokenSchema.optional().catch(undefined),
});

/** What a 204 carries. */
const NoContentSchema = z.undefined();

/** A client of one gateway: each route's reply parsed with the schema the gateway documents it with. */
export interface GatewayClient {
  /** The base URL with any credentials in it hidden: the only form a message quotes. */
  readonly url: string;
  check(
    body: Input<typeof DelegatingCheckBodySchema>,
    options?: GatewayCallOptions,
  ): Reply<typeof CheckReplySchema>;
  checkBatch(
    body: Input<typeof BatchCheckBodySchema>,
    options?: GatewayCallOptions,
  ): Reply<typeof BatchCheckReplySchema>;
  reachable(
    body: Input<typeof ReachableBodySchema>,
    options?: GatewayCallOptions,
  ): Reply<typeof ReachableReplySchema>;
  judge(body: Input<typeof JudgeBodySchema>, options?: GatewayCallOptions): Reply<typeof JudgeReplySchema>;
  recordOutcomes(
    body: Input<typeof OutcomeBodySchema>,
    options?: GatewayCallOptions,
  ): Reply<typeof OutcomeReplySchema>;
  queryAudit(filter: AuditFilter, options?: GatewayCallOptions): EventPage<typeof AuditPageSchema>;
  /** The latest `lines` events, or those recorded `after` a cursor. */
  tailAudit(
    query: { lines?: number | undefined; after?: string | undefined },
    options?: GatewayCallOptions,
  ): EventPage<typeof TailReplySchema>;
  auditStats(
    query: { since?: string | undefined; until?: string | undefined },
    options?: GatewayCallOptions,
  ): Reply<typeof StatsReplySchema>;
  verifyAudit(options?: GatewayCallOptions): Reply<typeof VerifyReplySchema>;
  createAgent(
    body: Input<typeof CreateAgentBodySchema>,
    options?: GatewayCallOptions,
  ): Reply<typeof CreateAgentReplySchema>;
  listAgents(options?: GatewayCallOptions): Reply<typeof AgentListReplySchema>;
  revokeAgent(id: string, options?: GatewayCallOptions): Promise<void>;
  revokeToken(jti: string, options?: GatewayCallOptions): Promise<void>;
  putPolicies(
    body: Input<typeof PutPoliciesBodySchema>,
    options?: GatewayCallOptions,
  ): Reply<typeof PolicySetReplySchema>;
  getPolicies(options?: GatewayCallOptions): Reply<typeof PolicySetReplySchema>;
  /** The approval inbox (an approver token or the admin token). */
  listApprovals(
    query?: ApprovalListQuery,
    options?: GatewayCallOptions,
  ): Reply<typeof ApprovalPageReplySchema>;
  getApproval(id: string, options?: GatewayCallOptions): Reply<typeof ApprovalReplySchema>;
  /** Approves or rejects (409 when answered already: the first answer wins). */
  answerApproval(
    id: string,
    answer: { approve: boolean; comment?: string | undefined },
    options?: GatewayCallOptions,
  ): Reply<typeof ApprovalReplySchema>;
  /** An agent's own request (agent token), waiting up to `waitMs` for an answer. */
  agentApproval(
    id: string,
    waitMs: number,
    options?: GatewayCallOptions,
  ): Reply<typeof AgentApprovalReplySchema>;
  createApprover(
    body: Input<typeof CreateApproverBodySchema>,
    options?: GatewayCallOptions,
  ): Reply<typeof CreateApproverReplySchema>;
  listApprovers(options?: GatewayCallOptions): Reply<typeof ApproverListReplySchema>;
  revokeApprover(id: string, options?: GatewayCallOptions): Promise<void>;
}

/**
 * A typed client of the gateway's HTTP API: JSON in and out, a bearer token, one clock for each
 * whole exchange and a cap on what it reads. Every reply is parsed with the route's schema. Every
 * failure is a {@link GatewayError}: `gateway_timeout`, `gateway_unreachable`, `gateway_too_large`
 * or `gateway_aborted` (no usable answer), `gateway_not_json`, `gateway_invalid` (a reply that
 * breaks its schema: the message names the route and the field), or a refusal (`status`; `reply`
 * and `code` are the gateway's error body and its `error`, `gateway_refused` without one).
 *
 * @example
 * const gateway = createGatewayClient({ url: 'http://127.0.0.1:8787', token: process.env.MESHGUARD_ADMIN_TOKEN });
 * const { agents } = await gateway.listAgents();
 */
export function createGatewayClient(options: GatewayClientOptions): GatewayClient {
  const url = parseGatewayUrl(options.url);
  const http = createGatewayHttp({
    url,
    fetch: options.fetch ?? globalThis.fetch,
    timeoutMs: options.timeoutMs ?? 10_000,
    maxResponseBytes: options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES,
  });
  const at = `the MeshGuard gateway at ${url.shown}`;

  /** One exchange: a 2xx answer and its JSON (undefined for a 204), or the GatewayError saying why not. */
  const exchange = async (
    method: string,
    path: string,
    init: { body?: unknown; params?: URLSearchParams },
    call: GatewayCallOptions,
  ): Promise<{ status: number; json: unknown }> => {
    const res = await http.call(path, {
      method,
      token: call.token ?? options.token ?? '',
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
      params: init.params,
      maxBytes: call.maxBytes,
      signal: call.signal,
      timeoutMs: call.timeoutMs,
    });
    if (res.status === 204) return { status: 204, json: undefined };
    let json: unknown;
    try {
      json = JSON.parse(res.text);
    } catch {
      throw new GatewayError(`${at} answered HTTP ${res.status} with something that is not JSON`, {
        code: 'gateway_not_json',
        status: res.status,
      });
    }
    if (res.ok) return { status: res.status, json };
    const refusal = ErrorReplySchema.safeParse(json);
    const reply = refusal.success ? refusal.data : undefined;
    throw new GatewayError(
      `${at} refused ${method} ${path} (HTTP ${res.status}${reply ? `: ${reply.message.slice(0, 500)}` : ''})`,
      { code: reply?.error ?? 'gateway_refused', status: res.status, reply },
    );
  };

  /** The reply, parsed with the route's schema; one that breaks it is a `gateway_invalid` GatewayError. */
  const parse = <Schema extends z.ZodType>(
    route: string,
    schema: Schema,
    answer: { status: number; json: unknown },
  ): z.output<Schema> => {
    const parsed = schema.safeParse(answer.json);
    if (parsed.success) return parsed.data;
    const issue = parsed.error.issues[0]!;
    const field = issue.path.map(String).join('.') || 'the reply';
    throw new GatewayError(
      `${at} answered ${route} with a reply that breaks its schema (${field}: ${issue.message})`,
      { code: 'gateway_invalid', status: answer.status },
    );
  };

  const send = async <Schema extends z.ZodType>(
    method: string,
    path: string,
    schema: Schema,
    init: { body?: unknown; params?: URLSearchParams },
    call: GatewayCallOptions = {},
  ): Promise<z.output<Schema>> =>
    parse(`${method} ${path}`, schema, await exchange(method, path, init, call));

  /**
   * A page of events, checked against its schema but with each event handed on as the gateway sent
   * it: an event is a hash-chained record, and parsing would reorder its fields and drop any that
   * a newer gateway adds, so the record would no longer match its hash wherever it is verified.
   */
  const eventPage = async <Schema extends z.ZodType<{ events: AuditEvent[] }>>(
    path: string,
    schema: Schema,
    params: URLSearchParams,
    call: GatewayCallOptions = {},
  ): Promise<z.output<Schema> & { events: AuditEvent[] }> => {
    const answer = await exchange('GET', path, { params }, call);
    const page = parse(`GET ${path}`, schema, answer);
    return { ...page, events: (answer.json as { events: AuditEvent[] }).events };
  };

  return {
    url: url.shown,
    check: (body, call) => send('POST', '/v1/check', CheckReplySchema, { body }, call),
    checkBatch: (body, call) => send('POST', '/v1/check/batch', BatchCheckReplySchema, { body }, call),
    reachable: (body, call) => send('POST', '/v1/reachable', ReachableReplySchema, { body }, call),
    judge: (body, call) => send('POST', '/v1/judge', JudgeReplySchema, { body }, call),
    recordOutcomes: (body, call) => send('POST', '/v1/audit', OutcomeReplySchema, { body }, call),
    queryAudit: (filter, call) => eventPage('/v1/audit', AuditPageSchema, searchParams(filter), call),
    tailAudit: (query, call) => eventPage('/v1/audit/tail', TailReplySchema, searchParams(query), call),
    auditStats: (query, call) =>
      send('GET', '/v1/audit/stats', StatsReplySchema, { params: searchParams(query) }, call),
    verifyAudit: (call) => send('GET', '/v1/audit/verify', VerifyReplySchema, {}, call),
    createAgent: (body, call) => send('POST', '/v1/agents', CreateAgentReplySchema, { body }, call),
    listAgents: (call) => send('GET', '/v1/agents', AgentListReplySchema, {}, call),
    revokeAgent: (id, call) =>
      send('DELETE', `/v1/agents/${encodeURIComponent(id)}`, NoContentSchema, {}, call),
    revokeToken: (jti, call) =>
      send('DELETE', `/v1/tokens/${encodeURIComponent(jti)}`, NoContentSchema, {}, call),
    putPolicies: (body, call) => send('PUT', '/v1/policies', PolicySetReplySchema, { body }, call),
    getPolicies: (call) => send('GET', '/v1/policies', PolicySetReplySchema, {}, call),
    listApprovals: (query = {}, call) =>
      send('GET', '/v1/approvals', ApprovalPageReplySchema, { params: searchParams(query) }, call),
    getApproval: (id, call) =>
      send('GET', `/v1/approvals/${encodeURIComponent(id)}`, ApprovalReplySchema, {}, call),
    answerApproval: (id, answer, call) =>
      send(
        'POST',
        `/v1/approvals/${encodeURIComponent(id)}/${answer.approve ? 'approve' : 'reject'}`,
        ApprovalReplySchema,
        { body: answer.comment === undefined ? {} : { comment: answer.comment } },
        call,
      ),
    agentApproval: (id, waitMs, call) =>
      send(
        'GET',
        `/v1/agent/approvals/${encodeURIComponent(id)}`,
        AgentApprovalReplySchema,
        { params: searchParams({ waitMs }) },
        call,
      ),
    createApprover: (body, call) => send('POST', '/v1/approvers', CreateApproverReplySchema, { body }, call),
    listApprovers: (call) => send('GET', '/v1/approvers', ApproverListReplySchema, {}, call),
    revokeApprover: (id, call) =>
      send('POST', `/v1/approvers/${encodeURIComponent(id)}/revoke`, NoContentSchema, {}, call),
  };
}

/** The codes of the GatewayErrors the client raises itself: any other is the gateway's refusal. */
const CLIENT_CODES: ReadonlySet<string> = new Set([
  'gateway_timeout',
  'gateway_unreachable',
  'gateway_too_large',
  'gateway_aborted',
  'gateway_not_json',
  'gateway_invalid',
]);

/**
 * Whether the gateway refused a call (a non-2xx answer in JSON: `status`, and `reply` when it is
 * the gateway's error body), rather than not answering or answering something unusable.
 *
 * @example
 * catch (error) { if (isGatewayRefusal(error) && error.status === 404) return undefined; throw error }
 */
export function isGatewayRefusal(error: unknown): error is GatewayError & { status: number } {
  return GatewayError.isInstance(error) && !CLIENT_CODES.has(error.code) && error.status !== undefined;
}

/** Query parameters: every field given, as text. */
function searchParams(query: object): URLSearchParams {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) if (value !== undefined) params.set(key, String(value));
  return params;
}
