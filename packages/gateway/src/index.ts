export type { PublicJwk, TokenAuthority, VerifiedToken } from './agent-tokens';
export { createTokenAuthority, TOKEN_AUDIENCE, TOKEN_ISSUER, TokenError } from './agent-tokens';
export type { Gateway, GatewayOptions } from './gateway-app';
export { createGateway } from './gateway-app';
export type { PolicyHolder } from './gateway-policies';
export { compilePolicyFiles, readPolicyDir } from './gateway-policies';
