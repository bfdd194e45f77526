import { basename, join } from 'node:path';
import { type GatewayClient, isGatewayRefusal, type PolicyFile } from '@meshguard/core';
import { TRUST_TIERS } from '@meshguard/core/internal';
import { readPolicyDir } from '@meshguard/gateway/internal';
import { EXIT, parseList, UsageError } from './cli-error';
import { type CliIo, paint } from './cli-output';
import { asUsageError, openAdminClient } from './gateway-admin-client';
import { formatColumns } from './text-columns';

// The commands that talk to a running gateway as its admin: agents and their tokens, policy pushes.

export interface GatewayClientFlags {
  gateway?: string;
}

/** The gateway the admin commands talk to, with the admin token. */
function adminGateway(flags: GatewayClientFlags): GatewayClient {
  const url = (flags.gateway ?? process.env.MESHGUARD_GATEWAY_URL ?? '').trim().replace(/\/+$/, '');
  if (!url) throw new UsageError('no gateway: pass --gateway <url> or set MESHGUARD_GATEWAY_URL');
  const token = process.env.MESHGUARD_ADMIN_TOKEN?.trim();
  if (!token) throw new UsageError('set MESHGUARD_ADMIN_TOKEN to talk to the gateway as its admin');
  return openAdminClient(url, token, 10_000);
}

/** A refusal as a usage error: of the admin token (401, 403), or of the request. */
function refused(error: unknown): unknown {
  const denied = isGatewayRefusal(error) && (error.status === 401 || error.status === 403);
  return asUsageError(error, denied ? 'the gateway refused the admin token' : 'the gateway refused');
}

export async function agentCreate(
  io: CliIo,
  flags: GatewayClientFlags & {
    name: string;
    tags?: string;
    tier?: string;
    ttl?: string;
    id?: string;
    json?: boolean;
  },
): Promise<number> {
  const ttl = flags.ttl ? parseDuration('--ttl', flags.ttl) : undefined;
  const tier = TRUST_TIERS.find((t) => t === flags.tier);
  if (flags.tier && !tier) {
    throw new UsageError(`--tier: "${flags.tier}" is not one of ${TRUST_TIERS.join(', ')}`);
  }
  const created = await adminGateway(flags)
    .createAgent({
      name: flags.name,
      tags: flags.tags ? parseList(flags.tags) : [],
      ...(tier ? { tier } : {}),
      ...(flags.id ? { id: flags.id } : {}),
      ...(ttl ? { ttl } : {}),
    })
    .catch((error: unknown) => {
      throw refused(error);
    });
  if (flags.json) {
    io.out(JSON.stringify(created));
    return EXIT.ok;
  }
  const { agent } = created;
  const c = paint(io);
  io.err(
    `${c.green('✓')} agent ${agent.id} (${agent.name}; tags: ${agent.tags.join(', ') || 'none'}; tier: ${agent.tier}) token expires ${created.expiresAt}`,
  );
  // The token alone on stdout, so `export MESHGUARD_AGENT_TOKEN=$(meshguard agent create ...)` works.
  io.out(created.token);
  return EXIT.ok;
}

/** `agent list`: a table under a title row (columns measured in terminal cells), or JSON lines. */
export async function agentList(io: CliIo, flags: GatewayClientFlags & { json?: boolean }): Promise<number> {
  const { agents } = await adminGateway(flags)
    .listAgents()
    .catch((error: unknown) => {
      throw refused(error);
    });
  if (flags.json) {
    for (const agent of agents) io.out(JSON.stringify(agent));
    return EXIT.ok;
  }
  if (agents.length === 0) {
    io.err('no agents');
    return EXIT.ok;
  }
  const rows = agents.map((a) => [
    a.id,
    a.name,
    a.tier,
    a.tags.join(',') || '-',
    a.revokedAt ? `revoked ${a.revokedAt}` : 'active',
  ]);
  for (const line of formatColumns(['ID', 'NAME', 'TIER', 'TAGS', 'STATUS'], rows, paint(io).bold)) {
    io.out(line);
  }
  return EXIT.ok;
}

/**
 * `agent revoke <id>`: 0 revoked, 1 no such agent. With `--json`, either answer as
 * `{ ok, id, revoked, error? }` on stdout.
 */
export async function agentRevoke(
  io: CliIo,
  id: string,
  flags: GatewayClientFlags & { json?: boolean },
): Promise<number> {
  try {
    await adminGateway(flags).revokeAgent(id);
  } catch (error) {
    if (isGatewayRefusal(error) && error.status === 404) {
      const message = `no agent "${id}"`;
      if (flags.json) io.out(JSON.stringify({ ok: false, id, revoked: false, error: message }));
      else io.err(`meshguard: ${message}`);
      return EXIT.failed;
    }
    throw refused(error);
  }
  if (flags.json) {
    io.out(JSON.stringify({ ok: true, id, revoked: true }));
    return EXIT.ok;
  }
  io.err(`${paint(io).green('✓')} agent ${id} revoked: its tokens stop working on their next request`);
  return EXIT.ok;
}

/**
 * `policy push <paths...>`: 0 in force, 2 refused (every problem as file:line:col) or bad input.
 * With `--json`, the answer as `{ ok, version, files }` or `{ ok: false, errors }` on stdout.
 */
export async function policyPush(
  io: CliIo,
  paths: string[],
  flags: GatewayClientFlags & { json?: boolean },
): Promise<number> {
  const files: PolicyFile[] = [];
  // The gateway keeps a policy set's files by name: two files of one name would be ambiguous.
  const from = new Map<string, string>();
  for (const path of paths) {
    let found: PolicyFile[];
    try {
      found = await readPolicyDir(path);
    } catch {
      throw new UsageError(`no such policy file or folder "${path}"`);
    }
    for (const file of found) {
      const where = found.length === 1 && file.name === basename(path) ? path : join(path, file.name);
      const earlier = from.get(file.name);
      if (earlier !== undefined) {
        throw new UsageError(
          `two policy files named "${file.name}" ("${earlier}" and "${where}"): a policy set keeps its files by name, so rename one`,
        );
      }
      from.set(file.name, where);
      files.push(file);
    }
  }
  if (files.length === 0) throw new UsageError('no policy files (.yaml, .yml, .json) to push');
  let set: Awaited<ReturnType<GatewayClient['putPolicies']>>;
  try {
    set = await adminGateway(flags).putPolicies({ files });
  } catch (error) {
    const issues = isGatewayRefusal(error) && error.status === 400 ? error.reply?.issues : undefined;
    if (!issues) throw refused(error);
    if (flags.json) {
      const errors = issues.map(({ file, line, column, message }) => ({ file, line, column, message }));
      io.out(JSON.stringify({ ok: false, errors }));
    } else {
      for (const issue of issues) io.err(`${issue.file}:${issue.line}:${issue.column}: ${issue.message}`);
      io.err('the gateway kept the policy set in force');
    }
    return EXIT.usage;
  }
  const names = files.map((f) => f.name);
  if (flags.json) {
    io.out(JSON.stringify({ ok: true, version: set.version, files: names }));
    return EXIT.ok;
  }
  io.err(`${paint(io).green('✓')} policy set v${set.version} in force (${names.join(', ')})`);
  return EXIT.ok;
}

/** `30d`, `12h`, `15m`, `3600s` or plain seconds. */
function parseDuration(flag: string, text: string): number {
  const match = /^(\d+)\s*([smhd]?)$/.exec(text.trim());
  if (!match) throw new UsageError(`${flag}: "${text}" is not a duration (e.g. 30d, 12h, 3600)`);
  const unit = { '': 1, s: 1, m: 60, h: 3600, d: 86_400 }[match[2] as '' | 's' | 'm' | 'h' | 'd'];
  const seconds = Number(match[1]) * unit;
  if (seconds <= 0) throw new UsageError(`${flag}: must be positive`);
  return seconds;
}

/** `approver create --name [--tags]`: the token alone on stdout (shown once), the approver on stderr. */
export async function approverCreate(
  io: CliIo,
  flags: GatewayClientFlags & { name: string; tags?: string; json?: boolean },
): Promise<number> {
  const created = await adminGateway(flags)
    .createApprover({ name: flags.name, tags: flags.tags ? parseList(flags.tags) : [] })
    .catch((error: unknown) => {
      throw refused(error);
    });
  if (flags.json) {
    io.out(JSON.stringify(created));
    return EXIT.ok;
  }
  const { approver } = created;
  io.err(
    `${paint(io).green('✓')} approver ${approver.id} (${approver.name}; tags: ${approver.tags.join(', ') || 'none'}): the token below is shown once`,
  );
  io.out(created.token);
  return EXIT.ok;
}

/** `approver list`: a table, or JSON lines. */
export async function approverList(
  io: CliIo,
  flags: GatewayClientFlags & { json?: boolean },
): Promise<number> {
  const { approvers } = await adminGateway(flags)
    .listApprovers()
    .catch((error: unknown) => {
      throw refused(error);
    });
  if (flags.json) {
    for (const approver of approvers) io.out(JSON.stringify(approver));
    return EXIT.ok;
  }
  if (approvers.length === 0) {
    io.err('no approvers');
    return EXIT.ok;
  }
  const rows = approvers.map((a) => [
    a.id,
    a.name,
    a.tags.join(',') || '-',
    a.revokedAt ? `revoked ${a.revokedAt}` : 'active',
  ]);
  for (const line of formatColumns(['ID', 'NAME', 'TAGS', 'STATUS'], rows, paint(io).bold)) io.out(line);
  return EXIT.ok;
}

/** `approver revoke <id>`: 0 revoked, 1 no such approver. */
export async function approverRevoke(
  io: CliIo,
  id: string,
  flags: GatewayClientFlags & { json?: boolean },
): Promise<number> {
  try {
    await adminGateway(flags).revokeApprover(id);
  } catch (error) {
    if (isGatewayRefusal(error) && error.status === 404) {
      const message = `no approver "${id}"`;
      if (flags.json) io.out(JSON.stringify({ ok: false, id, revoked: false, error: message }));
      else io.err(`meshguard: ${message}`);
      return EXIT.failed;
    }
    throw refused(error);
  }
  if (flags.json) io.out(JSON.stringify({ ok: true, id, revoked: true }));
  else io.err(`${paint(io).green('✓')} approver ${id} revoked: its token stops working on its next request`);
  return EXIT.ok;
}
