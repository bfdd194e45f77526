import { type Document, isAlias, isScalar, visit } from 'yaml';
import type { PolicyDocument } from './policy-schema';

/** A problem found at a path of a document (the loader turns the path into file:line:col). */
export interface PathIssue {
  path: Array<string | number>;
  message: string;
}

/**
 * Keys refused anywhere in a policy: JavaScript drops `__proto__` from parsed objects (so a
 * condition under it vanished and its rule matched unconditionally) and the others name an
 * object's machinery rather than data.
 */
export const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

const forbiddenKeyMessage = (key: string) =>
  `"${key}" cannot be a key in a policy (it names JavaScript's object machinery, not data)`;

/** Every forbidden key of a YAML document, with the offset where it is written. */
export function forbiddenYamlKeys(doc: Document): Array<{ offset: number; message: string }> {
  const found: Array<{ offset: number; message: string }> = [];
  visit(doc, {
    Pair(_, pair) {
      if (isScalar(pair.key) && typeof pair.key.value === 'string' && FORBIDDEN_KEYS.has(pair.key.value)) {
        found.push({ offset: pair.key.range?.[0] ?? 0, message: forbiddenKeyMessage(pair.key.value) });
      }
    },
  });
  return found;
}

/** Every forbidden key of a value built in code (or parsed from JSON), by path. */
export function forbiddenObjectKeys(value: unknown, path: Array<string | number> = []): PathIssue[] {
  if (Array.isArray(value)) return value.flatMap((item, i) => forbiddenObjectKeys(item, [...path, i]));
  if (value === null || typeof value !== 'object') return [];
  const out: PathIssue[] = [];
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) {
    // `{ __proto__: {...} }` in an object literal sets the prototype: the key never shows.
    out.push({
      path,
      message:
        'is not a plain object (a "__proto__" key in an object literal sets its prototype and is lost)',
    });
  }
  for (const key of Object.keys(value)) {
    if (FORBIDDEN_KEYS.has(key)) out.push({ path: [...path, key], message: forbiddenKeyMessage(key) });
    else out.push(...forbiddenObjectKeys((value as Record<string, unknown>)[key], [...path, key]));
  }
  return out;
}

/** The first alias of a document (where an alias bomb is reported). */
export function firstAliasOffset(doc: Document): number | undefined {
  let offset: number | undefined;
  visit(doc, (_, node) => {
    if (isAlias(node)) {
      offset = node.range?.[0];
      return visit.BREAK;
    }
    return undefined;
  });
  return offset;
}

/**
 * What is valid but probably not meant: printed by `meshguard policy validate`, failing it under
 * `--strict`. Each keeps its meaning (the policy does what it says); mistakes that would change
 * meaning silently are schema errors instead.
 */
export function policyWarnings(doc: PolicyDocument): PathIssue[] {
  const out: PathIssue[] = [];
  if (doc.appliesTo && isEmpty(doc.appliesTo)) {
    out.push({ path: ['appliesTo'], message: 'appliesTo is empty: the policy applies to every agent' });
  }
  doc.rules.forEach((rule, index) => {
    const conditions = rule.conditions;
    if (conditions && isEmpty(conditions)) {
      out.push({
        path: ['rules', index, 'conditions'],
        message: `conditions is empty: the rule ${rule.effect === 'allow' ? 'allows' : 'matches'} unconditionally`,
      });
    }
    if (conditions?.context && isEmpty(conditions.context)) {
      out.push({
        path: ['rules', index, 'conditions', 'context'],
        message: 'context is empty: it adds no condition',
      });
    }
    rule.actions.forEach((pattern, i) => {
      const warning = loosePatternWarning(pattern);
      if (warning) out.push({ path: ['rules', index, 'actions', i], message: warning });
    });
  });
  const ceiling = doc.delegation?.permissionCeiling;
  if (ceiling && ceiling.length === 0) {
    out.push({
      path: ['delegation', 'permissionCeiling'],
      message: 'permissionCeiling is empty: every action of a delegated agent is denied',
    });
  }
  ceiling?.forEach((pattern, i) => {
    const warning = loosePatternWarning(pattern);
    if (warning) out.push({ path: ['delegation', 'permissionCeiling', i], message: warning });
  });
  return out;
}

/** A pattern with a wildcard but no `:` (`read*`) may match verbs and resources it was not meant for. */
function loosePatternWarning(pattern: string): string | undefined {
  if (pattern.includes(':') || !pattern.includes('*') || /^\*+$/.test(pattern)) return undefined;
  return `action pattern "${pattern}" has no ":": it matches across verb and resource (write "verb:resource", e.g. "read:*")`;
}

function isEmpty(value: object): boolean {
  return Object.values(value).every((v) => v === undefined);
}
