import createDebug from 'debug';
import { type ApprovalState, type ApprovalStatusOptions, approvalState } from '../approvals/approval-flow';
import { canKeepApprovals } from '../approvals/approval-store';
import { createGuardApprovals, type GuardApprovals } from '../approvals/guard-approvals';
import { type AuditStore, canJournal } from '../audit/audit-store';
import { ConfigError, MeshGuardError, ValidationError } from '../errors/meshguard-error';
import { parseWithSchema } from '../errors/parse-with-schema';
import { isoTime } from '../ids/uuidv7';
import {
  type Clock,
  createPolicyEngine,
  type Explanation,
  type PolicyEngine,
  type Reachability,
} from '../policy/policy-engine';
import { type LoadedPolicy, loadPolicies } from '../policy/policy-loader';
import type { ApprovalRequest } from '../protocol/approval';
import type { AuditEvent, AuditEventBody } from '../protocol/audit-event';
import { type AuditFilter, AuditFilterSchema } from '../protocol/audit-filter';
import { type CheckRequest, CheckRequestSchema, type ParsedCheckRequest } from '../protocol/check-request';
import type { Decision } from '../protocol/decision';
import { fastCheckRequest, fastOutcomeEvent } from '../protocol/fast-parse';
import { type OutcomeEvent, OutcomeEventSchema, type ParsedOutcomeEvent } from '../protocol/outcome-event';
import { RecentMap } from '../util/recent-map';
import { type AuditDurability, auditBatcher } from './audit-durability';
import { createCheckRecorder, type Decided, type Made } from './guard-checks';
import { type EventDefaults, outcomeEventBody } from './guard-event-bodies';
import { type GuardEnvironment, resolveGuardSettings } from './guard-settings';
import { openAuditStore } from './open-audit-store';
import { createRemoteGuard, type RemoteGuard } from './remote-guard';

// Part of GuardOptions, so it is exported beside it.
export type { AuditDurability } from './audit-durability';

const debug = createDebug('meshguard:core');

/**
 * The one interface every adapter talks to. `check` evaluates AND records the decision, so a
 * caller cannot forget to audit.
 */
export interface Guard {
  check(request: CheckRequest): Promise<Decision>;
  /**
   * Whether some context and time could allow `action` for this agent (records nothing). Adapters
   * use it at offer time: what can never be allowed is not shown to the model.
   */
  reachable(request: Omit<CheckRequest, 'context'>): Promise<Reachability>;
  /** Records an outcome after the action ran (or failed, or a human answered an approval). */
  record(event: OutcomeEvent): Promise<void>;
  /**
   * The approval request a `require_approval` decision opened (`decision.approval.id`), as the
   * side that asked sees it; with `waitMs`, once answered or at the wait's end. Undefined when
   * there is no such request (of this agent). Throws `approval_unsupported` where the store keeps
   * no approvals. Optional for guards written by hand; the embedded and remote guards have it.
   */
  approvalStatus?(id: string, options?: ApprovalStatusOptions): Promise<ApprovalState | undefined>;
  query(filter?: AuditFilter): Promise<AuditEvent[]>;
  /**
   * Commits what is queued and closes. A `batched` guard whose store refused events rejects with
   * an `AuditNotRecordedError` counting them (after closing all the same).
   */
  close(): Promise<void>;
}

/** The embedded guard also explains decisions and exposes its engine and store. */
export interface EmbeddedGuard extends Guard {
  readonly mode: 'embedded';
  /** Resolves once the appends begun so far are committed (or failed): read-your-writes. */
  settled(): Promise<void>;
  /** Decides several requests and records them in one append (all denied if it fails). */
  checkMany(requests: readonly CheckRequest[]): Promise<Decision[]>;
  readonly engine: PolicyEngine;
  readonly store: AuditStore;
  explain(request: CheckRequest): Explanation;
  /**
   * The approval requests this guard opens, when its store keeps them (the SQLite, PostgreSQL and
   * memory stores do): a `require_approval` decision carries `approval.id`; once a person approved
   * it, the same call checked with `approvalId` is allowed, once.
   */
  readonly approvals: GuardApprovals | undefined;
  approvalStatus(id: string, options?: ApprovalStatusOptions): Promise<ApprovalState | undefined>;
}

export interface GuardOptions {
  /**
   * Policy files or folders, or policies already loaded. Default: `MESHGUARD_POLICIES`. Given (or
   * `store` given), the guard is embedded whatever `MESHGUARD_GATEWAY_URL` says.
   */
  policies?: string | readonly string[] | readonly LoadedPolicy[];
  /**
   * The audit store: an `AuditStore`, `'memory'` (explicit, lost on exit), or a URL for
   * `@meshguard/store` (`sqlite:<path>`, `postgres://...`, or a bare path meaning SQLite).
   * Default: `MESHGUARD_DB`, else `sqlite:.meshguard/meshguard.db`.
   */
  store?: AuditStore | 'memory' | string;
  /** The clock decisions are made at (milliseconds); inject a fixed one in tests. */
  clock?: Clock;
  /** Stamped on events whose request does not name a framework (default `custom`). */
  framework?: string;
  /** The package that produces the events (an adapter stamps its name and version). */
  source?: { name: string; version: string };
  /**
   * Gateway URL and agent token (remote mode: the gateway decides and records, and the guard
   * fails closed when it cannot be reached). Default: `MESHGUARD_GATEWAY_URL`, unless `policies`
   * or `store` is given (then the guard is embedded); `MESHGUARD_AGENT_TOKEN`.
   */
  gatewayUrl?: string;
  agentToken?: string;
  /** Remote mode: how long a check may take before it is denied (default 2000 ms). */
  timeoutMs?: number;
  /** Remote mode: where outcome events wait while the gateway is away (default `.meshguard/spool`). */
  spoolDir?: string;
  /** Where settings not given as options are read from (default `process.env`). */
  env?: GuardEnvironment;
  /** Embedded mode: when a decision counts as recorded (default: durable before the check resolves). */
  audit?: AuditDurability;
}

interface DecisionRecord {
  body: AuditEventBody;
}

/** Decisions an outcome can be joined to from memory (at least the last 10,000). */
const RECENT_DECISIONS = 20_000;

/**
 * Creates a guard: embedded (policies + engine + audit store in this process) or remote
 * (`mode: 'remote'`: a gateway decides and records). Options given in code win over the
 * environment: `policies` or `store` make it embedded whatever `MESHGUARD_GATEWAY_URL` says, and
 * `gatewayUrl` makes it remote (with either of them it is a `ConfigError`). The whole table is
 * `resolveGuardSettings`.
 *
 * @example
 * const guard = await createGuard({ policies: 'policies/', store: 'sqlite:.meshguard/meshguard.db' });
 * const decision = await guard.check({ action: 'write:refund', agent, context: { amount: 79.99 } });
 * if (!decision.allowed) return decision.reason;
 */
export async function createGuard(options: GuardOptions = {}): Promise<EmbeddedGuard | RemoteGuard> {
  const settings = resolveGuardSettings(options, options.env ?? process.env);
  debug('%s guard: %s', settings.mode, settings.because);
  if (settings.mode === 'remote') {
    return createRemoteGuard({
      url: settings.gatewayUrl,
      agentToken: settings.agentToken ?? '',
      adminToken: settings.adminToken,
      ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
      ...(options.spoolDir !== undefined ? { spoolDir: options.spoolDir } : {}),
    });
  }
  if (settings.policies === undefined) {
    throw new ConfigError(
      'no policies: pass `policies` (files, folders or loaded policies) or set MESHGUARD_POLICIES',
      { code: 'policies_missing' },
    );
  }
  const policies =
    typeof settings.policies === 'string' || isStringArray(settings.policies)
      ? await loadPolicies(settings.policies as string | string[])
      : (settings.policies as readonly LoadedPolicy[]);
  const clock = options.clock ?? Date.now;
  const engine = createPolicyEngine(policies, { clock });
  const { store, owned } = await openAuditStore(settings.store);
  return createEmbeddedGuard({
    engine,
    store,
    ownsStore: owned,
    clock,
    framework: options.framework,
    source: options.source,
    audit: options.audit,
  });
}

/** Builds an embedded guard from parts (tests and the gateway assemble their own). */
export function createEmbeddedGuard(parts: {
  engine: PolicyEngine;
  store: AuditStore;
  ownsStore?: boolean;
  clock?: Clock;
  framework?: string | undefined;
  source?: { name: string; version: string } | undefined;
  audit?: AuditDurability | undefined;
  /**
   * Hears each approval request once recorded: opened (pending), then answered, expired or
   * cancelled (the gateway notifies people and feeds its live views from it). Must not throw.
   */
  onApproval?: ((approval: ApprovalRequest) => void) | undefined;
  /** Hears each enforced deny once recorded (the gateway's deny notifications). Must not throw. */
  onDeny?: ((event: AuditEventBody) => void) | undefined;
}): EmbeddedGuard {
  const { engine, store } = parts;
  const batcher = auditBatcher(store, parts.audit);
  // Durable, without a commit on this thread: the store's journal (see JournalingStore).
  const journal = !batcher && canJournal(store) ? store : undefined;
  const clock = parts.clock ?? Date.now;
  const defaults: EventDefaults = { framework: parts.framework ?? 'custom', source: parts.source };
  const recent = new RecentMap<string, DecisionRecord>(RECENT_DECISIONS);
  // Appends not yet committed: a query or close waits for them (read-your-writes), so an
  // adapter may record outcomes without holding up the agent's run.
  const inflight = new Set<Promise<unknown>>();
  const append = (bodies: AuditEventBody[]): Promise<unknown> => {
    const done = store.append(bodies);
    inflight.add(done);
    done.then(
      () => inflight.delete(done),
      () => inflight.delete(done),
    );
    return done;
  };
  // Waits for the appends begun before the call (not for those that keep coming under load).
  const settle = async () => {
    if (batcher) await batcher.settle();
    // A journal whose commits fail keeps its events for a retry (or a replay): nothing to wait for.
    if (journal) await journal.drain().catch(() => {});
    if (inflight.size > 0) await Promise.allSettled([...inflight]);
  };
  let closed = false;

  const parseRequest = (request: CheckRequest): ParsedCheckRequest => {
    const fast = fastCheckRequest(request);
    if (fast) return fast;
    return parseWithSchema(CheckRequestSchema, request, 'request');
  };

  /** Decides (no I/O): the decision, and the request and time it was made at. */
  const decideOne = (req: ParsedCheckRequest): Decided => {
    const now = clock();
    const decided = engine.decide(req, now);
    // A remote client mints the id itself, so its outcome joins this decision even if it gave up.
    const decision = req.decisionId ? { ...decided, decisionId: req.decisionId } : decided;
    return { req, decision, now };
  };

  /** Decides and builds the events to record; a `require_approval` opens or uses its approval. */
  const evaluate = (req: ParsedCheckRequest): Made | Promise<Made> => recordOf(decideOne(req));

  // The deny is the guard's own: it names no policy rule and carries no shadow verdict.
  const unrecorded = (made: Array<{ decision: Decision }>, error: unknown): Decision[] => {
    debug('audit append failed: %O', error);
    const message = error instanceof Error ? error.message : String(error);
    return made.map(
      ({ decision }): Decision => ({
        decisionId: decision.decisionId,
        allowed: false,
        effect: 'deny',
        reason: `Denied: the decision could not be recorded in the audit trail (${message})`,
        mode: 'enforce',
        evaluatedAt: decision.evaluatedAt,
      }),
    );
  };

  /** Records decisions in one append; if it fails, every one of them is a deny (fail closed). */
  const recordDecisions = async (made: Made[]): Promise<Decision[]> => {
    if (batcher) {
      // An action that cannot be audited does not run: while commits fail, nothing is allowed.
      if (batcher.failure) return unrecorded(made, batcher.failure);
      const full = batcher.add(made.flatMap((m) => m.bodies));
      for (const { decision, bodies } of made) recent.set(decision.decisionId, { body: bodies[0]! });
      if (full) {
        await full;
        if (batcher.failure) return unrecorded(made, batcher.failure);
      }
      return made.map((m) => m.decision);
    }
    try {
      if (journal) {
        // While commits fail nothing is allowed, as with a batch: the trail is not being written.
        if (journal.journalFailure) return unrecorded(made, journal.journalFailure);
        const behind = journal.journal(
          made.flatMap((m) => m.bodies),
          made.flatMap((m) => (m.opened ? [m.opened] : [])),
        );
        // Recorded already; a store falling behind holds this caller back until it catches up.
        if (behind) await behind.catch(() => {});
      } else {
        await append(made.flatMap((m) => m.bodies));
      }
    } catch (error) {
      // An action that cannot be audited does not run.
      return unrecorded(made, error);
    }
    for (const { decision, bodies } of made) recent.set(decision.decisionId, { body: bodies[0]! });
    return made.map((m) => m.decision);
  };

  /**
   * Records decisions; an approval request opened for a decision that could not be recorded is
   * cancelled (nobody could act on it).
   */
  const recordChecked = async (made: Made[]): Promise<Decision[]> => {
    const decisions = await recordDecisions(made);
    for (let i = 0; i < made.length; i++) {
      // A deny of the guard's own (the trail could not be written) has no event to tell of.
      if (parts.onDeny && decisions[i]!.effect === 'deny' && decisions[i] === made[i]!.decision) {
        parts.onDeny(made[i]!.bodies[0]!);
      }
      const opened = made[i]!.opened;
      if (opened && decisions[i]!.effect === 'require_approval') parts.onApproval?.(opened);
      // A journaled request went unwritten with its events: nothing to cancel.
      if (opened && decisions[i]!.effect === 'deny' && !journal) {
        await approvalStore
          ?.answerApproval(opened.id, { status: 'cancelled', by: 'meshguard', at: isoTime(clock()) })
          .catch((error: unknown) => debug('cancelling approval %s failed: %O', opened.id, error));
      }
    }
    return decisions;
  };

  const approvalStore = canKeepApprovals(store) ? store : undefined;
  const recordOf = createCheckRecorder({
    engine,
    defaults,
    keeper: approvalStore,
    journaled: journal !== undefined,
  });
  const approvals = approvalStore
    ? createGuardApprovals({
        store: approvalStore,
        clock,
        onStep: parts.onApproval,
        record: async (bodies) => {
          if (closed) throw new MeshGuardError('the guard is closed', { code: 'guard_closed' });
          if (batcher) {
            await batcher.add(bodies);
            if (batcher.failure) throw batcher.failure;
          } else if (journal) {
            if (journal.journalFailure) throw journal.journalFailure;
            const behind = journal.journal(bodies);
            if (behind) await behind.catch(() => {});
          } else {
            await append(bodies);
          }
        },
      })
    : undefined;

  return {
    mode: 'embedded',
    engine,
    store,
    approvals,
    explain(request) {
      return engine.explain(parseRequest(request), clock());
    },
    async reachable(request) {
      if (closed) throw new MeshGuardError('the guard is closed', { code: 'guard_closed' });
      return engine.reachable(parseRequest(request));
    },
    async check(request) {
      if (closed) throw new MeshGuardError('the guard is closed', { code: 'guard_closed' });
      const made = evaluate(parseRequest(request));
      const [decision] = await recordChecked([made instanceof Promise ? await made : made]);
      return decision!;
    },
    settled: settle,
    async checkMany(requests) {
      if (closed) throw new MeshGuardError('the guard is closed', { code: 'guard_closed' });
      const made = requests.map((request) => evaluate(parseRequest(request)));
      return recordChecked(await Promise.all(made));
    },
    async approvalStatus(id, options = {}) {
      if (closed) throw new MeshGuardError('the guard is closed', { code: 'guard_closed' });
      if (!approvals) {
        throw new MeshGuardError("this guard's audit store keeps no approval requests", {
          code: 'approval_unsupported',
        });
      }
      const found = options.waitMs
        ? await approvals
            .wait(id, { timeoutMs: options.waitMs, ...(options.signal ? { signal: options.signal } : {}) })
            .catch((error: unknown) => {
              if (MeshGuardError.isInstance(error) && error.code === 'approval_not_found') return undefined;
              throw error;
            })
        : await approvals.get(id);
      return found && approvalState(found);
    },
    async record(input) {
      if (closed) throw new MeshGuardError('the guard is closed', { code: 'guard_closed' });
      const event = fastOutcomeEvent(input) ?? parseOutcome(input);
      const decided = event.decisionId ? recent.get(event.decisionId)?.body : undefined;
      // The decision's own facts win over what the event says; an event cannot re-attribute it.
      if (decided && event.agent && event.agent.id !== decided.agent.id) {
        throw new ValidationError(
          'decisionId',
          `belongs to agent "${decided.agent.id}", not "${event.agent.id}"`,
        );
      }
      const agent = decided?.agent ?? event.agent;
      const action = decided?.action ?? event.action;
      if (!agent || !action) {
        throw new ValidationError(
          event.agent ? 'action' : 'agent',
          `is required for an outcome whose decision${event.decisionId ? ` (${event.decisionId})` : ''} this guard did not make`,
        );
      }
      const body = outcomeEventBody(event, decided, agent, action, clock(), defaults);
      if (batcher) {
        await batcher.add([body]);
        return;
      }
      if (journal) {
        const behind = journal.journal([body]);
        if (behind) await behind.catch(() => {});
        return;
      }
      await append([body]);
    },
    async query(filter = {}) {
      const parsed = parseWithSchema(AuditFilterSchema, filter, 'filter');
      await settle();
      return (await store.query(parsed)).events;
    },
    async close() {
      if (closed) return;
      closed = true;
      approvals?.close();
      await settle();
      // Events a batched guard could not store are reported once its store is closed all the same.
      const unrecorded = await batcher?.close().then(
        () => undefined,
        (error: unknown) => error,
      );
      if (parts.ownsStore) await store.close();
      if (unrecorded) throw unrecorded;
    },
  };
}

function parseOutcome(input: OutcomeEvent): ParsedOutcomeEvent {
  return parseWithSchema(OutcomeEventSchema, input, 'event');
}

function isStringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((v) => typeof v === 'string');
}
