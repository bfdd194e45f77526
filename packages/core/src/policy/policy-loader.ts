import { readdir, readFile, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import createDebug from 'debug';
import {
  type Document,
  isMap,
  isPair,
  isScalar,
  isSeq,
  LineCounter,
  type Node,
  parseAllDocuments,
} from 'yaml';
import type { z } from 'zod';
import { ConfigError, formatPolicyIssue, PolicyError, type PolicyIssue } from '../errors/meshguard-error';
import {
  firstAliasOffset,
  forbiddenObjectKeys,
  forbiddenYamlKeys,
  type PathIssue,
  policyWarnings,
} from './policy-lint';
import { type PolicyDocument, type PolicyDocumentInput, PolicyDocumentSchema } from './policy-schema';

/** A validated policy and where it came from. */
export interface LoadedPolicy {
  document: PolicyDocument;
  /** The file it was read from, or `<inline>` for a string or object. */
  file: string;
  /** 1-based line of the document's start in its file (for multi-document YAML). */
  line: number;
  /** What is valid but probably not meant (an empty `conditions: {}`...), with file:line:col. */
  warnings?: PolicyIssue[];
}

/** How many nodes a document may reach through aliases (the `yaml` package's own default). */
const MAX_ALIAS_COUNT = 100;

const debug = createDebug('meshguard:policy');

const POLICY_EXTENSIONS = new Set(['.yaml', '.yml', '.json']);

/**
 * Parses and validates policy text (YAML or JSON; several YAML documents may be separated by
 * `---`). Every problem is reported at once with file:line:col, in a {@link PolicyError}.
 *
 * @example
 * const [policy] = parsePolicies(fs.readFileSync('policy.yaml', 'utf8'), { file: 'policy.yaml' });
 */
export function parsePolicies(text: string, options: { file?: string } = {}): LoadedPolicy[] {
  const file = options.file ?? '<inline>';
  const docs = parseYamlAs(PolicyDocumentSchema, text, {
    file,
    what: 'policy document',
    lint: policyWarnings,
  });
  return docs.map(({ value, line, warnings }) => ({
    document: value,
    file,
    line,
    ...(warnings.length > 0 ? { warnings } : {}),
  }));
}

/**
 * Parses YAML (or JSON) text holding one or more documents and validates each with a zod schema.
 * Every problem (syntax, unknown key, wrong type...) is reported at once with file:line:col in a
 * {@link PolicyError}. Policy test case files and other YAML inputs share it.
 */
export function parseYamlAs<S extends z.ZodType>(
  schema: S,
  text: string,
  options: {
    file?: string;
    what?: string;
    knownKeys?: readonly string[];
    /** Finds warnings in a valid document (returned beside it, never thrown). */
    lint?: (value: z.output<S>) => PathIssue[];
  } = {},
): Array<{ value: z.output<S>; line: number; warnings: PolicyIssue[] }> {
  const file = options.file ?? '<inline>';
  const what = options.what ?? 'document';
  const lineCounter = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const issues: PolicyIssue[] = [];
  const position = (offset: number) => {
    const { line, col } = lineCounter.linePos(offset);
    return { file, line, column: col };
  };
  const empty = () =>
    new PolicyError([{ file, line: 1, column: 1, message: `no ${what} found (the file is empty)` }]);
  // An empty stream parses to an EmptyStream: a file with nothing in it is not a document.
  if (!Array.isArray(docs)) throw empty();
  const out: Array<{ value: z.output<S>; line: number; warnings: PolicyIssue[] }> = [];
  for (const doc of docs) {
    const start = doc.contents?.range?.[0] ?? doc.range[0];
    if (doc.errors.length > 0) {
      for (const error of doc.errors) {
        issues.push({ ...position(error.pos[0]), message: `YAML syntax error: ${firstLine(error.message)}` });
      }
      continue;
    }
    if (doc.contents === null) continue; // a trailing `---` or a comment-only document
    const forbidden = forbiddenYamlKeys(doc);
    if (forbidden.length > 0) {
      for (const f of forbidden) issues.push({ ...position(f.offset), message: f.message });
      continue;
    }
    let input: unknown;
    try {
      // Aliases may repeat a node, but not expand it exponentially (a "billion laughs" bomb).
      input = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
    } catch (error) {
      const bomb = /alias/i.test((error as Error).message);
      issues.push({
        ...position(bomb ? (firstAliasOffset(doc) ?? start) : start),
        message: bomb
          ? `YAML aliases expand too far (more than ${MAX_ALIAS_COUNT} nodes through aliases): refused as a possible alias bomb`
          : `YAML error: ${firstLine((error as Error).message)}`,
      });
      continue;
    }
    const parsed = schema.safeParse(input);
    if (!parsed.success) {
      for (const issue of parsed.error.issues) {
        issues.push(...describeIssue(issue, doc, position, options.knownKeys ?? POLICY_KEYS));
      }
      continue;
    }
    const warnings = (options.lint?.(parsed.data) ?? []).map((w) => ({
      ...position(locate(doc, w.path)?.range?.[0] ?? start),
      message: w.message,
    }));
    out.push({ value: parsed.data, line: position(start).line, warnings: sortIssues(warnings) });
  }
  if (issues.length > 0) throw new PolicyError(sortIssues(issues));
  if (out.length === 0) throw empty();
  return out;
}

/** Validates a policy given as an object (e.g. built in code); errors name the field. */
export function definePolicy(input: PolicyDocumentInput, options: { file?: string } = {}): LoadedPolicy {
  const file = options.file ?? '<inline>';
  const forbidden = forbiddenObjectKeys(input);
  if (forbidden.length > 0) {
    throw new PolicyError(
      forbidden.map((f) => ({
        file,
        line: 1,
        column: 1,
        message: f.path.length > 0 ? `${formatPath(f.path)}: ${f.message}` : `the policy ${f.message}`,
      })),
    );
  }
  const parsed = PolicyDocumentSchema.safeParse(input);
  if (!parsed.success) {
    throw new PolicyError(
      parsed.error.issues.map((issue) => ({ file, line: 1, column: 1, message: issueMessage(issue) })),
    );
  }
  const warnings = policyWarnings(parsed.data).map((w) => ({
    file,
    line: 1,
    column: 1,
    message: `${formatPath(w.path)}: ${w.message}`,
  }));
  return { document: parsed.data, file, line: 1, ...(warnings.length > 0 ? { warnings } : {}) };
}

/**
 * Loads policies from files and folders (a folder: every .yaml, .yml and .json file in it,
 * recursively, in name order). Problems in every file are collected into one {@link PolicyError}.
 */
export async function loadPolicies(paths: string | readonly string[]): Promise<LoadedPolicy[]> {
  const list = typeof paths === 'string' ? [paths] : paths;
  const files: string[] = [];
  for (const path of list) files.push(...(await policyFiles(path)));
  const loaded: LoadedPolicy[] = [];
  const issues: PolicyIssue[] = [];
  for (const file of files) {
    const text = await readFile(file, 'utf8');
    try {
      loaded.push(...parsePolicies(text, { file }));
    } catch (error) {
      if (PolicyError.isInstance(error)) issues.push(...(error as PolicyError).issues);
      else throw error;
    }
  }
  if (issues.length > 0) throw new PolicyError(issues);
  checkUniqueNames(loaded);
  // Applications print warnings (`meshguard policy validate`); a library only logs them.
  for (const warning of loaded.flatMap((p) => p.warnings ?? []))
    debug('warning: %s', formatPolicyIssue(warning));
  return loaded;
}

/** Rejects two policies with one name: audit events name policies, so names must be unambiguous. */
export function checkUniqueNames(policies: readonly LoadedPolicy[]): void {
  const seen = new Map<string, LoadedPolicy>();
  const issues: PolicyIssue[] = [];
  for (const policy of policies) {
    const before = seen.get(policy.document.name);
    if (before) {
      issues.push({
        file: policy.file,
        line: policy.line,
        column: 1,
        message: `duplicate policy name "${policy.document.name}" (also in ${before.file}:${before.line})`,
      });
    } else {
      seen.set(policy.document.name, policy);
    }
  }
  if (issues.length > 0) throw new PolicyError(issues);
}

async function policyFiles(path: string): Promise<string[]> {
  let info: Awaited<ReturnType<typeof stat>>;
  try {
    info = await stat(path);
  } catch (error) {
    throw new ConfigError(`cannot read policies from "${path}": no such file or folder`, {
      code: 'policy_not_found',
      cause: error,
    });
  }
  if (info.isFile()) return [path];
  const found: string[] = [];
  const entries = await readdir(path, { withFileTypes: true });
  entries.sort((a, b) => a.name.localeCompare(b.name));
  for (const entry of entries) {
    const full = join(path, entry.name);
    if (entry.isDirectory()) found.push(...(await policyFiles(full)));
    else if (entry.isFile() && POLICY_EXTENSIONS.has(extname(entry.name)) && !isCaseFile(entry.name)) {
      found.push(full);
    }
  }
  return found;
}

/** Policy test case files (`*.cases.yaml`, `*.test.yaml`) may sit beside policies. */
function isCaseFile(name: string): boolean {
  return /\.(cases|test|tests)\.(ya?ml|json)$/.test(name);
}

type Position = (offset: number) => { file: string; line: number; column: number };

function describeIssue(
  issue: z.core.$ZodIssue,
  doc: Document,
  position: Position,
  knownKeys: readonly string[],
): PolicyIssue[] {
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => {
      const node = locateKey(doc, issue.path, key);
      const where = issue.path.length > 0 ? ` in ${formatPath(issue.path)}` : '';
      const hint = suggest(key, knownKeys);
      return {
        ...position(node?.range?.[0] ?? 0),
        message: `unknown key "${key}"${where}${hint ? ` (did you mean "${hint}"?)` : ''}`,
      };
    });
  }
  if (issue.code === 'invalid_key') {
    // A record key that breaks its schema (a malformed context path): point at the key itself.
    const key = issue.path[issue.path.length - 1];
    const node = locateKey(doc, issue.path.slice(0, -1), String(key));
    const inner = issue.issues[0]?.message ?? issue.message;
    return [{ ...position(node?.range?.[0] ?? 0), message: `${formatPath(issue.path)}: ${inner}` }];
  }
  const node = locate(doc, issue.path);
  const missing = issue.path.length > 0 && !doc.hasIn(issue.path);
  const message = missing ? `${formatPath(issue.path)}: is required` : issueMessage(issue);
  return [{ ...position(node?.range?.[0] ?? 0), message }];
}

function issueMessage(issue: z.core.$ZodIssue): string {
  const path = issue.path.length > 0 ? `${formatPath(issue.path)}: ` : '';
  if (issue.code === 'unrecognized_keys') {
    return `${path}unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
  }
  if (issue.code === 'invalid_type' && issue.message.endsWith('received undefined')) {
    return `${path}is required`;
  }
  return `${path}${issue.message}`;
}

/** The deepest node that exists along `path` (a missing key points at its parent). */
function locate(doc: Document, path: readonly PropertyKey[]): Node | undefined {
  let node: unknown = doc.contents;
  let found = node as Node | undefined;
  for (const segment of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && p.key.value === segment);
      if (!pair) return found;
      node = pair.value ?? pair.key;
    } else if (isSeq(node) && typeof segment === 'number') {
      node = node.items[segment];
    } else {
      return found;
    }
    if (node && (isScalar(node) || isMap(node) || isSeq(node))) found = node as Node;
    else return found;
  }
  return found;
}

function locateKey(doc: Document, path: readonly PropertyKey[], key: string): Node | undefined {
  const parent = locate(doc, path);
  if (isMap(parent)) {
    const pair = parent.items.find((p) => isPair(p) && isScalar(p.key) && p.key.value === key);
    if (pair && isScalar(pair.key)) return pair.key;
  }
  return parent;
}

function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else out += out ? `.${String(segment)}` : String(segment);
  }
  return out;
}

function firstLine(message: string): string {
  return message.split('\n')[0]!.trim();
}

function sortIssues(issues: PolicyIssue[]): PolicyIssue[] {
  return issues.sort((a, b) => a.line - b.line || a.column - b.column);
}

const POLICY_KEYS = [
  'name',
  'version',
  'description',
  'appliesTo',
  'mode',
  'rules',
  'defaultEffect',
  'delegation',
  'tags',
  'agents',
  'tiers',
  'id',
  'effect',
  'actions',
  'conditions',
  'reason',
  'amount_max',
  'amount_min',
  'time_range',
  'timezone',
  'days',
  'trust_tier_min',
  'context',
  'maxDepth',
  'permissionCeiling',
  'eq',
  'ne',
  'in',
  'not_in',
  'lt',
  'lte',
  'gt',
  'gte',
  'matches',
  'exists',
];

function suggest(key: string, knownKeys: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(key.length / 4)) + 1;
  for (const known of knownKeys) {
    const d = editDistance(key.toLowerCase(), known.toLowerCase());
    if (d < bestDistance) {
      best = known;
      bestDistance = d;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length]!;
}
