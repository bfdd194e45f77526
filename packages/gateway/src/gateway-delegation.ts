import {
  type AgentIdentity,
  type AgentRecord,
  ConfigError,
  type Decision,
  type GatewayState,
} from '@meshguard/core';
import type { HandoffToken } from '@meshguard/core/internal';
import type { FastifyBaseLogger } from 'fastify';
import { type TokenAuthority, TokenError } from './agent-tokens';
import { actClaim, MAX_DELEGATION_CHAIN } from './delegation-claims';

/**
 * Delegation over the gateway. When an agent's `handoff:<target>` check is allowed, the gateway
 * issues the target a short-lived delegated token (token exchange in the manner of RFC 8693):
 * bound to the target agent (`sub`), carrying in its `act` claim every agent the work came
 * through. Checks made with that token are decided with the chain the token carries: a chain in
 * the body is ignored, so dropping or editing it changes nothing. Handing off again with a
 * delegated token extends its chain; nothing resets it.
 */

export type { HandoffToken } from '@meshguard/core/internal';
// The check route's body and reply (their schemas are the wire's, in core).
export { DelegatingCheckBodySchema, DelegatingDecisionReplySchema } from '@meshguard/core/internal';

export interface DelegationOptions {
  /** How long a delegated token lives (seconds, default 300); never past the caller's own token. */
  ttlSeconds?: number;
}

/** What the gateway knows of the agent asking, from its verified token. */
export interface Caller {
  agent: AgentIdentity;
  /** The chain its token carries (a delegated token), or undefined (the agent's own token). */
  delegation: AgentIdentity[] | undefined;
  expiresAt: string;
}

export function createDelegation(
  state: GatewayState,
  tokens: TokenAuthority,
  options: DelegationOptions = {},
) {
  const ttlSeconds = options.ttlSeconds ?? 300;
  if (!Number.isInteger(ttlSeconds) || ttlSeconds <= 0) {
    throw new ConfigError(`delegation.ttlSeconds must be a positive whole number, not ${ttlSeconds}`, {
      code: 'config_invalid',
    });
  }

  /**
   * The target a handoff action names, by name only: policies decide `handoff:<name>`, so a target
   * found any other way (`handoff:<an agent id>`) could be one the policy denies by name.
   * `handoffTarget` (an id) picks among namesakes and must carry the name.
   */
  async function resolveTarget(
    target: string,
    byId: string | undefined,
  ): Promise<{ agent: AgentRecord } | { why: string }> {
    if (byId !== undefined) {
      const agent = await state.getAgent(byId);
      if (!agent || agent.revokedAt) return { why: `no active agent has the id "${byId}"` };
      if (agent.name !== target) return { why: `agent "${byId}" is named "${agent.name}", not "${target}"` };
      return { agent };
    }
    const active = (await state.listAgents()).filter((a) => !a.revokedAt);
    const named = active.filter((a) => a.name === target);
    if (named.length === 1) return { agent: named[0]! };
    return {
      why:
        named.length === 0
          ? `no active agent is named "${target}"`
          : `${named.length} agents are named "${target}": name one with handoffTarget`,
    };
  }

  return {
    /** Refuses a delegated token one of whose delegators is unknown or revoked. */
    async assertChainActive(chain: readonly AgentIdentity[]): Promise<void> {
      for (const agent of chain) {
        const record = await state.getAgent(agent.id);
        if (!record) throw new TokenError(`agent "${agent.id}" on the token's delegation chain is unknown`);
        if (record.revokedAt)
          throw new TokenError(`agent "${agent.id}" on the token's delegation chain was revoked`);
      }
    },

    /**
     * The chain a check is decided with: a delegated token's own, whatever the body says; with an
     * agent's own token, the body's (a chain can only narrow what an agent may do).
     */
    chainFor(caller: Caller, fromBody: AgentIdentity[] | undefined): AgentIdentity[] | undefined {
      return caller.delegation ?? fromBody;
    },

    /**
     * A delegated token for the target of an allowed handoff, or undefined (not a handoff, not
     * allowed, or a target this gateway does not know: no token, and the reason logged).
     */
    async handoffToken(
      caller: Caller,
      check: { action: string; handoffTarget?: string | undefined },
      decision: Decision,
      log: FastifyBaseLogger,
    ): Promise<HandoffToken | undefined> {
      if (!decision.allowed || !check.action.startsWith('handoff:')) return undefined;
      const target = check.action.slice('handoff:'.length);
      const resolved = await resolveTarget(target, check.handoffTarget);
      if ('why' in resolved) {
        log.info({ action: check.action, why: resolved.why }, 'handoff allowed; no delegated token issued');
        return undefined;
      }
      // Only the verified chain is signed: a chain a body claims never enters a token.
      const delegation = [...(caller.delegation ?? []), caller.agent];
      if (delegation.length > MAX_DELEGATION_CHAIN) {
        log.info({ action: check.action }, 'handoff allowed; the delegation chain is too long for a token');
        return undefined;
      }
      const left = Math.floor((Date.parse(caller.expiresAt) - Date.now()) / 1000);
      const ttl = Math.min(ttlSeconds, left);
      if (ttl <= 0) return undefined;
      const { id, name, tags, tier } = resolved.agent;
      const agent: AgentIdentity = { id, name, tags, tier };
      const issued = await tokens.issue(agent, ttl, actClaim(delegation));
      return { token: issued.token, agent, delegation, expiresAt: issued.expiresAt };
    },
  };
}

export type Delegation = ReturnType<typeof createDelegation>;
