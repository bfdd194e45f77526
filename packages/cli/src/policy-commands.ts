import { readFile } from 'node:fs/promises';
import {
  AgentIdentitySchema,
  createPolicyEngine,
  formatExplanation,
  formatPolicyIssue,
  loadPolicies,
  type TrustTier,
} from '@meshguard/core';
import { parseWithSchema, TRUST_TIERS } from '@meshguard/core/internal';
import { parseJsonObject, parseList, UsageError } from './cli-error';
import { type CliIo, paint } from './cli-output';
import { runPolicyTestFile } from './policy-test-cases';
import { parseIsoTimeFlag } from './time-flags';

/**
 * `meshguard policy validate <file|dir>...`: 0 valid, 2 invalid (every error as file:line:col).
 * Warnings (valid, probably not meant) go to stderr as file:line:col too; `--strict` makes them
 * fail the validation (exit 2).
 */
export async function policyValidate(
  io: CliIo,
  paths: string[],
  flags: { strict?: boolean } = {},
): Promise<number> {
  const policies = await loadPolicies(paths);
  const c = paint(io);
  const warnings = policies.flatMap((p) => p.warnings ?? []);
  for (const w of warnings) io.err(`${formatPolicyIssue(w)} (warning)`);
  if (flags.strict && warnings.length > 0) {
    io.err(`${warnings.length} warning${warnings.length === 1 ? '' : 's'}: invalid under --strict`);
    return 2;
  }
  for (const p of policies) {
    io.out(
      `${c.green('✓')} ${p.file}:${p.line} ${p.document.name} v${p.document.version} (${p.document.rules.length} rules)`,
    );
  }
  const warned = warnings.length > 0 ? `, ${warnings.length} warning${warnings.length === 1 ? '' : 's'}` : '';
  io.out(`${policies.length} polic${policies.length === 1 ? 'y' : 'ies'} valid${warned}`);
  return 0;
}

export interface ExplainFlags {
  policy: string[];
  action: string;
  agent?: string;
  id?: string;
  tags?: string;
  tier?: string;
  context?: string;
  via?: string;
  at?: string;
  json?: boolean;
}

/** `meshguard policy explain`: the decision and why; 0 whatever the decision, 2 bad input. */
export async function policyExplain(io: CliIo, flags: ExplainFlags): Promise<number> {
  if (flags.tier !== undefined && !(TRUST_TIERS as readonly string[]).includes(flags.tier)) {
    throw new UsageError(`--tier: "${flags.tier}" is not a tier (${TRUST_TIERS.join(', ')})`);
  }
  const context = flags.context === undefined ? undefined : parseJsonObject('--context', flags.context);
  const now = flags.at === undefined ? Date.now() : parseIsoTimeFlag('--at', flags.at);
  const name = flags.agent ?? 'agent';
  const agent = parseWithSchema(
    AgentIdentitySchema,
    {
      id: flags.id ?? name,
      name,
      tags: flags.tags ? parseList(flags.tags) : [],
      tier: (flags.tier as TrustTier | undefined) ?? 'basic',
    },
    { under: 'agent' },
  );
  const delegation = flags.via
    ? parseList(flags.via).map((n, index) =>
        parseWithSchema(AgentIdentitySchema, { id: n, name: n }, { under: `via.${index}` }),
      )
    : undefined;
  const engine = createPolicyEngine(await loadPolicies(flags.policy));
  if (!/^[^:\s]+:.+$/.test(flags.action)) {
    throw new UsageError(`--action: "${flags.action}" is not "verb:resource" (e.g. write:refund)`);
  }
  const explanation = engine.explain({ action: flags.action, agent, context, delegation }, now);
  if (flags.json) {
    const { decision, ...explained } = explanation;
    io.out(JSON.stringify({ decision, explanation: explained }, null, 2));
  } else {
    io.out(formatExplanation(explanation));
  }
  return 0;
}

/** `meshguard policy test <cases.yaml>...`: 0 all pass, 1 a case failed, 2 invalid input. */
export async function policyTest(io: CliIo, files: string[]): Promise<number> {
  const c = paint(io);
  let passed = 0;
  let failed = 0;
  for (const file of files) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch {
      throw new UsageError(`cannot read the policy test file "${file}"`);
    }
    const results = await runPolicyTestFile(file, text);
    io.out(c.bold(file));
    for (const r of results) {
      if (r.passed) {
        passed++;
        io.out(`  ${c.green('✓')} ${r.name} ${c.dim(`(${r.action} → ${r.actual})`)}`);
      } else {
        failed++;
        io.out(`  ${c.red('✗')} ${r.name} ${c.dim(`(${r.action})`)}: ${r.problem}`);
        io.out(`      ${c.dim(`reason: ${r.reason}`)}`);
      }
    }
  }
  io.out(`${passed} passed, ${failed} failed`);
  return failed > 0 ? 1 : 0;
}
