import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { issuesOf } from '../test-helpers/policy-issues';
import { loadPolicies, parsePolicies } from './policy-loader';

const HEAD = 'name: p\nversion: "1"\n';

describe('parsePolicies', () => {
  it('loads the seed policy with defaults filled in', async () => {
    const [policy] = await loadPolicies(
      fileURLToPath(new URL('../../../../examples/policies/openai-support.yaml', import.meta.url)),
    );
    expect(policy!.document.name).toBe('openai-support-agent-policy');
    expect(policy!.document.mode).toBe('enforce');
    expect(policy!.document.rules).toHaveLength(9);
    expect(policy!.document.rules[3]!.conditions).toEqual({ amount_max: 100 });
  });

  it('reports a YAML syntax error with its position', () => {
    expect(issuesOf(`${HEAD}rules:\n  - effect: allow\n    actions: [read:x\n`)[0]).toMatch(
      /^p\.yaml:6:1: YAML syntax error: Flow sequence in block collection must be sufficiently indented and end with a \]/,
    );
  });

  it('rejects a misspelt condition and suggests the right key', () => {
    const text = `${HEAD}rules:\n  - effect: allow\n    actions: ["write:refund"]\n    conditions:\n      amout_max: 100\n`;
    expect(issuesOf(text)).toEqual([
      'p.yaml:7:7: unknown key "amout_max" in rules[0].conditions (did you mean "amount_max"?)',
    ]);
  });

  it('rejects unknown top-level and rule keys', () => {
    const text = `${HEAD}defaultEfect: deny\nrules:\n  - effect: allow\n    action: ["x:y"]\n`;
    const issues = issuesOf(text);
    expect(issues).toContain('p.yaml:3:1: unknown key "defaultEfect" (did you mean "defaultEffect"?)');
    expect(issues).toContain('p.yaml:6:5: unknown key "action" in rules[0] (did you mean "actions"?)');
    expect(issues.some((i) => i.startsWith('p.yaml:5:5: rules[0].actions: is required'))).toBe(true);
  });

  it('rejects wrong types, naming the field', () => {
    const text = `${HEAD}rules:\n  - effect: allow\n    actions: ["write:refund"]\n    conditions:\n      amount_max: "100"\n`;
    expect(issuesOf(text)).toEqual([
      'p.yaml:7:19: rules[0].conditions.amount_max: Invalid input: expected number, received string',
    ]);
  });

  it('asks for a quoted version', () => {
    expect(issuesOf('name: p\nversion: 1.0\nrules: []\n')).toEqual([
      'p.yaml:2:10: version: version must be a string: quote it, e.g. version: "1.0"',
    ]);
  });

  it.each([
    ['9:00-18:00'],
    ['09:00-25:00'],
    ['09:60-10:00'],
    ['0900-1800'],
    ['10:00-10:00'],
    ['09:00-24:30'],
  ])('rejects the malformed time_range %s', (range) => {
    const text = `${HEAD}rules:\n  - effect: allow\n    actions: ["write:email"]\n    conditions:\n      time_range: "${range}"\n`;
    const [issue] = issuesOf(text);
    expect(issue).toMatch(/^p\.yaml:7:19: rules\[0\]\.conditions\.time_range: /);
  });

  it('rejects an unknown effect, tier, day and time zone', () => {
    const text = `${HEAD}appliesTo:\n  tiers: [gold]\nrules:\n  - effect: permit\n    actions: ["x:y"]\n    conditions:\n      trust_tier_min: admin\n      days: [monday]\n      timezone: Mars/Olympus\n`;
    const issues = issuesOf(text);
    expect(issues).toHaveLength(5);
    expect(issues[0]).toMatch(
      /^p\.yaml:4:11: appliesTo\.tiers\[0\]: Invalid option: expected one of "untrusted"/,
    );
    expect(issues[1]).toMatch(
      /^p\.yaml:6:13: rules\[0\]\.effect: Invalid option: expected one of "allow"\|"deny"\|"require_approval"/,
    );
    expect(issues[2]).toMatch(/^p\.yaml:9:23: rules\[0\]\.conditions\.trust_tier_min: Invalid option/);
    expect(issues[3]).toMatch(/^p\.yaml:10:14: rules\[0\]\.conditions\.days\[0\]: Invalid option/);
    expect(issues[4]).toMatch(/^p\.yaml:11:17: rules\[0\]\.conditions\.timezone: not an IANA time zone/);
  });

  it('rejects empty actions and an empty file', () => {
    expect(issuesOf(`${HEAD}rules:\n  - effect: allow\n    actions: []\n`)).toEqual([
      'p.yaml:5:14: rules[0].actions: a rule needs at least one action',
    ]);
    expect(issuesOf('# nothing here\n')).toEqual([
      'p.yaml:1:1: no policy document found (the file is empty)',
    ]);
  });

  it('rejects duplicate keys, duplicate rule ids and impossible amount ranges', () => {
    expect(issuesOf(`${HEAD}name: q\nrules: []\n`)[0]).toMatch(
      /^p\.yaml:3:1: YAML syntax error: Map keys must be unique/,
    );
    const text = `${HEAD}rules:\n  - id: r\n    effect: allow\n    actions: ["a:b"]\n    conditions: { amount_min: 10, amount_max: 5 }\n  - id: r\n    effect: deny\n    actions: ["a:b"]\n`;
    expect(issuesOf(text)).toEqual([
      'p.yaml:7:31: rules[0].conditions.amount_min: amount_min (10) is greater than amount_max (5): the rule can never match',
      'p.yaml:8:9: rules[1].id: duplicate rule id "r" (also rule 0)',
    ]);
  });

  it('rejects an explicit rule id that another rule gets by default', () => {
    const text = `${HEAD}rules:\n  - id: "p#1"\n    effect: deny\n    actions: ["a:b"]\n  - effect: allow\n    actions: ["a:b"]\n`;
    expect(issuesOf(text)).toEqual(['p.yaml:4:9: rules[0].id: duplicate rule id "p#1" (also rule 1)']);
  });

  it('rejects an invalid context regex and an operator-less context condition', () => {
    const text = `${HEAD}rules:\n  - effect: allow\n    actions: ["a:b"]\n    conditions:\n      context:\n        user.role: { matches: "([" }\n        user.id: {}\n`;
    const issues = issuesOf(text);
    expect(issues[0]).toMatch(
      /^p\.yaml:8:31: rules\[0\]\.conditions\.context\.user\.role\.matches: not a valid regular expression/,
    );
    expect(issues[1]).toMatch(
      /^p\.yaml:9:18: rules\[0\]\.conditions\.context\.user\.id: a context condition needs an operator/,
    );
  });

  it('reads several documents from one file and JSON policies', () => {
    const two = parsePolicies(`${HEAD}rules: []\n---\nname: q\nversion: "2"\nrules: []\n`);
    expect(two.map((p) => [p.document.name, p.line])).toEqual([
      ['p', 1],
      ['q', 5],
    ]);
    const [json] = parsePolicies(
      '{"name": "j", "version": "1", "rules": [{"effect": "allow", "actions": ["a:b"]}]}',
    );
    expect(json!.document.rules[0]!.effect).toBe('allow');
  });

  it('loads folders recursively, skips case files, and rejects duplicate names across files', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mg-policies-'));
    await mkdir(join(dir, 'nested'));
    await writeFile(join(dir, 'a.yaml'), `${HEAD}rules: []\n`);
    await writeFile(join(dir, 'nested', 'b.yml'), 'name: b\nversion: "1"\nrules: []\n');
    await writeFile(join(dir, 'a.cases.yaml'), 'cases: []\n');
    await writeFile(join(dir, 'notes.txt'), 'not a policy');
    expect((await loadPolicies(dir)).map((p) => p.document.name)).toEqual(['p', 'b']);
    await writeFile(join(dir, 'c.json'), '{"name": "p", "version": "2", "rules": []}');
    await expect(loadPolicies(dir)).rejects.toThrow(
      /c\.json:1:1: duplicate policy name "p" \(also in .*a\.yaml:1\)/,
    );
    await expect(loadPolicies(join(dir, 'missing'))).rejects.toThrow(/no such file or folder/);
  });
});
