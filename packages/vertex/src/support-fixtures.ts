// Test fixtures shared by this package's tests: the seed's customer support functions, the
// policy, and both real SDK clients pointed at the emulator.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type Content, type FunctionDeclaration, GoogleGenAI } from '@google/genai';
import { type FunctionDeclarationsTool, VertexAI } from '@google-cloud/vertexai';
import type { AuditEvent } from '@meshguard/core';
import { createTestGuard } from '@meshguard/core/testing';
import { Agent, getGlobalDispatcher, setGlobalDispatcher } from 'undici';
import { afterEach, expect } from 'vitest';
import { fixedTokenAuthClient } from './fixed-token-auth-client';
import { type GovernedFunction, type GovernedFunctions, governFunctions } from './govern-functions';
import {
  startVertexEmulator,
  textPart,
  type VertexEmulator,
  type VertexEmulatorOptions,
  type VertexRequest,
} from './vertex-emulator';

const SUPPORT_POLICY = readFileSync(
  fileURLToPath(new URL('../../../examples/policies/vertex-support.yaml', import.meta.url)),
  'utf8',
);

/** The support policy's text (for guards built by hand, or in a child process). */
export const SUPPORT_POLICY_TEXT = SUPPORT_POLICY;

export const SUPPORT_IDENTITY = {
  name: 'Customer Support Agent',
  tags: ['vertex', 'support'],
  tier: 'verified' as const,
};

export const MODEL = 'gemini-2.5-flash';

/** A guard over the support policy (plus extra policies), in memory, on a Monday at 10:00 UTC. */
export function supportGuard(extra: string[] = []) {
  return createTestGuard({ policy: [SUPPORT_POLICY, ...extra], framework: 'test' });
}

/** The seed's functions mapped onto the policy's actions; `ran` says what really ran. */
export function supportFunctions() {
  const ran: string[] = [];
  const functions: Record<string, GovernedFunction<FunctionDeclaration>> = {
    lookup_customer: {
      action: 'read:customer_data',
      declaration: {
        description: 'Look up a customer by email address.',
        parametersJsonSchema: {
          type: 'object',
          properties: { email: { type: 'string' } },
          required: ['email'],
        },
      },
      handler: ({ email }) => {
        ran.push(`lookup_customer ${email}`);
        return { name: 'John Doe', email, id: 'CUST-001', tier: 'Gold' };
      },
    },
    get_order_details: {
      action: 'read:order_data',
      declaration: {
        description: 'Get details for a specific order.',
        parametersJsonSchema: {
          type: 'object',
          properties: { order_id: { type: 'string' } },
          required: ['order_id'],
        },
      },
      handler: ({ order_id }) => {
        ran.push(`get_order_details ${order_id}`);
        return `Order ${order_id}: Wireless Headphones, $79.99, delivered 2024-01-15`;
      },
    },
    process_refund: {
      action: 'write:refund',
      declaration: {
        description: 'Process a refund for an order.',
        parametersJsonSchema: {
          type: 'object',
          properties: {
            order_id: { type: 'string' },
            amount: { type: 'number' },
            reason: { type: 'string' },
          },
          required: ['order_id', 'amount'],
        },
      },
      handler: ({ order_id, amount }) => {
        ran.push(`process_refund ${order_id} ${amount}`);
        return { status: 'refunded', order_id, amount, ref: 'REF-0001' };
      },
    },
  };
  return { ran, functions };
}

/** `@google/genai` in Vertex mode against the emulator (plain HTTP). */
export function genaiClient(emulator: VertexEmulator) {
  return new GoogleGenAI({
    vertexai: true,
    project: 'meshguard-test',
    location: 'us-central1',
    googleAuthOptions: { authClient: fixedTokenAuthClient() as never },
    httpOptions: { baseUrl: emulator.url },
  });
}

/** A genai chat over the emulator offering `governed`'s functions; `history` rebuilds a parked one. */
export function chatOf(
  emulator: VertexEmulator,
  governed: GovernedFunctions<FunctionDeclaration>,
  history?: Content[],
) {
  return genaiClient(emulator).chats.create({
    model: MODEL,
    config: { tools: [governed.tool] },
    ...(history ? { history } : {}),
  });
}

/**
 * `@google-cloud/vertexai` against the emulator over TLS. The SDK calls the global `fetch`: the
 * test trusts the emulator's CA through fetch's dispatcher (restored by the returned function);
 * `legacy-sdk.test.ts` also proves the `NODE_EXTRA_CA_CERTS` way in a child process.
 */
function legacyClient(emulator: VertexEmulator) {
  if (!emulator.ca) throw new Error('the legacy SDK needs an emulator started with tls');
  const previous = getGlobalDispatcher();
  setGlobalDispatcher(new Agent({ connect: { ca: emulator.ca } }));
  const vertex = new VertexAI({
    project: 'meshguard-test',
    location: 'us-central1',
    apiEndpoint: emulator.apiEndpoint,
    googleAuthOptions: { authClient: fixedTokenAuthClient() as never },
  });
  return { vertex, restore: () => setGlobalDispatcher(previous) };
}

/** The trail of one trace as short lines: `type action effect[/outcome]`. */
export function trail(events: AuditEvent[]): string[] {
  return events.map((e) => [e.type, e.action, e.outcome ? `${e.effect}/${e.outcome}` : e.effect].join(' '));
}

/** The function responses in the newest user turn of a request (what the model just got back). */
export function lastFunctionResponses(
  contents: Array<{ role?: string; parts?: Array<Record<string, unknown>> }> = [],
) {
  const last = contents.at(-1);
  return (last?.parts ?? [])
    .map(
      (p) =>
        p.functionResponse as { id?: string; name: string; response: Record<string, unknown> } | undefined,
    )
    .filter((r) => r !== undefined);
}

/** The emulated model relays what the function responses said: a block is told to the user. */
export function relay(request: VertexRequest) {
  return {
    parts: [
      textPart(
        lastFunctionResponses(request.body.contents)
          .map((r) => (r.response.error ? `Sorry: ${String(r.response.error)}` : `Done: ${r.name}`))
          .join(' '),
      ),
    ],
  };
}

/** Starts an emulator per test and closes it (and whatever else the test opened) afterwards. */
export function useEmulator() {
  let current: VertexEmulator | undefined;
  const cleanups: Array<() => void> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0)) cleanup();
    await current?.close();
    current = undefined;
  });
  return {
    start: async (options: VertexEmulatorOptions) => {
      current = await startVertexEmulator(options);
      return current;
    },
    /** A legacy model over TLS with the governed declarations; the CA trust is undone after the test. */
    legacyModel(emulator: VertexEmulator, governed: GovernedFunctions<FunctionDeclaration>) {
      const { vertex, restore } = legacyClient(emulator);
      cleanups.push(restore);
      return vertex.getGenerativeModel({ model: MODEL, tools: [governed.tool as FunctionDeclarationsTool] });
    },
    /** Its chat: `startChat()` without an argument would drop `apiEndpoint`. */
    legacyChat(emulator: VertexEmulator, governed: GovernedFunctions<FunctionDeclaration>) {
      return this.legacyModel(emulator, governed).startChat({});
    },
  };
}

/** The usual test setup: the support guard and functions, governed under `traceId`. */
export function supportScenario(traceId: string, extraPolicies: string[] = []) {
  const { guard, store } = supportGuard(extraPolicies);
  const { ran, functions } = supportFunctions();
  const governed = governFunctions({ guard, identity: SUPPORT_IDENTITY, functions, traceId });
  /** The trace's events, oldest first; each checked to be this agent's, in this trace, stamped by this adapter. */
  const recorded = async () => {
    const { events } = await store.query({ traceId, order: 'asc' });
    for (const event of events) {
      expect(event).toMatchObject({
        traceId,
        framework: 'vertex',
        agent: { id: SUPPORT_IDENTITY.name, name: SUPPORT_IDENTITY.name, tags: SUPPORT_IDENTITY.tags },
        source: { name: '@meshguard/vertex' },
      });
    }
    return events;
  };
  return { guard, store, ran, functions, governed, recorded };
}
