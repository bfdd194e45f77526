// The public surface of @meshguard/gateway; what only MeshGuard's CLI uses is in `./internal`.
export type { PublicJwk, TokenAuthority, VerifiedToken } from './agent-tokens';
export { TOKEN_AUDIENCE, TOKEN_ISSUER, TokenError } from './agent-tokens';
export type { Gateway, GatewayOptions } from './gateway-app';
export { createGateway } from './gateway-app';
export type { KeyLog, SigningKeyOption } from './gateway-keys';
export type { PolicyHolder } from './gateway-policies';
export type {
  ApprovalNotifier,
  ApprovalNotifierOptions,
  DeliveryReport,
  QueuedNotification,
} from './notify/approval-notifier';
export { createApprovalNotifier } from './notify/approval-notifier';
export type { NotifyEvent, WebhookChannel, WebhookFormat } from './notify/webhook-channels';
export { WebhookChannelSchema } from './notify/webhook-channels';
export type { RetryPolicy } from './notify/webhook-delivery';
export type { SigningKeyLoader } from './signing-key-file';
export { signingKeyFile } from './signing-key-file';
export type { PrivateJwk, TokenSigner } from './token-signer';
export { generateSigningKey, parseSigningKey } from './token-signer';
