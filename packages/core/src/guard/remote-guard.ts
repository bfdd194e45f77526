import { createHash } from 'node:crypto';
import { appendFile, mkdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import createDebug from 'debug';
import { ConfigError, MeshGuardError, ValidationError } from '../errors/meshguard-error';
import { isoTime, uuidv7 } from '../ids/uuidv7';
import type { Reachability } from '../policy/policy-engine';
import type { AuditEvent } from '../protocol/audit-event';
import { type AuditFilter, AuditFilterSchema } from '../protocol/audit-filter';
import { type CheckRequest, CheckRequestSchema } from '../protocol/check-request';
import { type Decision, DecisionSchema } from '../protocol/decision';
import { type OutcomeEvent, OutcomeEventSchema } from '../protocol/outcome-event';
import type { Guard } from './guard';

const debug = createDebug('meshguard:remote');

export interface RemoteGuardOptions {
  /** The gateway's base URL, e.g. `http://127.0.0.1:8787`. */
  url: string;
  /** This agent's token (issued by `meshguard agent create`). */
  agentToken: string;
  /** The admin token, needed only for `query()`. */
  adminToken?: string | undefined;
  /** How long a check may take before it is denied (default 2000 ms). */
  timeoutMs?: number;
  /** Where outcome events wait while the gateway is away (default `.meshguard/spool`). */
  spoolDir?: string;
  /** How often queued outcome events are sent (default 100 ms). */
  flushMs?: number;
  /** For tests: the fetch to use. */
  fetch?: typeof fetch;
}

/** A guard backed by a MeshGuard gateway. */
export interface RemoteGuard extends Guard {
  readonly mode: 'remote';
  readonly url: string;
  /** Sends queued and spooled outcome events now; resolves when the gateway has them or they are spooled. */
  flush(): Promise<void>;
}

interface QueuedEvent {
  event: OutcomeEvent & { id: string };
  acknowledged: () => void;
}

/**
 * A guard that asks a gateway. It fails closed: when the gateway is unreachable, slow (over
 * `timeoutMs`) or answers something that is not a decision, the answer is a deny saying so, never
 * an allow. Outcome events are batched and retried; while the gateway is away they are spooled to
 * local disk (`record()` resolves once an event is at the gateway or in the spool) and replayed
 * when it returns, in order, each once (the gateway ignores an event id it holds).
 *
 * @example
 * const guard = createRemoteGuard({ url: 'http://127.0.0.1:8787', agentToken: process.env.MESHGUARD_AGENT_TOKEN! });
 */
export function createRemoteGuard(options: RemoteGuardOptions): RemoteGuard {
  const base = options.url.replace(/\/+$/, '');
  let parsedUrl: URL;
  try {
    parsedUrl = new URL(base);
  } catch {
    throw new ConfigError(`MESHGUARD_GATEWAY_URL is not a URL: "${options.url}"`, {
      code: 'gateway_url_invalid',
    });
  }
  if (parsedUrl.protocol !== 'http:' && parsedUrl.protocol !== 'https:') {
    throw new ConfigError(`the gateway URL must be http(s): "${options.url}"`, {
      code: 'gateway_url_invalid',
    });
  }
  if (!options.agentToken) {
    throw new ConfigError('a gateway needs an agent token: set MESHGUARD_AGENT_TOKEN or pass agentToken', {
      code: 'agent_token_missing',
    });
  }
  const doFetch = options.fetch ?? fetch;
  const timeoutMs = options.timeoutMs ?? 2000;
  const spoolDir = options.spoolDir ?? join('.meshguard', 'spool');
  const spoolFile = join(
    spoolDir,
    `${createHash('sha256').update(`${base} ${options.agentToken}`).digest('hex').slice(0, 16)}.jsonl`,
  );
  const headers = { 'content-type': 'application/json', authorization: `Bearer ${options.agentToken}` };
  let queue: QueuedEvent[] = [];
  let sending: Promise<void> | undefined;
  let closed = false;
  let timer: NodeJS.Timeout | undefined;

  const call = async (path: string, init: RequestInit, token = headers.authorization): Promise<Response> =>
    doFetch(`${base}${path}`, {
      ...init,
      headers: { ...headers, authorization: token },
      signal: AbortSignal.timeout(timeoutMs),
    });

  /**
   * The deny given when the gateway cannot decide. It is recorded too, as a `blocked` outcome
   * queued like any other (spooled while the gateway is away), so the trail shows it later.
   */
  const failClosed = (why: string, request: Omit<CheckRequest, 'agent'>): Decision => {
    const decision: Decision = {
      decisionId: uuidv7(),
      allowed: false,
      effect: 'deny',
      reason: `Denied: the MeshGuard gateway ${why}`,
      mode: 'enforce',
      evaluatedAt: isoTime(Date.now()),
    };
    if (!closed) {
      const event: OutcomeEvent & { id: string } = {
        id: uuidv7(),
        decisionId: decision.decisionId,
        outcome: 'blocked',
        effect: 'deny',
        action: request.action,
        reason: decision.reason,
        ts: decision.evaluatedAt,
      };
      if (request.traceId) event.traceId = request.traceId;
      if (request.kind) event.kind = request.kind;
      if (request.framework) event.framework = request.framework;
      queue.push({ event, acknowledged: () => {} });
      schedule();
    }
    return decision;
  };

  const describeFailure = (error: unknown): string => {
    const name = (error as { name?: string }).name;
    if (name === 'TimeoutError' || name === 'AbortError')
      return `at ${base} did not answer within ${timeoutMs} ms`;
    const cause = (error as { cause?: { code?: string } }).cause?.code;
    return `at ${base} was unreachable (${cause ?? (error as Error).message})`;
  };

  /** Sends one batch; true when the gateway took it. */
  const send = async (events: OutcomeEvent[]): Promise<boolean> => {
    try {
      const res = await call('/v1/audit', { method: 'POST', body: JSON.stringify({ events }) });
      if (res.ok) return true;
      const text = await res.text().catch(() => '');
      if (res.status >= 400 && res.status < 500 && res.status !== 408 && res.status !== 429) {
        // The gateway will never take these (bad event, revoked token): keep them, say why.
        debug('gateway refused %d outcome events: HTTP %d %s', events.length, res.status, text);
      }
      return false;
    } catch (error) {
      debug('could not send outcome events: %s', describeFailure(error));
      return false;
    }
  };

  const spool = async (events: OutcomeEvent[]) => {
    await mkdir(spoolDir, { recursive: true });
    await appendFile(spoolFile, events.map((e) => `${JSON.stringify(e)}\n`).join(''));
  };

  /** Replays the spool (oldest first); leaves it in place if the gateway is still away. */
  const replay = async (): Promise<boolean> => {
    let text: string;
    try {
      text = await readFile(spoolFile, 'utf8');
    } catch {
      return true; // no spool
    }
    const events = text
      .split('\n')
      .filter((line) => line.trim() !== '')
      .flatMap((line) => {
        try {
          return [JSON.parse(line) as OutcomeEvent];
        } catch {
          return []; // a line torn by a crash mid-write
        }
      });
    for (let i = 0; i < events.length; i += 500) {
      if (!(await send(events.slice(i, i + 500)))) {
        // Keep what is left; the sent part is harmless to send again (ids are idempotent).
        return false;
      }
    }
    const done = `${spoolFile}.${process.pid}.sent`;
    await rename(spoolFile, done).catch(() => {});
    await rm(done, { force: true });
    return true;
  };

  const drain = async () => {
    while (queue.length > 0) {
      const batch = queue.slice(0, 500);
      queue = queue.slice(batch.length);
      const events = batch.map((q) => q.event);
      const spooled = await replay();
      if (spooled && (await send(events))) {
        for (const q of batch) q.acknowledged();
        continue;
      }
      await spool(events);
      for (const q of batch) q.acknowledged();
    }
  };

  const flush = (): Promise<void> => {
    sending ??= drain().finally(() => {
      sending = undefined;
    });
    return sending;
  };

  const schedule = () => {
    if (timer || closed) return;
    timer = setTimeout(() => {
      timer = undefined;
      void flush().then(() => {
        if (queue.length > 0) schedule();
      });
    }, options.flushMs ?? 100);
    timer.unref();
  };

  return {
    mode: 'remote',
    url: base,
    async check(request: CheckRequest) {
      if (closed) throw new MeshGuardError('the guard is closed', { code: 'guard_closed' });
      const parsed = CheckRequestSchema.safeParse(request);
      if (!parsed.success) {
        const issue = parsed.error.issues[0]!;
        throw new ValidationError(issue.path.join('.') || 'request', issue.message);
      }
      const { agent: _fromToken, ...body } = parsed.data;
      let res: Response;
      try {
        res = await call('/v1/check', { method: 'POST', body: JSON.stringify(body) });
      } catch (error) {
        return failClosed(describeFailure(error), body);
      }
      let json: unknown;
      try {
        json = await res.json();
      } catch {
        return failClosed(`at ${base} answered HTTP ${res.status} with something that is not JSON`, body);
      }
      if (!res.ok) {
        const message = (json as { message?: string })?.message ?? `HTTP ${res.status}`;
        return failClosed(`at ${base} refused the check (HTTP ${res.status}: ${message})`, body);
      }
      const decision = DecisionSchema.safeParse(json);
      if (!decision.success) return failClosed(`at ${base} answered something that is not a decision`, body);
      return decision.data;
    },
    async reachable(request): Promise<Reachability> {
      const parsed = CheckRequestSchema.omit({ context: true }).safeParse(request);
      if (!parsed.success) {
        const issue = parsed.error.issues[0]!;
        throw new ValidationError(issue.path.join('.') || 'request', issue.message);
      }
      const { agent: _fromToken, ...body } = parsed.data;
      try {
        const res = await call('/v1/reachable', { method: 'POST', body: JSON.stringify(body) });
        const json = (await res.json()) as Reachability;
        if (res.ok && typeof json.reachable === 'boolean') return json;
        return {
          reachable: false,
          reason: `the gateway refused the question (HTTP ${res.status})`,
          approvalPossible: false,
        };
      } catch (error) {
        // Fail closed at offer time too: what cannot be asked about is not offered.
        return {
          reachable: false,
          reason: `Denied: the MeshGuard gateway ${describeFailure(error)}`,
          approvalPossible: false,
        };
      }
    },
    record(input: OutcomeEvent) {
      if (closed) return Promise.reject(new MeshGuardError('the guard is closed', { code: 'guard_closed' }));
      const parsed = OutcomeEventSchema.safeParse(input);
      if (!parsed.success) {
        const issue = parsed.error.issues[0]!;
        return Promise.reject(new ValidationError(issue.path.join('.') || 'event', issue.message));
      }
      const { agent: _fromToken, ...event } = parsed.data;
      return new Promise<void>((resolve) => {
        queue.push({ event: { ...event, id: event.id ?? uuidv7() }, acknowledged: resolve });
        schedule();
      });
    },
    async query(filter: AuditFilter = {}) {
      if (!options.adminToken) {
        throw new ConfigError('querying the gateway needs the admin token (MESHGUARD_ADMIN_TOKEN)', {
          code: 'admin_token_missing',
        });
      }
      const parsed = AuditFilterSchema.parse(filter);
      const params = new URLSearchParams();
      for (const [key, value] of Object.entries(parsed))
        if (value !== undefined) params.set(key, String(value));
      const res = await call(
        `/v1/audit?${params}`,
        { method: 'GET', headers: {} },
        `Bearer ${options.adminToken}`,
      );
      if (!res.ok)
        throw new MeshGuardError(`the gateway refused the query (HTTP ${res.status})`, {
          code: 'gateway_error',
        });
      return ((await res.json()) as { events: AuditEvent[] }).events;
    },
    flush,
    async close() {
      if (closed) return;
      closed = true;
      if (timer) clearTimeout(timer);
      await flush();
    },
  };
}
