// The reference docs cannot drift from the code: every policy in docs/policies.md is loaded with
// core's loader (and every mistake shown there fails with exactly the error shown), every key the
// policy schema knows is documented, and docs/audit-events.md and docs/gateway-api.md are what
// their generators produce. `pnpm docs:generate` (MESHGUARD_WRITE_DOCS=1) rewrites the generated
// ones instead of comparing.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createPolicyEngine, PolicyDocumentSchema, PolicyError, parsePolicies } from '@meshguard/core';
import {
  AppliesToSchema,
  ConditionsSchema,
  ContextOperatorSchema,
  checkUniqueNames,
  DelegationLimitsSchema,
  FRAMEWORK_NAMES,
  RuleSchema,
} from '@meshguard/core/internal';
import { describe, expect, it } from 'vitest';
import { AUDIT_EVENTS_DOC, renderAuditEventsDoc } from './audit-events-doc';
import { fetchGatewayOpenApi, GATEWAY_API_DOC, renderGatewayApiDoc } from './gateway-api-doc';
import { userDocs } from './limits-doc';
import { REPO_ROOT } from './workspace';

const POLICIES_DOC = 'docs/policies.md';
const WRITE = process.env.MESHGUARD_WRITE_DOCS === '1';
const LOAD_ERROR = '# load error: ';

interface YamlBlock {
  /** 1-based line of the block's first line of YAML in the Markdown file. */
  line: number;
  text: string;
}

/** Every fenced ```yaml block of a Markdown text. */
function yamlBlocks(markdown: string): YamlBlock[] {
  const blocks: YamlBlock[] = [];
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (!/^```ya?ml\b/.test(lines[i]!)) continue;
    const start = i + 1;
    let end = start;
    while (end < lines.length && !lines[end]!.startsWith('```')) end++;
    blocks.push({ line: start + 1, text: `${lines.slice(start, end).join('\n')}\n` });
    i = end;
  }
  return blocks;
}

/** A policy document has a top-level `name`, `version` or `rules`; a policy test file has `cases`. */
function isPolicyDocument(block: YamlBlock): boolean {
  return block.text.startsWith(LOAD_ERROR) || /^(name|version|rules):/m.test(block.text);
}

/** Loads a block as a user's file would be loaded: parsed, names checked, compiled. */
function loadPolicyText(text: string) {
  const loaded = parsePolicies(text, { file: 'policy.yaml' });
  checkUniqueNames(loaded);
  return createPolicyEngine(loaded);
}

function expectedErrors(block: YamlBlock): string[] {
  return block.text
    .split('\n')
    .filter((line) => line.startsWith(LOAD_ERROR))
    .map((line) => line.slice(LOAD_ERROR.length));
}

const policiesDoc = readFileSync(join(REPO_ROOT, POLICIES_DOC), 'utf8');
const blocks = yamlBlocks(policiesDoc);
const policyBlocks = blocks.filter(isPolicyDocument);

describe(`${POLICIES_DOC}: every policy example loads, every mistake fails as shown`, () => {
  it('has policy examples, and no YAML block that is neither a policy nor a policy test file', () => {
    expect(policyBlocks.length).toBeGreaterThanOrEqual(20);
    const unchecked = blocks.filter((b) => !isPolicyDocument(b) && !/^cases:/m.test(b.text));
    expect(
      unchecked.map((b) => `${POLICIES_DOC}:${b.line}`),
      'YAML blocks that are not full policy documents (give them name, version and rules, so this test loads them)',
    ).toEqual([]);
  });

  it.each(policyBlocks.map((b) => [b.line, b] as const))(`${POLICIES_DOC}:%i`, (_line, block) => {
    const expected = expectedErrors(block);
    let error: unknown;
    try {
      loadPolicyText(block.text);
    } catch (caught) {
      error = caught;
    }
    if (expected.length === 0) {
      expect(error, `${POLICIES_DOC}:${block.line} should load`).toBeUndefined();
      return;
    }
    expect(PolicyError.isInstance(error), `${POLICIES_DOC}:${block.line} should fail to load`).toBe(true);
    expect(
      (error as PolicyError).message.split('\n'),
      `${POLICIES_DOC}:${block.line}: the "# load error:" lines should be the loader's exact output`,
    ).toEqual(expected);
  });
});

describe(`${POLICIES_DOC}: every key the policy schema knows is documented`, () => {
  const headed = (key: string) => policiesDoc.includes(`#### \`${key}\`\n`);
  it.each([
    ['document', Object.keys(PolicyDocumentSchema.shape)],
    ['rule', Object.keys(RuleSchema.shape)],
    ['condition', Object.keys(ConditionsSchema.shape)],
  ] as const)('every %s key has its own heading', (what, keys) => {
    expect(
      keys.filter((key) => !headed(key)),
      `${what} keys without a "#### \`key\`" section in ${POLICIES_DOC}`,
    ).toEqual([]);
  });

  it('every appliesTo and delegation key is described', () => {
    const keys = [...Object.keys(AppliesToSchema.shape), ...Object.keys(DelegationLimitsSchema.shape)];
    expect(keys.filter((key) => !policiesDoc.includes(`- \`${key}\`: `))).toEqual([]);
  });

  it('every context operator has a row in the operator table', () => {
    const operators = Object.keys(ContextOperatorSchema.shape);
    expect(operators.length).toBeGreaterThan(0);
    expect(operators.filter((op) => !policiesDoc.includes(`| \`${op}\` `))).toEqual([]);
  });
});

describe('framework names in the docs are the ones the adapters stamp', () => {
  // `@meshguard/bedrock` 0.1.0 stamped `bedrock-agents` while the docs said `--framework bedrock`.
  const stamped: ReadonlySet<string> = new Set(Object.values(FRAMEWORK_NAMES));
  const PLACEHOLDERS = new Set(['my-framework']); // the core README's adapter-writing example
  const NAMED = /framework:\s*['"]([a-z0-9-]+)['"]|--framework[ =]([a-z0-9-]+)|[?&]framework=([a-z0-9-]+)/g;

  it('every `framework: ...`, `--framework ...` and `?framework=...` names a framework an adapter stamps', () => {
    const named = userDocs().flatMap((file) =>
      readFileSync(join(REPO_ROOT, file), 'utf8')
        .split('\n')
        .flatMap((line, index) =>
          [...line.matchAll(NAMED)].map((m) => ({
            where: `${file}:${index + 1}`,
            name: (m[1] ?? m[2] ?? m[3])!,
          })),
        ),
    );
    expect(named.length).toBeGreaterThan(0);
    expect(
      named
        .filter((n) => !stamped.has(n.name) && !PLACEHOLDERS.has(n.name))
        .map((n) => `${n.where}: ${n.name}`),
      `framework names no adapter stamps (they stamp ${[...stamped].join(', ')})`,
    ).toEqual([]);
  });
});

/** Compares a generated doc with the committed one, or writes it under MESHGUARD_WRITE_DOCS=1. */
function expectGenerated(file: string, generated: string): void {
  const path = join(REPO_ROOT, file);
  if (WRITE) {
    writeFileSync(path, generated);
    return;
  }
  const committed = existsSync(path) ? readFileSync(path, 'utf8') : '';
  expect(
    committed,
    `${file} is not what its generator produces: run \`pnpm docs:generate\` to rewrite it, and commit the result`,
  ).toBe(generated);
}

describe('generated references', () => {
  it(`${AUDIT_EVENTS_DOC} is generated from the AuditEvent JSON Schema`, () => {
    expectGenerated(AUDIT_EVENTS_DOC, renderAuditEventsDoc());
  });

  it(`${GATEWAY_API_DOC} is generated from the gateway's OpenAPI document`, async () => {
    expectGenerated(GATEWAY_API_DOC, renderGatewayApiDoc(await fetchGatewayOpenApi()));
  });
});
