import { readdir, readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import {
  type Clock,
  createPolicyEngine,
  type GatewayState,
  type LoadedPolicy,
  type PolicyEngine,
  PolicyError,
  type PolicyFile,
  type PolicySet,
  parsePolicies,
} from '@meshguard/core';
import { canNotifyChanges, checkUniqueNames } from '@meshguard/core/internal';

/**
 * Parses and validates a policy set; throws core's `PolicyError` (file:line:col) when invalid: a
 * file name or a policy name given twice, a YAML alias bomb and a `__proto__` key included.
 */
function compilePolicyFiles(
  files: readonly PolicyFile[],
  clock: Clock,
): { engine: PolicyEngine; policies: LoadedPolicy[] } {
  const policies: LoadedPolicy[] = [];
  const issues: PolicyError['issues'] = [];
  const names = new Set<string>();
  for (const file of files) {
    // Issues name files (file:line:col): two files of one name would make them ambiguous.
    if (names.has(file.name)) {
      issues.push({
        file: file.name,
        line: 1,
        column: 1,
        message: `duplicate file name "${file.name}" in one push`,
      });
      continue;
    }
    names.add(file.name);
    try {
      policies.push(...parsePolicies(file.text, { file: file.name }));
    } catch (error) {
      if (PolicyError.isInstance(error)) issues.push(...error.issues);
      else throw error;
    }
  }
  if (issues.length > 0) throw new PolicyError(issues);
  checkUniqueNames(policies);
  return { engine: createPolicyEngine(policies, { clock }), policies };
}

/** Reads the `.yaml`, `.yml` and `.json` policy files of a folder (or one file), not case files. */
export async function readPolicyDir(path: string): Promise<PolicyFile[]> {
  let names: string[];
  try {
    names = (await readdir(path)).sort();
  } catch (error) {
    if ((error as { code?: string }).code === 'ENOTDIR')
      return [{ name: basename(path), text: await readFile(path, 'utf8') }];
    throw error;
  }
  const files: PolicyFile[] = [];
  for (const name of names) {
    if (!/\.(ya?ml|json)$/.test(name) || /\.cases\.(ya?ml|json)$/.test(name)) continue;
    files.push({ name, text: await readFile(join(path, name), 'utf8') });
  }
  return files;
}

/**
 * The policy set in force: compiled from the store's latest version, replaced when a push is
 * accepted here or when another replica's push is seen (polled every `pollMs`, or on a change
 * notification where the state supports one). An invalid set never replaces a valid one.
 */
export interface PolicyHolder {
  readonly engine: PolicyEngine;
  readonly version: number;
  /** Validates, stores and enforces a new set; throws `PolicyError` and keeps the old one when invalid. */
  push(files: PolicyFile[]): Promise<PolicySet>;
  /** Loads the store's latest set if it is newer than the one in force. */
  refresh(): Promise<boolean>;
  close(): void;
}

export async function createPolicyHolder(
  state: GatewayState,
  options: {
    clock: Clock;
    initial?: PolicyFile[] | undefined;
    pollMs?: number;
    onError?: (error: unknown) => void;
  },
): Promise<PolicyHolder> {
  const { clock } = options;
  let engine = compilePolicyFiles([], clock).engine;
  let version = 0;

  const adopt = (set: PolicySet) => {
    engine = compilePolicyFiles(set.files, clock).engine;
    version = set.version;
  };

  const holder: PolicyHolder = {
    get engine() {
      return engine;
    },
    get version() {
      return version;
    },
    async push(files) {
      const compiled = compilePolicyFiles(files, clock); // throws before anything is stored
      const set = await state.putPolicies(files);
      engine = compiled.engine;
      version = set.version;
      return set;
    },
    async refresh() {
      const set = await state.getPolicies();
      if (!set || set.version <= version) return false;
      adopt(set);
      return true;
    },
    close() {
      clearInterval(timer);
      unsubscribe?.();
    },
  };

  if (options.initial) {
    const current = await state.getPolicies();
    const same = current && JSON.stringify(current.files) === JSON.stringify(options.initial);
    if (same) adopt(current);
    else await holder.push(options.initial);
  } else {
    await holder.refresh();
  }
  const poll = () =>
    holder.refresh().catch((error: unknown) => {
      // A stored set that no longer compiles (or a read error) leaves the set in force.
      options.onError?.(error);
    });
  const unsubscribe = canNotifyChanges(state)
    ? state.onChange((what) => {
        if (what === 'policies') void poll();
      })
    : undefined;
  const timer = setInterval(poll, options.pollMs ?? 1000);
  timer.unref();
  return holder;
}
