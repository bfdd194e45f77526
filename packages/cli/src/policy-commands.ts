import { readFile } from 'node:fs/promises';
import {
  AgentIdentitySchema,
  createPolicyEngine,
  type Decision,
  formatExplanation,
  formatPolicyIssue,
  type LoadedPolicy,
  loadPolicies,
  PolicyError,
  type PolicyIssue,
  type TrustTier,
} from '@meshguard/core';
import { parseWithSchema, TRUST_TIERS } from '@meshguard/core/internal';
import { EXIT, parseJsonObject, parseList, UsageError } from './cli-error';
import { type CliIo, paint, plural } from './cli-output';
import { type CaseResult, runPolicyTestFile } from './policy-test-cases';
import { parseIsoTimeFlag } from './time-flags';

/** Policy problems as the `--json` outputs carry them. */
function issuesJson(issues: readonly PolicyIssue[]) {
  return issues.map(({ file, line, column, message }) => ({ file, line, column, message }));
}

/** A PolicyError's problems, for a `--json` output; any other error is not for JSON and is rethrown. */
function policyErrors(error: unknown) {
  if (!PolicyError.isInstance(error)) throw error;
  return issuesJson((error as PolicyError).issues);
}

/**
 * `meshguard policy validate <file|dir>...`: 0 valid, 2 invalid (every error as file:line:col).
 * Warnings (valid, probably not meant) go to stderr as file:line:col too; `--strict` makes them
 * fail the validation (exit 2). With `--json`, the verdict is one object on stdout:
 * `{ ok, policies: [{ file, line, name, version, rules }], warnings, errors }`.
 */
export async function policyValidate(
  io: CliIo,
  paths: string[],
  flags: { strict?: boolean; json?: boolean } = {},
): Promise<number> {
  let policies: LoadedPolicy[];
  try {
    policies = await loadPolicies(paths);
  } catch (error) {
    if (!flags.json) throw error;
    io.out(JSON.stringify({ ok: false, policies: [], warnings: [], errors: policyErrors(error) }));
    return EXIT.usage;
  }
  const warnings = policies.flatMap((p) => p.warnings ?? []);
  const ok = !(flags.strict && warnings.length > 0);
  if (flags.json) {
    const valid = policies.map((p) => ({
      file: p.file,
      line: p.line,
      name: p.document.name,
      version: p.document.version,
      rules: p.document.rules.length,
    }));
    io.out(JSON.stringify({ ok, policies: valid, warnings: issuesJson(warnings), errors: [] }));
    return ok ? EXIT.ok : EXIT.usage;
  }
  const c = paint(io);
  for (const w of warnings) io.err(`${formatPolicyIssue(w)} (warning)`);
  if (!ok) {
    io.err(`${plural(warnings.length, 'warning')}: invalid under --strict`);
    return EXIT.usage;
  }
  for (const p of policies) {
    io.out(
      `${c.green('✓')} ${p.file}:${p.line} ${p.document.name} v${p.document.version} (${plural(p.document.rules.length, 'rule')})`,
    );
  }
  const warned = warnings.length > 0 ? `, ${plural(warnings.length, 'warning')}` : '';
  io.out(`${plural(policies.length, 'policy', 'policies')} valid${warned}`);
  return EXIT.ok;
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
  exitCode?: boolean;
}

/** `policy explain --exit-code`: what each effect exits with, for scripts (as `opa eval --fail`). */
const EXPLAIN_EXIT: Record<Decision['effect'], number> = {
  allow: EXIT.ok,
  deny: EXIT.failed,
  require_approval: EXIT.approval,
};

/**
 * `meshguard policy explain`: the decision and why; 0 whatever the decision, 2 bad input. With
 * `--exit-code`: 0 allow, 1 deny, 3 require_approval.
 */
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
  return flags.exitCode ? EXPLAIN_EXIT[explanation.decision.effect] : EXIT.ok;
}

/**
 * `meshguard policy test <cases.yaml>...`: 0 all pass, 1 a case failed, 2 invalid input. With
 * `--json`, one object on stdout: `{ ok, passed, failed, files: [{ file, cases }], errors }`
 * (`errors`: the problems of a case file or its policies, file:line:col).
 */
export async function policyTest(
  io: CliIo,
  files: string[],
  flags: { json?: boolean } = {},
): Promise<number> {
  const c = paint(io);
  let passed = 0;
  let failed = 0;
  const tested: Array<{ file: string; cases: CaseResult[] }> = [];
  const report = (errors: ReturnType<typeof issuesJson>) =>
    io.out(
      JSON.stringify({ ok: failed === 0 && errors.length === 0, passed, failed, files: tested, errors }),
    );
  for (const file of files) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch {
      throw new UsageError(`cannot read the policy test file "${file}"`);
    }
    let results: CaseResult[];
    try {
      results = await runPolicyTestFile(file, text);
    } catch (error) {
      if (!flags.json) throw error;
      report(policyErrors(error));
      return EXIT.usage;
    }
    tested.push({ file, cases: results });
    for (const r of results) {
      if (r.passed) passed++;
      else failed++;
    }
    if (flags.json) continue;
    io.out(c.bold(file));
    for (const r of results) {
      if (r.passed) {
        io.out(`  ${c.green('✓')} ${r.name} ${c.dim(`(${r.action} → ${r.actual})`)}`);
      } else {
        io.out(`  ${c.red('✗')} ${r.name} ${c.dim(`(${r.action})`)}: ${r.problem}`);
        io.out(`      ${c.dim(`reason: ${r.reason}`)}`);
      }
    }
  }
  if (flags.json) report([]);
  else io.out(`${passed} passed, ${failed} failed`);
  return failed > 0 ? EXIT.failed : EXIT.ok;
}
