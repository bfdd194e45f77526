import createDebug from 'debug';
import type { ApprovalState, ApprovalStatusOptions } from '../approvals/approval-flow';
import { createGatewayClient, isGatewayRefusal } from '../client/gateway-client';
import { DEFAULT_MAX_RESPONSE_BYTES } from '../client/gateway-http';
import { ConfigError, GatewayError, MeshGuardError } from '../errors/meshguard-error';
import { parseWithSchema, safeParseWithSchema } from '../errors/parse-with-schema';
import { isoTime, uuidv7 } from '../ids/uuidv7';
import type { Reachability } from '../policy/policy-engine';
import { type AuditFilter, AuditFilterSchema } from '../protocol/audit-filter';
import { type CheckRequest, CheckRequestSchema } from '../protocol/check-request';
import { type Decision, isConsistentDecision } from '../protocol/decision';
import type { Judgement } from '../protocol/judgement';
import { CLIENT_GAVE_UP, type OutcomeEvent, OutcomeEventSchema } from '../protocol/outcome-event';
import { RecentMap } from '../util/recent-map';
import { bearerFor, keepHandoffToken } from './handoff-tokens';
import type { JudgingGuard } from './judging-guard';
import { createCircuit } from './remote-circuit';
import { createOutcomeSender } from './remote-outcomes';
import { createSpool, type SpooledEvent } from './remote-spool';

const debug = createDebug('meshguard:remote');

export interface RemoteGuardOptions {
  /** The gateway's base URL, e.g. `http://127.0.0.1:8787`. */
  url: string;
  /** This agent's token (issued by `meshguard agent create`). */
  agentToken: string;
  /** The admin token, needed only for `query()`. */
  adminToken?: string | undefined;
  /** How long a check may take before it is denied, reading the answer included (default 2000 ms). */
  timeoutMs?: number;
  /** The largest answer read from the gateway, in bytes (default 1 MiB; `query()` reads up to 64 times it). */
  maxResponseBytes?: number;
  /**
   * After a check times out or cannot connect, checks are denied at once (same reason) for this
   * long, then one goes through as a probe (default 1000 ms).
   */
  circuitRetryMs?: number;
  /** Where outcome events wait while the gateway is away (default `.meshguard/spool`). */
  spoolDir?: string;
  /** How often queued outcome events are sent (default 100 ms). */
  flushMs?: number;
  /** For tests: the fetch to use. */
  fetch?: typeof globalThis.fetch;
}

/** A guard backed by a MeshGuard gateway. */
export interface RemoteGuard extends JudgingGuard {
  readonly mode: 'remote';
  /** The gateway's URL, with any credentials in it hidden. */
  readonly url: string;
  /** Sends queued and spooled outcome events now; resolves when the gateway has them or they are spooled. */
  flush(): Promise<void>;
  /**
   * A new guard of the same gateway and settings (timeout, spool, fetch, ...) acting for another
   * agent, the one `agentToken` names. The caller closes it.
   */
  withAgentToken(agentToken: string): RemoteGuard;
  /** The agent's own approval request at the gateway (`GET /v1/agent/approvals/{id}`), waiting up to 60 s. */
  approvalStatus(id: string, options?: ApprovalStatusOptions): Promise<ApprovalState | undefined>;
}

/** Fail-closed decisions the guard recorded a `blocked` outcome for itself (at least the last 1,000). */
const RECENT_DENIALS = 2000;

/**
 * A guard that asks a gateway. It fails closed: when the gateway is unreachable, slow (over
 * `timeoutMs`, reading the answer included), answers more than `maxResponseBytes`, or answers
 * something that is not a consistent decision, the answer is a deny saying so, never an allow.
 * After a timeout or a refused connection, checks are denied at once until a probe gets through
 * (see `circuitRetryMs`). Each check carries a decision id minted here and a deadline, so the
 * gateway does not decide what the guard has given up on, and the `blocked` outcome recorded for a
 * check given up joins the decision the gateway may still have made.
 *
 * Outcome events are batched and retried; an event is delivered only when the gateway names its id
 * as recorded. While the gateway is away they are spooled to local disk, redacted (`record()`
 * resolves once an event is at the gateway or in the spool), and replayed when it returns, in
 * order, each once (the gateway ignores an event id it holds).
 *
 * @example
 * const guard = createRemoteGuard({ url: 'http://127.0.0.1:8787', agentToken: process.env.MESHGUARD_AGENT_TOKEN! });
 */
export function createRemoteGuard(options: RemoteGuardOptions): RemoteGuard {
  const timeoutMs = options.timeoutMs ?? 2000;
  const maxResponseBytes = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
  const client = createGatewayClient({
    url: options.url,
    token: options.agentToken,
    fetch: options.fetch,
    timeoutMs,
    maxResponseBytes,
  });
  if (!options.agentToken) {
    throw new ConfigError('a gateway needs an agent token: set MESHGUARD_AGENT_TOKEN or pass agentToken', {
      code: 'agent_token_missing',
    });
  }
  // Every reason quotes the URL this way (credentials hidden).
  const gatewayAt = `the MeshGuard gateway at ${client.url}`;
  const circuit = createCircuit(options.circuitRetryMs ?? 1000);
  const spool = createSpool({
    dir: options.spoolDir ?? '.meshguard/spool',
    key: `${options.url.replace(/\/+$/, '')} ${options.agentToken}`,
  });
  const sender = createOutcomeSender({
    client,
    spool,
    flushMs: options.flushMs ?? 100,
  });
  // The guard records a `blocked` outcome for each check it denies itself; the adapter's own
  // `blocked` for the same decision would record it a second time.
  const deniedHere = new RecentMap<string, true>(RECENT_DENIALS);
  let closed = false;

  /**
   * The deny given when the gateway cannot decide. It is recorded too, as a `blocked` outcome
   * queued like any other (spooled while the gateway is away), so the trail shows it later; when
   * the guard gave up waiting, the outcome says so and joins the decision by its id.
   */
  const failClosed = (
    why: string,
    request: Omit<CheckRequest, 'agent'>,
    decisionId: string,
    error: string,
  ): Decision => {
    const decision: Decision = {
      decisionId,
      allowed: false,
      effect: 'deny',
      reason: `Denied: ${why}`,
      mode: 'enforce',
      evaluatedAt: isoTime(Date.now()),
    };
    if (!closed) {
      const event: SpooledEvent = {
        id: uuidv7(),
        decisionId,
        outcome: 'blocked',
        effect: 'deny',
        action: request.action,
        reason: decision.reason,
        error,
        ts: decision.evaluatedAt,
      };
      if (request.traceId) event.traceId = request.traceId;
      if (request.spanId) event.spanId = request.spanId;
      if (request.kind) event.kind = request.kind;
      if (request.framework) event.framework = request.framework;
      if (request.source) event.source = request.source;
      deniedHere.set(decisionId, true);
      sender.enqueue(event, false).catch((e: unknown) => debug('could not keep a denial: %O', e));
    }
    return decision;
  };

  /**
   * A call that got no usable answer. A timeout or a refused connection opens the circuit; any
   * other failure is an answer, so the gateway is there (an answer over the cap too: a probe must
   * end either way, or the circuit would stay open for good).
   */
  const noAnswer = (error: unknown): GatewayError => {
    if (!GatewayError.isInstance(error)) throw error;
    if (error.code === 'gateway_timeout' || error.code === 'gateway_unreachable')
      circuit.failed(error.message);
    else circuit.succeeded();
    return error;
  };

  /**
   * One agent call: the reply, or why there is none (the reason of a deny) and the error its
   * `blocked` outcome records. `what` names the call in a refusal; `not` says what a reply that
   * breaks its schema is not.
   */
  const ask = async <T>(
    call: () => Promise<T>,
    what: string,
    not: string,
  ): Promise<{ reply: T } | { why: string; code: string }> => {
    try {
      const reply = await call();
      circuit.succeeded();
      return { reply };
    } catch (caught) {
      const error = noAnswer(caught);
      if (isGatewayRefusal(error)) {
        const text = error.reply?.message.slice(0, 500) ?? `HTTP ${error.status}`;
        return {
          why: `${gatewayAt} refused ${what} (HTTP ${error.status}: ${text})`,
          code: 'gateway_refused',
        };
      }
      switch (error.code) {
        case 'gateway_timeout':
          return { why: error.message, code: CLIENT_GAVE_UP };
        case 'gateway_not_json':
          return { why: error.message, code: 'gateway_invalid' };
        case 'gateway_invalid':
          return { why: `${gatewayAt} answered ${not}`, code: 'gateway_invalid' };
        default: // unreachable, or an answer over the cap
          return { why: error.message, code: 'gateway_away' };
      }
    }
  };

  return {
    mode: 'remote',
    url: client.url,
    async check(request: CheckRequest) {
      if (closed) throw new MeshGuardError('the guard is closed', { code: 'guard_closed' });
      const { agent: _fromToken, ...asked } = parseWithSchema(CheckRequestSchema, request, 'request');
      const decisionId = asked.decisionId ?? uuidv7();
      const body = { ...asked, decisionId, deadline: isoTime(Date.now() + timeoutMs) };
      const refusal = circuit.refusal();
      if (refusal) return failClosed(refusal, body, decisionId, 'gateway_away');
      // A delegated token after a handoff: the gateway decides with the chain it carries.
      const token = bearerFor(client.url, options.agentToken, body);
      const answer = await ask(
        () => client.check(body, { token }),
        'the check',
        'something that is not a decision',
      );
      if ('why' in answer) return failClosed(answer.why, body, decisionId, answer.code);
      const { handoffToken, ...decision } = answer.reply;
      if (!isConsistentDecision(decision)) {
        const { allowed, effect } = decision;
        return failClosed(
          `${gatewayAt} answered inconsistently (allowed: ${allowed} with effect "${effect}")`,
          body,
          decision.decisionId,
          'gateway_inconsistent',
        );
      }
      keepHandoffToken(client.url, body, handoffToken);
      return decision;
    },
    async reachable(request): Promise<Reachability> {
      const { agent: _fromToken, ...body } = parseWithSchema(
        CheckRequestSchema.omit({ context: true }),
        request,
        'request',
      );
      const refusal = circuit.refusal();
      const not = (reason: string): Reachability => ({ reachable: false, reason, approvalPossible: false });
      // Fail closed at offer time too: what cannot be asked about is not offered.
      if (refusal) return not(`Denied: ${refusal}`);
      try {
        const reply = await client.reachable(body);
        circuit.succeeded();
        return reply;
      } catch (caught) {
        const error = noAnswer(caught);
        if (error.code === 'gateway_not_json')
          return not('Denied: the MeshGuard gateway answered something that is not JSON');
        // A refusal, or a reply that is not an answer.
        if (error.status !== undefined) return not(`the gateway refused the question (HTTP ${error.status})`);
        return not(`Denied: ${error.message}`);
      }
    },
    async judge(request: CheckRequest): Promise<Judgement> {
      // Nothing is recorded, so no decision id and no deadline; the agent is the token's.
      const {
        agent: _fromToken,
        decisionId: _none,
        deadline: _noDeadline,
        ...body
      } = parseWithSchema(CheckRequestSchema, request, 'request');
      const deny = (why: string): Judgement => ({
        allowed: false,
        effect: 'deny',
        reason: `Denied: ${why}`,
        mode: 'enforce',
        evaluatedAt: isoTime(Date.now()),
      });
      const refusal = circuit.refusal();
      if (refusal) return deny(refusal);
      // A delegated token after a handoff: the gateway judges with the chain it carries.
      const token = bearerFor(client.url, options.agentToken, body);
      const notJudgement = 'something that is not a consistent judgement';
      const answer = await ask(() => client.judge(body, { token }), 'to judge', notJudgement);
      if ('why' in answer) return deny(answer.why);
      return isConsistentDecision(answer.reply)
        ? answer.reply
        : deny(`${gatewayAt} answered ${notJudgement}`);
    },
    record(input: OutcomeEvent) {
      if (closed) return Promise.reject(new MeshGuardError('the guard is closed', { code: 'guard_closed' }));
      const parsed = safeParseWithSchema(OutcomeEventSchema, input, 'event');
      if (!parsed.success) return Promise.reject(parsed.error);
      // The agent is the token's; when the event reached the gateway is the gateway's to say.
      const { agent: _fromToken, deliveredAt: _gatewaySays, ...event } = parsed.data;
      // This guard recorded the block of a check it denied itself: once is enough.
      if (event.outcome === 'blocked' && event.decisionId && deniedHere.has(event.decisionId))
        return Promise.resolve();
      // The time it happened travels with it, however late it is delivered.
      return sender.enqueue(
        { ...event, id: event.id ?? uuidv7(), ts: event.ts ?? isoTime(Date.now()) },
        true,
      );
    },
    async query(filter: AuditFilter = {}) {
      if (!options.adminToken) {
        throw new ConfigError('querying the gateway needs the admin token (MESHGUARD_ADMIN_TOKEN)', {
          code: 'admin_token_missing',
        });
      }
      const parsed = parseWithSchema(AuditFilterSchema, filter, 'filter');
      const page = await client.queryAudit(parsed, {
        token: options.adminToken,
        maxBytes: maxResponseBytes * 64,
      });
      return page.events;
    },
    async approvalStatus(id, status = {}) {
      const waitMs = Math.min(Math.max(0, status.waitMs ?? 0), 60_000);
      try {
        return await client.agentApproval(id, waitMs, {
          timeoutMs: waitMs + timeoutMs,
          ...(status.signal ? { signal: status.signal } : {}),
        });
      } catch (error) {
        if (isGatewayRefusal(error) && error.status === 404) return undefined;
        throw error;
      }
    },
    flush: () => sender.flush(),
    withAgentToken: (agentToken: string) => createRemoteGuard({ ...options, agentToken }),
    async close() {
      if (closed) return;
      closed = true;
      await sender.close();
    },
  };
}
