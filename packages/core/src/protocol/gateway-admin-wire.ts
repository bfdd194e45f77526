import { z } from 'zod';
import { AgentIdentitySchema } from './agent-identity';
import { described } from './described-schema';
import { TrustTierSchema } from './trust-tier';

// The bodies and replies of the gateway's admin routes (agents, tokens, policies) and of its
// public ones (the signing keys, liveness).

export const CreateAgentBodySchema = z.object({
  id: z.string().min(1).max(256).optional().describe('The agent id (generated when absent).'),
  name: z.string().min(1).max(256).describe('A readable name, recorded with every event of the agent.'),
  tags: z
    .array(z.string().min(1).max(128))
    .max(64)
    .default([])
    .describe('What policies select agents by (`appliesTo.tags`).'),
  tier: TrustTierSchema.default('basic').describe(
    'How far the agent is trusted (policies can require a tier).',
  ),
  /** Token lifetime in seconds (default 30 days). */
  ttl: z
    .number()
    .int()
    .positive()
    .max(366 * 86_400)
    .default(30 * 86_400)
    .describe('The token lifetime in seconds.'),
});
const AgentRecordSchema = described(AgentIdentitySchema, {
  id: 'The agent id (the `sub` of its tokens).',
  name: 'Its readable name.',
  tags: 'Its tags.',
  tier: 'Its trust tier.',
}).extend({
  createdAt: z.string().describe('When it was registered (ISO date-time).'),
  revokedAt: z.string().optional().describe('When it was revoked, if it was.'),
});
export const CreateAgentReplySchema = z
  .object({
    agent: AgentRecordSchema.describe('The registered agent.'),
    token: z.string().describe('Its token (an EdDSA JWT): shown this once.'),
    expiresAt: z.string().describe('When the token expires (ISO date-time).'),
  })
  .describe('The agent is registered and its token issued.');
export const AgentListReplySchema = z
  .object({ agents: z.array(AgentRecordSchema).describe('Every registered agent, revoked ones included.') })
  .describe('The agents.');
export const AgentParamsSchema = z.object({ id: z.string().min(1).max(256).describe('The agent id.') });
export const TokenParamsSchema = z.object({
  jti: z.string().min(1).max(256).describe('The `jti` claim of the token.'),
});

const PolicyFileSchema = z.object({
  name: z.string().min(1).max(256).describe('The file name, used in error locations (`file:line:column`).'),
  text: z.string().max(1_000_000).describe('The policy, in YAML.'),
});
export const PutPoliciesBodySchema = z.object({
  files: z.array(PolicyFileSchema).min(1).max(500).describe('The whole new policy set.'),
});
export const PolicySetReplySchema = z
  .object({
    version: z.number().int().describe('The version of the set (0 before the first push).'),
    files: z.array(PolicyFileSchema).describe('Its files.'),
    updatedAt: z.string().optional().describe('When it was pushed (ISO date-time).'),
  })
  .describe('The policy set in force.');

export const JwksReplySchema = z
  .object({
    keys: z
      .array(
        z.object({
          kty: z.string().describe('`OKP`.'),
          crv: z.string().describe('`Ed25519`.'),
          x: z.string().describe('The public key (base64url).'),
          kid: z.string().describe('The key id, the `kid` header of the tokens it signs.'),
          alg: z.string().describe('`EdDSA`.'),
          use: z.string().describe('`sig`.'),
        }),
      )
      .describe('The public keys (JWK).'),
  })
  .describe('The key set.');
export const HealthReplySchema = z
  .object({
    status: z.literal('ok').describe('The gateway is serving.'),
    policyVersion: z.number().int().describe('The version of the policy set in force.'),
  })
  .describe('The gateway is up.');
