// `@meshguard/core/internal`: what MeshGuard's own packages (store, gateway, CLI, adapters) share
// and users need not. No semver promise: it changes with the packages that use it, which are
// released together. Users import from `@meshguard/core`.
export {
  approvalEventBody,
  approvalReason,
  approvalRequestedBody,
  approvalState,
  approverRefusal,
} from './approvals/approval-flow';
export { canKeepApprovals, canNotifyApprovals } from './approvals/approval-store';
export { createGuardApprovals } from './approvals/guard-approvals';
export { createMemoryApprovals } from './approvals/memory-approvals';
export { claimParkedGroup } from './approvals/run-parking';
export { chainHash, eventBody } from './audit/audit-chain';
export { compileAuditFilter } from './audit/audit-filter-match';
export { canFollow, canJournal, canReportStats } from './audit/audit-store';
export { wrapAuditStore } from './audit/audit-store-wrapper';
export { redactBody } from './audit/redaction';
export type { SchemaParse, SchemaSubject } from './errors/parse-with-schema';
export { parseWithSchema, safeParseWithSchema } from './errors/parse-with-schema';
export {
  ensurePrivateFile,
  makePrivateDir,
  PRIVATE_DIR_MODE,
  PRIVATE_FILE_MODE,
  tightenIfExists,
} from './files/private-files';
export {
  answeredAtGateway,
  approvalStateOf,
  approvalsOf,
  awaitApprovalAnswer,
  isAllowed,
  notApprovedReason,
  withdrawApproval,
} from './guard/adapter-approvals';
export type { IdentityDefaults } from './guard/adapter-contract';
export {
  approvalFailedDecision,
  BUILTIN_TOOL_ACTIONS,
  checkApprovalAnswer,
  createIdentityCache,
  failedCheckReason,
  NO_APPROVER,
} from './guard/adapter-contract';
export { DEFAULT_DB } from './guard/guard-settings';
export { redactUrl } from './guard/remote-url';
export { isoTime } from './ids/uuidv7';
export { formatDuration, parseDuration } from './policy/duration';
export { checkUniqueNames, parseYamlAs } from './policy/policy-loader';
export {
  AppliesToSchema,
  ApprovalSettingsSchema,
  ConditionsSchema,
  ContextOperatorSchema,
  DelegationLimitsSchema,
  RuleSchema,
} from './policy/policy-schema';
export { ApprovalListQuerySchema, ApprovalStatusSchema } from './protocol/approval';
export { auditEventJsonSchema } from './protocol/audit-event-json-schema';
export type { ParsedAuditFilter } from './protocol/audit-filter';
export { EffectSchema } from './protocol/decision';
export { FRAMEWORK_NAMES } from './protocol/framework-names';
export {
  AgentListReplySchema,
  AgentParamsSchema,
  CreateAgentBodySchema,
  CreateAgentReplySchema,
  HealthReplySchema,
  JwksReplySchema,
  PolicySetReplySchema,
  PutPoliciesBodySchema,
  TokenParamsSchema,
} from './protocol/gateway-admin-wire';
export type { HandoffToken } from './protocol/gateway-agent-wire';
export {
  BatchCheckBodySchema,
  BatchCheckReplySchema,
  DelegatingCheckBodySchema,
  DelegatingDecisionReplySchema,
  JudgeBodySchema,
  JudgeReplySchema,
  OutcomeBodySchema,
  OutcomeEventBodySchema,
  OutcomeReplySchema,
  ReachableBodySchema,
  ReachableReplySchema,
} from './protocol/gateway-agent-wire';
export {
  AgentApprovalQuerySchema,
  AgentApprovalReplySchema,
  AnswerApprovalBodySchema,
  ApprovalPageReplySchema,
  ApprovalParamsSchema,
  ApprovalReplySchema,
  ApproverListReplySchema,
  ApproverParamsSchema,
  CreateApproverBodySchema,
  CreateApproverReplySchema,
} from './protocol/gateway-approval-wire';
export {
  AuditPageSchema,
  AuditQuerySchema,
  StatsQuerySchema,
  StatsReplySchema,
  TailQuerySchema,
  TailReplySchema,
  VerifyReplySchema,
} from './protocol/gateway-audit-wire';
export { ErrorReplySchema } from './protocol/gateway-error-wire';
export { CLIENT_GAVE_UP } from './protocol/outcome-event';
export { TRUST_TIERS, TrustTierSchema } from './protocol/trust-tier';
export { canNotifyChanges } from './state/gateway-state';
export { RecentMap } from './util/recent-map';
