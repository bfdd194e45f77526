import { describe, expect, it } from 'vitest';
import { issuesOf } from '../test-helpers/policy-issues';
import { testAgent } from '../testing';
import { createPolicyEngine } from './policy-engine';
import { definePolicy, parsePolicies } from './policy-loader';

const HEAD = 'name: p\nversion: "1"\n';
const agent = testAgent({ name: 'bot', tags: ['support'], tier: 'verified' });

function warningsOf(text: string): string[] {
  const [policy] = parsePolicies(text, { file: 'p.yaml' });
  return (policy!.warnings ?? []).map((i) => `${i.file}:${i.line}:${i.column}: ${i.message}`);
}

describe('keys that name object machinery', () => {
  const PROTO = `${HEAD}rules:\n  - effect: allow\n    actions: ["write:refund"]\n    conditions:\n      context:\n        "__proto__": { eq: "admin" }\n`;

  it('refuses __proto__ under conditions.context (it was dropped and the rule allowed unconditionally)', () => {
    expect(issuesOf(PROTO)).toEqual([
      `p.yaml:8:9: "__proto__" cannot be a key in a policy (it names JavaScript's object machinery, not data)`,
    ]);
  });

  it('refuses the same policy given as parsed JSON, and constructor / prototype anywhere', () => {
    const json = JSON.parse(
      '{"name":"p","version":"1","rules":[{"effect":"allow","actions":["write:refund"],"conditions":{"context":{"__proto__":{"eq":"admin"}}}}]}',
    );
    expect(() => definePolicy(json)).toThrow(
      /rules\[0\]\.conditions\.context\.__proto__: "__proto__" cannot be a key/,
    );
    expect(
      issuesOf(`${HEAD}rules:\n  - effect: allow\n    actions: ["read:*"]\n    constructor: 1\n`)[0],
    ).toMatch(/^p\.yaml:6:5: "constructor" cannot be a key/);
    expect(issuesOf(`${HEAD}prototype: {}\nrules: []\n`)[0]).toMatch(
      /^p\.yaml:3:1: "prototype" cannot be a key/,
    );
    expect(
      issuesOf(
        `${HEAD}rules:\n  - effect: allow\n    actions: ["read:*"]\n    conditions:\n      context:\n        user.__proto__.x: { eq: 1 }\n`,
      )[0],
    ).toMatch(
      /^p\.yaml:8:9: rules\[0\]\.conditions\.context\.user\.__proto__\.x: a context path cannot use "__proto__"/,
    );
  });

  it('refuses a __proto__ key written in an object literal (it set the prototype and vanished)', () => {
    const policy = {
      name: 'p',
      version: '1',
      rules: [
        {
          effect: 'allow' as const,
          actions: ['write:refund'],
          conditions: { context: { __proto__: { eq: 'admin' } } },
        },
      ],
    };
    expect(() => definePolicy(policy as never)).toThrow(
      /rules\[0\]\.conditions\.context: is not a plain object \(a "__proto__" key in an object literal sets its prototype and is lost\)/,
    );
  });

  it('a JSON policy file with __proto__ is refused at its line and column', () => {
    const text =
      '{"name": "p", "version": "1", "rules": [\n  {"effect": "allow", "actions": ["*"], "conditions": {"context": {"__proto__": {"eq": 1}}}}\n]}\n';
    expect(issuesOf(text)[0]).toMatch(/^p\.yaml:2:68: "__proto__" cannot be a key/);
  });
});

describe('YAML alias bombs', () => {
  it('refuses a billion-laughs document as a policy error at the first alias, quickly', () => {
    const levels = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
    for (let i = 1; i < 9; i++) {
      const prev = String.fromCharCode(96 + i);
      const name = String.fromCharCode(97 + i);
      levels.push(`${name}: &${name} [${Array(9).fill(`*${prev}`).join(',')}]`);
    }
    const issues = issuesOf(`${levels.join('\n')}\n`);
    expect(issues).toEqual([
      'p.yaml:2:8: YAML aliases expand too far (more than 100 nodes through aliases): refused as a possible alias bomb',
    ]);
  });

  it('still reads a few aliases', () => {
    const text = `${HEAD}rules:\n  - effect: allow\n    actions: &reads ["read:a", "read:b"]\n  - effect: deny\n    actions: *reads\n    conditions: { amount_max: 1 }\n`;
    expect(parsePolicies(text)[0]!.document.rules[1]!.actions).toEqual(['read:a', 'read:b']);
  });
});

describe('malformed paths and patterns are errors', () => {
  it('refuses context paths with an empty key', () => {
    for (const path of ['a..b', '.a', 'a.']) {
      const text = `${HEAD}rules:\n  - effect: allow\n    actions: ["read:*"]\n    conditions:\n      context:\n        "${path}": { eq: 1 }\n`;
      expect(issuesOf(text)).toEqual([
        `p.yaml:8:9: rules[0].conditions.context.${path}: a context path is keys joined by single dots (e.g. "customer.tier"): no empty key, no leading or trailing dot`,
      ]);
    }
  });

  it('refuses an action pattern with neither ":" nor "*" (it can never match), in rules and ceilings', () => {
    expect(issuesOf(`${HEAD}rules:\n  - effect: deny\n    actions: ["refund"]\n`)).toEqual([
      'p.yaml:5:15: rules[0].actions[0]: action pattern "refund" has no ":" and can never match (actions are "verb:resource", e.g. "write:refund")',
    ]);
    expect(issuesOf(`${HEAD}rules: []\ndelegation:\n  permissionCeiling: ["read"]\n`)[0]).toMatch(
      /^p\.yaml:5:23: delegation\.permissionCeiling\[0\]: action pattern "read" has no ":"/,
    );
  });
});

describe('warnings: valid, but probably not meant', () => {
  it('warns of empty conditions, context, appliesTo and permissionCeiling, and of patterns without ":"', () => {
    const text = `${HEAD}appliesTo: {}\nrules:\n  - effect: allow\n    actions: ["write:refund", "read*"]\n    conditions: {}\n  - effect: allow\n    actions: ["read:x"]\n    conditions:\n      context: {}\ndelegation:\n  permissionCeiling: []\n`;
    expect(warningsOf(text)).toEqual([
      'p.yaml:3:12: appliesTo is empty: the policy applies to every agent',
      'p.yaml:6:31: action pattern "read*" has no ":": it matches across verb and resource (write "verb:resource", e.g. "read:*")',
      'p.yaml:7:17: conditions is empty: the rule allows unconditionally',
      'p.yaml:11:16: context is empty: it adds no condition',
      'p.yaml:13:22: permissionCeiling is empty: every action of a delegated agent is denied',
    ]);
  });

  it('gives none for a clean policy, and a bare "*" is not a loose pattern', () => {
    expect(
      warningsOf(
        `${HEAD}rules:\n  - effect: allow\n    actions: ["*", "read:*"]\n    conditions: { amount_max: 5 }\n`,
      ),
    ).toEqual([]);
  });

  it('warns of the same things in a policy built in code', () => {
    expect(
      definePolicy({
        name: 'p',
        version: '1',
        rules: [{ effect: 'allow', actions: ['read:*'], conditions: {} }],
      }).warnings,
    ).toEqual([
      {
        file: '<inline>',
        line: 1,
        column: 1,
        message: 'rules[0].conditions: conditions is empty: the rule allows unconditionally',
      },
    ]);
  });
});

describe('matches runs in linear time (RE2 semantics)', () => {
  it('decides a catastrophic-backtracking pattern against a 30-character value at once', () => {
    const engine = createPolicyEngine([
      definePolicy({
        name: 'p',
        version: '1',
        rules: [
          { effect: 'allow', actions: ['read:x'], conditions: { context: { q: { matches: '^(a+)+$' } } } },
        ],
      }),
    ]);
    const started = performance.now();
    const decision = engine.decide({ action: 'read:x', agent, context: { q: `${'a'.repeat(30)}!` } });
    // A backtracking engine takes seconds here (2^30 paths); this generous guard only catches that.
    expect(performance.now() - started).toBeLessThan(1000);
    expect(decision.effect).toBe('deny');
    expect(engine.decide({ action: 'read:x', agent, context: { q: 'aaaa' } }).effect).toBe('allow');
  });

  it('refuses lookbehind, lookahead and backreferences at load with file:line:col', () => {
    for (const pattern of ['(?<=a)b', 'a(?=b)', '(a)\\\\1']) {
      const text = `${HEAD}rules:\n  - effect: allow\n    actions: ["read:*"]\n    conditions:\n      context:\n        q: { matches: "${pattern}" }\n`;
      expect(issuesOf(text)[0]).toMatch(
        /^p\.yaml:8:23: rules\[0\]\.conditions\.context\.q\.matches: not a valid regular expression: .*lookahead, lookbehind and backreferences are not supported/,
      );
    }
  });

  // JavaScript has no inline flags and writes them after a literal's closing slash; RE2 is the other
  // way round. A literal would be matched as text, slashes included: a rule that never matches.
  const matchesPolicy = (pattern: string) =>
    `${HEAD}rules:\n  - effect: allow\n    actions: ["read:*"]\n    conditions:\n      context:\n        q: { matches: "${pattern}" }\n`;

  it('takes RE2 inline flags: (?i) matches case-insensitively, (?i:...) a part of the pattern', () => {
    const [policy] = parsePolicies(matchesPolicy('(?i)acme corp'), { file: 'p.yaml' });
    expect(policy!.warnings).toBeUndefined();
    const engine = createPolicyEngine([policy!]);
    const effect = (q: string) => engine.decide({ action: 'read:x', agent, context: { q } }).effect;
    expect([effect('ACME Corp'), effect('acme corp'), effect('acne corp')]).toEqual([
      'allow',
      'allow',
      'deny',
    ]);
    const part = createPolicyEngine(parsePolicies(matchesPolicy('(?i:acme) corp'), { file: 'p.yaml' }));
    expect(part.decide({ action: 'read:x', agent, context: { q: 'ACME corp' } }).effect).toBe('allow');
    expect(part.decide({ action: 'read:x', agent, context: { q: 'ACME Corp' } }).effect).toBe('deny');
  });

  it('refuses a JavaScript regular expression literal at load, with the inline-flag spelling to use', () => {
    expect(issuesOf(matchesPolicy('/acme/i'))).toEqual([
      'p.yaml:8:23: rules[0].conditions.context.q.matches: "/acme/i" is written as a JavaScript regular expression literal, whose slashes and flags would be matched as text: write "(?i)acme" (flags go inline, as "(?i)")',
    ]);
    expect(issuesOf(matchesPolicy('/^a.b$/gsu'))[0]).toMatch(/write "\(\?s\)\^a\.b\$"/);
    // A path with slashes and no flags is an ordinary pattern.
    expect(() => parsePolicies(matchesPolicy('/api/v1/'), { file: 'p.yaml' })).not.toThrow();
  });

  it('names the inline flags RE2 has when a pattern uses another one', () => {
    expect(issuesOf(matchesPolicy('(?x)acme'))).toEqual([
      'p.yaml:8:23: rules[0].conditions.context.q.matches: not a valid regular expression: invalid or unsupported Perl syntax: `(?x` (the inline flags are i, m, s and U: "(?i)acme" matches "ACME" too)',
    ]);
  });
});
