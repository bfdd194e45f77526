import { userInfo } from 'node:os';
import {
  APPROVAL_STATUSES,
  type ApprovalListQuery,
  type ApprovalPage,
  type ApprovalRequest,
  type AuditStore,
  type GatewayClient,
  isGatewayRefusal,
  MeshGuardError,
} from '@meshguard/core';
import { canKeepApprovals, createGuardApprovals, DEFAULT_DB } from '@meshguard/core/internal';
import { openStore } from '@meshguard/store';
import { EXIT, UsageError } from './cli-error';
import { type CliIo, paint } from './cli-output';
import { asUsageError, openAdminClient } from './gateway-admin-client';
import { formatColumns } from './text-columns';

// `meshguard approvals ...`: the inbox of approval requests, on the embedded database (the CLI
// holds it, so it is trusted, and answers as --by) or on a gateway (an approver token, or the
// admin token).

export interface ApprovalSourceFlags {
  db?: string | undefined;
  gateway?: string | undefined;
}

/** Where approval requests are read and answered. */
interface ApprovalSource {
  readonly where: string;
  list(query: ApprovalListQuery): Promise<ApprovalPage>;
  get(id: string): Promise<ApprovalRequest | undefined>;
  answer(id: string, approve: boolean, comment: string | undefined, by: string): Promise<ApprovalRequest>;
  close(): Promise<void>;
}

/** A refusal the person can act on: no such request (exit 1), answered already (exit 1). */
class AnswerRefused extends Error {}

async function openApprovals(flags: ApprovalSourceFlags): Promise<ApprovalSource> {
  const gatewayUrl = flags.gateway ?? (flags.db ? undefined : process.env.MESHGUARD_GATEWAY_URL?.trim());
  if (gatewayUrl) return gatewaySource(gatewayUrl.replace(/\/+$/, ''));
  const url = flags.db ?? (process.env.MESHGUARD_DB?.trim() || DEFAULT_DB);
  let store: AuditStore;
  try {
    store = await openStore(url);
  } catch (error) {
    if (MeshGuardError.isInstance(error)) throw new UsageError(`--db: ${error.message}`);
    throw error;
  }
  if (!canKeepApprovals(store)) {
    await store.close();
    throw new UsageError(`--db: the store at ${url} keeps no approval requests`);
  }
  const approvals = createGuardApprovals({
    store,
    record: async (bodies) => {
      await store.append(bodies);
    },
  });
  return {
    where: url,
    list: (query) => approvals.list(query),
    get: (id) => approvals.get(id),
    async answer(id, approve, comment, by) {
      try {
        return await approvals.answer(id, { approve, by, comment });
      } catch (error) {
        if (
          MeshGuardError.isInstance(error) &&
          ['approval_conflict', 'approval_not_found'].includes(error.code)
        ) {
          throw new AnswerRefused(error.message);
        }
        throw error;
      }
    },
    async close() {
      approvals.close();
      await store.close();
    },
  };
}

function gatewaySource(url: string): ApprovalSource {
  const token = (process.env.MESHGUARD_APPROVER_TOKEN ?? process.env.MESHGUARD_ADMIN_TOKEN)?.trim();
  if (!token) {
    throw new UsageError(
      `answering approvals at ${url} needs MESHGUARD_APPROVER_TOKEN (or MESHGUARD_ADMIN_TOKEN)`,
    );
  }
  const client: GatewayClient = openAdminClient(url, token, 30_000);
  const call = async <T>(promise: Promise<T>): Promise<T> =>
    promise.catch((error: unknown) => {
      if (isGatewayRefusal(error) && (error.status === 404 || error.status === 409)) {
        throw new AnswerRefused(error.reply?.message ?? `HTTP ${error.status}`);
      }
      throw asUsageError(error);
    });
  return {
    where: url,
    list: (query) => call(client.listApprovals(query)),
    get: (id) =>
      call(client.getApproval(id)).catch((error: unknown) => {
        if (error instanceof AnswerRefused) return undefined;
        throw error;
      }),
    // The gateway records the approver its token names, whatever --by says.
    answer: (id, approve, comment) => call(client.answerApproval(id, { approve, comment })),
    close: async () => {},
  };
}

function statusFlag(status: string | undefined): ApprovalListQuery['status'] {
  if (status === undefined || status === 'all') return undefined;
  const known = APPROVAL_STATUSES.find((s) => s === status);
  if (!known)
    throw new UsageError(`--status: "${status}" is not one of all, ${APPROVAL_STATUSES.join(', ')}`);
  return known;
}

/** `approvals list`: a table of requests, newest first (default: the pending inbox), or JSON lines. */
export async function approvalsList(
  io: CliIo,
  flags: ApprovalSourceFlags & { status?: string; limit?: string; json?: boolean },
): Promise<number> {
  const status = statusFlag(flags.status ?? 'pending');
  const limit = flags.limit === undefined ? 100 : Number(flags.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000)
    throw new UsageError('--limit: a whole number from 1 to 1000');
  const source = await openApprovals(flags);
  try {
    const { approvals } = await source.list({ ...(status ? { status } : {}), limit });
    if (flags.json) {
      for (const approval of approvals) io.out(JSON.stringify(approval));
      return EXIT.ok;
    }
    if (approvals.length === 0) {
      io.err(`no ${status ?? ''} approval requests in ${source.where}`.replace('  ', ' '));
      return EXIT.ok;
    }
    const rows = approvals.map((a) => [
      a.id,
      a.status,
      a.agent.name,
      a.action,
      a.status === 'pending'
        ? `expires ${a.expiresAt}`
        : `${a.answeredBy ?? ''} ${a.answeredAt ?? ''}`.trim(),
    ]);
    for (const line of formatColumns(['ID', 'STATUS', 'AGENT', 'ACTION', 'WHEN'], rows, paint(io).bold))
      io.out(line);
    return EXIT.ok;
  } finally {
    await source.close();
  }
}

/** `approvals show <id>`: the request with the exact arguments to judge. Exit 1 when there is none. */
export async function approvalsShow(
  io: CliIo,
  id: string,
  flags: ApprovalSourceFlags & { json?: boolean },
): Promise<number> {
  const source = await openApprovals(flags);
  try {
    const approval = await source.get(id);
    if (!approval) {
      io.err(`meshguard: no approval request ${id} in ${source.where}`);
      return EXIT.failed;
    }
    if (flags.json) {
      io.out(JSON.stringify(approval));
      return EXIT.ok;
    }
    const c = paint(io);
    io.out(
      `${c.bold(approval.id)}  ${c.effect(approval.status === 'approved' ? 'allow' : approval.status === 'pending' ? 'require_approval' : 'deny')} ${approval.status}`,
    );
    io.out(`agent:     ${approval.agent.name} (${approval.agent.id})`);
    io.out(`action:    ${approval.action}`);
    io.out(`why:       ${approval.reason}`);
    io.out(`requested: ${approval.requestedAt}   expires: ${approval.expiresAt}`);
    io.out(`trace:     ${approval.traceId}`);
    if (approval.approvers.length > 0) io.out(`approvers: ${approval.approvers.join(', ')}`);
    if (approval.answeredBy)
      io.out(
        `answered:  by ${approval.answeredBy} at ${approval.answeredAt}${approval.comment ? `: ${approval.comment}` : ''}`,
      );
    io.out(approval.argumentsPurgedAt ? `arguments: purged at ${approval.argumentsPurgedAt}` : 'arguments:');
    if (!approval.argumentsPurgedAt)
      for (const line of JSON.stringify(approval.arguments, null, 2).split('\n')) io.out(`  ${line}`);
    return EXIT.ok;
  } finally {
    await source.close();
  }
}

/**
 * `approvals approve|reject <id>`: 0 answered, 1 no such request or answered already (the first
 * answer wins). On the embedded database the answer is recorded as `--by` (default: the user).
 */
export async function approvalsAnswer(
  io: CliIo,
  id: string,
  approve: boolean,
  flags: ApprovalSourceFlags & { comment?: string; reason?: string; by?: string; json?: boolean },
): Promise<number> {
  const comment = approve ? flags.comment : (flags.reason ?? flags.comment);
  if (!approve && !comment) throw new UsageError('reject needs --reason: the agent or model is told it');
  const by = flags.by ?? safeUserName();
  const source = await openApprovals(flags);
  try {
    const answered = await source.answer(id, approve, comment, by);
    if (flags.json) io.out(JSON.stringify({ ok: true, approval: answered }));
    else io.err(`${paint(io).green('✓')} ${answered.id} ${answered.status} by ${answered.answeredBy}`);
    return EXIT.ok;
  } catch (error) {
    if (!(error instanceof AnswerRefused)) throw error;
    if (flags.json) io.out(JSON.stringify({ ok: false, id, error: error.message }));
    else io.err(`meshguard: ${error.message}`);
    return EXIT.failed;
  } finally {
    await source.close();
  }
}

/** `approvals watch`: prints each new pending request as it arrives, until interrupted. */
export async function approvalsWatch(
  io: CliIo,
  flags: ApprovalSourceFlags & { json?: boolean; intervalMs?: number; signal?: AbortSignal },
): Promise<number> {
  const source = await openApprovals(flags);
  const seen = new Set<string>();
  const stop = flags.signal ?? interruptSignal();
  try {
    if (!flags.json) io.err(`watching ${source.where} for approval requests (Ctrl-C to stop)`);
    while (!stop.aborted) {
      const { approvals } = await source.list({ status: 'pending', limit: 1000 });
      for (const approval of approvals.reverse()) {
        if (seen.has(approval.id)) continue;
        seen.add(approval.id);
        if (flags.json) io.out(JSON.stringify(approval));
        else
          io.out(
            `${approval.requestedAt}  ${approval.id}  ${approval.agent.name}  ${approval.action}  (expires ${approval.expiresAt})`,
          );
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, flags.intervalMs ?? 1000);
        stop.addEventListener(
          'abort',
          () => {
            clearTimeout(timer);
            resolve();
          },
          { once: true },
        );
      });
    }
    return EXIT.ok;
  } finally {
    await source.close();
  }
}

function interruptSignal(): AbortSignal {
  const controller = new AbortController();
  process.once('SIGINT', () => controller.abort());
  process.once('SIGTERM', () => controller.abort());
  return controller.signal;
}

function safeUserName(): string {
  try {
    return userInfo().username || 'cli';
  } catch {
    return 'cli';
  }
}
