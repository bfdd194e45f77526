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
import { bearerFor, keepHandoffToken } from './handoff-tokens';

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
  failed: (error: unknown) => void;
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
  const queue: QueuedEvent[] = [];
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
      queue.push({ event, acknowledged: () => {}, failed: () => {} });
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

  /**
   * Sends one batch: `sent` when the gateway took it, `away` when it could not be reached (try
   * again later), `refused` when it answered 4xx (it will never take these as they are).
   */
  const send = async (events: OutcomeEvent[]): Promise<'sent' | 'away' | 'refused'> => {
    try {
      const res = await call('/v1/audit', { method: 'POST', body: JSON.stringify({ events }) });
      if (res.ok) return 'sent';
      const text = await res.text().catch(() => '');
      if (res.status >= 400 && res.status < 500 && res.status !== 408 && res.status !== 429) {
        debug('gateway refused %d outcome events: HTTP %d %s', events.length, res.status, text);
        return 'refused';
      }
      return 'away';
    } catch (error) {
      debug('could not send outcome events: %s', describeFailure(error));
      return 'away';
    }
  };

  /** Batches of at most 500 events and about 256 KB, well under the gateway's 1 MiB body limit. */
  const batches = (events: OutcomeEvent[]): OutcomeEvent[][] => {
    const out: OutcomeEvent[][] = [];
    let current: OutcomeEvent[] = [];
    let bytes = 0;
    for (const event of events) {
      const size = JSON.stringify(event).length;
      if (current.length > 0 && (current.length >= 500 || bytes + size > 256 * 1024)) {
        out.push(current);
        current = [];
        bytes = 0;
      }
      current.push(event);
      bytes += size;
    }
    if (current.length > 0) out.push(current);
    return out;
  };

  /**
   * Sends events, oldest first. What the gateway refuses is set aside, one event at a time, in a
   * `.rejected.jsonl` file beside the spool (kept for an operator, never retried automatically),
   * so one bad event cannot hold up the others. Returns the events not sent because the gateway
   * is away.
   */
  const deliver = async (events: OutcomeEvent[]): Promise<OutcomeEvent[]> => {
    const parts = batches(events);
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i]!;
      const result = await send(part);
      if (result === 'away') return parts.slice(i).flat();
      if (result === 'refused') {
        for (const event of part) {
          const single = part.length === 1 ? 'refused' : await send([event]);
          if (single === 'away')
            return [
              event,
              ...parts
                .slice(i)
                .flat()
                .slice(part.indexOf(event) + 1),
            ];
          if (single === 'refused')
            await appendLines(`${spoolFile.replace(/\.jsonl$/, '')}.rejected.jsonl`, [event]);
        }
      }
    }
    return [];
  };

  const appendLines = async (file: string, events: OutcomeEvent[]) => {
    await mkdir(spoolDir, { recursive: true, mode: 0o700 });
    // A leading newline ends a line a crash may have torn, so it cannot swallow this one.
    await appendFile(file, `\n${events.map((e) => JSON.stringify(e)).join('\n')}\n`, { mode: 0o600 });
  };

  /**
   * Replays the spool. The file is first claimed by renaming it, so events appended meanwhile (by
   * this guard or another process with the same token) go to a fresh spool and are not lost.
   */
  const replay = async (): Promise<boolean> => {
    const claimed = `${spoolFile}.${process.pid}.${Date.now()}.replaying`;
    try {
      await rename(spoolFile, claimed);
    } catch {
      return true; // no spool
    }
    let text = '';
    try {
      text = await readFile(claimed, 'utf8');
    } catch {
      return true;
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
    const left = await deliver(events);
    if (left.length > 0) await appendLines(spoolFile, left); // still away: back in the spool
    await rm(claimed, { force: true });
    return left.length === 0;
  };

  let pendingRecords = 0;
  const drain = async () => {
    // The spool first (also when nothing is queued), then the queue, in order.
    let away = !(await replay());
    while (queue.length > 0) {
      const batch = queue.splice(0, 500);
      const events = batch.map((q) => q.event);
      try {
        const left = away ? events : await deliver(events);
        if (left.length > 0) {
          away = true;
          await appendLines(spoolFile, left);
        }
        for (const q of batch) q.acknowledged();
      } catch (error) {
        // Neither at the gateway nor on disk (the spool cannot be written): say so to each caller.
        for (const q of batch) q.failed(error);
      }
    }
  };

  const flush = (): Promise<void> => {
    sending ??= drain()
      .catch((error: unknown) => debug('outcome delivery failed: %O', error))
      .finally(() => {
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
    // Keep the process alive while a record() is waiting; internal events alone do not.
    if (pendingRecords === 0) timer.unref();
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
        const token = bearerFor(base, options.agentToken, body); // a delegated token after a handoff
        res = await call('/v1/check', { method: 'POST', body: JSON.stringify(body) }, `Bearer ${token}`);
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
      keepHandoffToken(base, body, json);
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
      return new Promise<void>((resolve, reject) => {
        pendingRecords++;
        const settle = () => {
          pendingRecords--;
        };
        queue.push({
          event: { ...event, id: event.id ?? uuidv7() },
          acknowledged: () => {
            settle();
            resolve();
          },
          failed: (error) => {
            settle();
            reject(
              new MeshGuardError(
                `the outcome could be neither sent to the gateway nor spooled to ${spoolDir} (${(error as Error).message})`,
                { code: 'spool_failed', cause: error },
              ),
            );
          },
        });
        if (timer && pendingRecords === 1) timer.ref();
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
