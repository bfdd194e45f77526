import { createMemoryStore, type MemoryStore } from './audit/memory-store';
import { parseWithSchema } from './errors/parse-with-schema';
import { createEmbeddedGuard, type EmbeddedGuard } from './guard/guard';
import { createPolicyEngine } from './policy/policy-engine';
import { definePolicy, type LoadedPolicy, parsePolicies } from './policy/policy-loader';
import type { PolicyDocumentInput } from './policy/policy-schema';
import { type AgentIdentity, type AgentIdentityInput, AgentIdentitySchema } from './protocol/agent-identity';

// The HTTP side the adapters' wire emulators share (each keeps only its protocol).
export type { EmulatorRecord } from './emulators/emulator-record';
export { createEmulatorRecord } from './emulators/emulator-record';
export type {
  DualEmulatorServerOptions,
  EmulatorHttpRequest,
  EmulatorHttpResponse,
  EmulatorServer,
  EmulatorServerOptions,
} from './emulators/emulator-server';
export { readJsonBody, sendJson, startEmulatorServer } from './emulators/emulator-server';

/** A clock tests can set and move. */
export interface TestClock {
  (): number;
  set(time: Date | string | number): void;
  advance(ms: number): void;
}

/** A controllable clock, starting at `start` (default 2026-01-05T10:00:00Z, a Monday morning). */
export function createTestClock(start: Date | string | number = '2026-01-05T10:00:00Z'): TestClock {
  let now = toMs(start);
  const clock = (() => now) as TestClock;
  clock.set = (time) => {
    now = toMs(time);
  };
  clock.advance = (ms) => {
    now += ms;
  };
  return clock;
}

function toMs(time: Date | string | number): number {
  const ms = typeof time === 'number' ? time : typeof time === 'string' ? Date.parse(time) : time.getTime();
  if (Number.isNaN(ms)) throw new TypeError(`not a time: ${String(time)}`);
  return ms;
}

/** What `createTestGuard` gives: the guard, the store it writes to, and the clock it reads. */
export interface TestGuard {
  guard: EmbeddedGuard;
  store: MemoryStore;
  clock: TestClock;
}

export interface TestGuardOptions {
  /** Policy YAML/JSON text, a policy object, or several; or policies already loaded. */
  policy:
    | string
    | PolicyDocumentInput
    | ReadonlyArray<string | PolicyDocumentInput>
    | readonly LoadedPolicy[];
  /** When decisions are made (default: a Monday 10:00 UTC). */
  now?: Date | string | number;
  framework?: string;
}

/**
 * An embedded guard over inline policies, an in-memory store and a controllable clock: the
 * fixture adapters' tests and users' tests share.
 *
 * @example
 * const { guard, store } = createTestGuard({ policy: 'name: p\nversion: "1"\nrules: []' });
 */
export function createTestGuard(options: TestGuardOptions): TestGuard {
  const clock = createTestClock(options.now);
  const list = Array.isArray(options.policy) ? options.policy : [options.policy];
  const policies: LoadedPolicy[] = [];
  for (const item of list) {
    if (typeof item === 'string') policies.push(...parsePolicies(item));
    else if (isLoaded(item)) policies.push(item);
    else policies.push(definePolicy(item as PolicyDocumentInput));
  }
  const store = createMemoryStore();
  const engine = createPolicyEngine(policies, { clock });
  const guard = createEmbeddedGuard({ engine, store, ownsStore: true, clock, framework: options.framework });
  return { guard, store, clock };
}

function isLoaded(item: unknown): item is LoadedPolicy {
  return typeof item === 'object' && item !== null && 'document' in item && 'file' in item;
}

/** An agent identity with defaults (`id` from the name, tier `basic`, no tags). */
export function testAgent(input: Partial<AgentIdentityInput> & { name?: string } = {}): AgentIdentity {
  const name = input.name ?? 'test-agent';
  return parseWithSchema(
    AgentIdentitySchema,
    { id: input.id ?? name, name, tags: input.tags ?? [], tier: input.tier ?? 'basic' },
    'agent',
  );
}
