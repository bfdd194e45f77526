import { dirname, resolve } from 'node:path';
import {
  ActionSchema,
  AgentIdentitySchema,
  createPolicyEngine,
  type LoadedPolicy,
  loadPolicies,
} from '@meshguard/core';
import { EffectSchema, parseWithSchema, parseYamlAs } from '@meshguard/core/internal';
import { z } from 'zod';
import { asUtc } from './cli-error';
import { isoTimeMs } from './time-flags';

const TimeSchema = z
  .string()
  .superRefine((s, ctx) => {
    const ms = isoTimeMs(s); // 2026-02-30 is an error, not March 2nd
    if (typeof ms === 'string') ctx.addIssue({ code: 'custom', message: `not a valid ISO time: ${ms}` });
  })
  .transform(asUtc);

const AgentSchema = AgentIdentitySchema.extend({ id: z.string().min(1).optional() });

const CaseSchema = z.strictObject({
  name: z.string().min(1).optional(),
  action: ActionSchema,
  agent: AgentSchema.optional(),
  context: z.record(z.string(), z.unknown()).optional(),
  delegation: z.array(AgentSchema).optional(),
  at: TimeSchema.optional(),
  expect: EffectSchema,
  reason: z.string().min(1).optional(),
});

/**
 * A policy test file: the policies under test (paths relative to the file), defaults for agent
 * and time, and the cases.
 */
const PolicyTestFileSchema = z.strictObject({
  policies: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]),
  agent: AgentSchema.optional(),
  at: TimeSchema.optional(),
  cases: z.array(CaseSchema).min(1, 'a policy test file needs at least one case'),
});

const CASE_FILE_KEYS = [
  'policies',
  'agent',
  'at',
  'cases',
  'name',
  'action',
  'context',
  'delegation',
  'expect',
  'reason',
  'id',
  'tags',
  'tier',
];

export interface CaseResult {
  name: string;
  action: string;
  passed: boolean;
  expected: string;
  actual: string;
  reason: string;
  problem?: string;
}

/** Runs every case of a test file; policy and case-file errors throw PolicyError (file:line:col). */
export async function runPolicyTestFile(file: string, text: string): Promise<CaseResult[]> {
  const results: CaseResult[] = [];
  for (const { value: spec } of parseYamlAs(PolicyTestFileSchema, text, {
    file,
    what: 'policy test',
    knownKeys: CASE_FILE_KEYS,
  })) {
    const paths = (typeof spec.policies === 'string' ? [spec.policies] : spec.policies).map((p) =>
      resolve(dirname(file), p),
    );
    const policies: LoadedPolicy[] = await loadPolicies(paths);
    const engine = createPolicyEngine(policies);
    spec.cases.forEach((c, index) => {
      const agentInput: { id?: string | undefined; name: string } = c.agent ??
        spec.agent ?? { name: 'test-agent' };
      const where = `cases.${index}`;
      const agent = parseWithSchema(
        AgentIdentitySchema,
        { ...agentInput, id: agentInput.id ?? agentInput.name },
        { under: `${where}.agent` },
      );
      const at = c.at ?? spec.at;
      const delegation = c.delegation?.map((a, step) =>
        parseWithSchema(
          AgentIdentitySchema,
          { ...a, id: a.id ?? a.name },
          { under: `${where}.delegation.${step}` },
        ),
      );
      const decision = engine.decide(
        { action: c.action, agent, context: c.context, delegation },
        at ? Date.parse(at) : Date.now(),
      );
      const problems: string[] = [];
      if (decision.effect !== c.expect) problems.push(`expected ${c.expect}, got ${decision.effect}`);
      if (c.reason && !decision.reason.includes(c.reason))
        problems.push(`reason does not contain "${c.reason}"`);
      const result: CaseResult = {
        name: c.name ?? `case ${index + 1}`,
        action: c.action,
        passed: problems.length === 0,
        expected: c.expect,
        actual: decision.effect,
        reason: decision.reason,
      };
      if (problems.length > 0) result.problem = problems.join('; ');
      results.push(result);
    });
  }
  return results;
}
