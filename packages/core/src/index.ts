export type {
  ChainHead,
  ChainProblem,
  ChainProblemKind,
  StreamReport,
  VerifyReport,
} from './audit/audit-chain';
export {
  chainEvents,
  chainHash,
  eventBody,
  GENESIS_HASH,
  hashEvent,
  StreamVerifier,
  verifyEvents,
} from './audit/audit-chain';
export { compareEvents, compileAuditFilter, decodeCursor, encodeCursor } from './audit/audit-filter-match';
export type {
  AuditPage,
  AuditStore,
  FollowingStore,
  JournalingStore,
  StatsStore,
  StoreStats,
  TrailPosition,
} from './audit/audit-store';
export { canFollow, canJournal, canReportStats } from './audit/audit-store';
export { wrapAuditStore } from './audit/audit-store-wrapper';
export { canonicalJson } from './audit/canonical-json';
export type { MemoryStoreOptions } from './audit/memory-store';
export { createMemoryStore } from './audit/memory-store';
export type { RedactionOptions, Redactor } from './audit/redaction';
export {
  containsSecretText,
  createRedactor,
  createSensitiveKeyTest,
  DEFAULT_REDACTED_KEY_SEGMENTS,
  DEFAULT_REDACTED_KEYS,
  isSensitiveKey,
  REDACTED_PREFIX,
  redactBody,
} from './audit/redaction';
export type { GatewayCallOptions, GatewayClient, GatewayClientOptions } from './client/gateway-client';
export { createGatewayClient, isGatewayRefusal } from './client/gateway-client';
export type { MeshGuardErrorOptions, PolicyIssue, PolicyLocation } from './errors/meshguard-error';
export {
  ConfigError,
  formatPolicyIssue,
  GatewayError,
  MeshGuardError,
  PolicyError,
  ValidationError,
} from './errors/meshguard-error';
export type { SchemaParse, SchemaSubject } from './errors/parse-with-schema';
export { parseWithSchema, safeParseWithSchema } from './errors/parse-with-schema';
export {
  ensurePrivateFile,
  makePrivateDir,
  PRIVATE_DIR_MODE,
  PRIVATE_FILE_MODE,
  tightenIfExists,
} from './files/private-files';
export type { ApprovalAnswer, IdentityDefaults, IdentityInput } from './guard/adapter-contract';
export {
  approvalFailedDecision,
  BUILTIN_TOOL_ACTIONS,
  checkApprovalAnswer,
  createIdentityCache,
  failedCheckDecision,
  failedCheckReason,
  NO_APPROVER,
} from './guard/adapter-contract';
export type {
  AdapterCheckRequest,
  AdapterKit,
  AdapterKitOptions,
  AdapterOutcome,
  CheckedAction,
} from './guard/adapter-kit';
export { createAdapterKit } from './guard/adapter-kit';
export { AuditNotRecordedError } from './guard/append-batcher';
export type { AuditDurability, EmbeddedGuard, Guard, GuardOptions } from './guard/guard';
export { createEmbeddedGuard, createGuard } from './guard/guard';
export type { GuardEnvironment, GuardSettings, GuardSettingsOptions } from './guard/guard-settings';
export { DEFAULT_DB, resolveGuardSettings } from './guard/guard-settings';
export type { JudgingGuard } from './guard/judging-guard';
export { canJudge } from './guard/judging-guard';
export type { ObservedCall, ObservedVerdict } from './guard/observed-call';
export { openAuditStore } from './guard/open-audit-store';
export type { RemoteGuard, RemoteGuardOptions } from './guard/remote-guard';
export { createRemoteGuard } from './guard/remote-guard';
export { redactUrl } from './guard/remote-url';
export { isoTime, uuidv7 } from './ids/uuidv7';
export type { ActionMatcher } from './policy/action-pattern';
export { compileActionPattern, isWildcard, matchesAction } from './policy/action-pattern';
export { formatExplanation } from './policy/explanation-text';
export type {
  Clock,
  EngineRequest,
  Explanation,
  PolicyEngine,
  PolicyEngineOptions,
  Reachability,
  RuleExplanation,
} from './policy/policy-engine';
export { createPolicyEngine } from './policy/policy-engine';
export type { LoadedPolicy } from './policy/policy-loader';
export {
  checkUniqueNames,
  definePolicy,
  loadPolicies,
  parsePolicies,
  parseYamlAs,
} from './policy/policy-loader';
export type {
  AppliesTo,
  Conditions,
  ContextOperator,
  Day,
  DelegationLimits,
  PolicyDocument,
  PolicyDocumentInput,
  Rule,
} from './policy/policy-schema';
export {
  AppliesToSchema,
  ConditionsSchema,
  ContextOperatorSchema,
  DAY_NAMES,
  DelegationLimitsSchema,
  PolicyDocumentSchema,
  RuleSchema,
} from './policy/policy-schema';
export type { Action } from './protocol/action';
export { ActionPatternSchema, ActionSchema, MAX_ACTION_LENGTH } from './protocol/action';
export type { AgentIdentity, AgentIdentityInput } from './protocol/agent-identity';
export { AgentIdentitySchema } from './protocol/agent-identity';
export type { AuditEvent, AuditEventBody, AuditEventType, Outcome } from './protocol/audit-event';
export {
  AUDIT_EVENT_TYPES,
  AuditEventBodySchema,
  AuditEventSchema,
  AuditEventTypeSchema,
  OUTCOMES,
  OutcomeSchema,
} from './protocol/audit-event';
export { auditEventJsonSchema } from './protocol/audit-event-json-schema';
export type { AuditFilter, ParsedAuditFilter } from './protocol/audit-filter';
export { AuditFilterSchema } from './protocol/audit-filter';
export type { ActionKind, CheckContext, CheckRequest, ParsedCheckRequest } from './protocol/check-request';
export { ACTION_KINDS, ActionKindSchema, CheckRequestSchema, ContextSchema } from './protocol/check-request';
export type { Decision, Effect, PolicyMode, PolicyRef, RuleRef, ShadowOutcome } from './protocol/decision';
export {
  DecisionSchema,
  DecisionShapeSchema,
  EFFECTS,
  EffectSchema,
  INCONSISTENT_DECISION,
  isConsistentDecision,
  PolicyModeSchema,
  PolicyRefSchema,
  RuleRefSchema,
  ShadowOutcomeSchema,
} from './protocol/decision';
export { canonicalFramework, FRAMEWORK_NAMES, frameworkSpellings } from './protocol/framework-names';
export {
  AgentListReplySchema,
  AgentParamsSchema,
  AgentRecordSchema,
  CreateAgentBodySchema,
  CreateAgentReplySchema,
  HealthReplySchema,
  JwksReplySchema,
  PolicyFileSchema,
  PolicySetReplySchema,
  PutPoliciesBodySchema,
  TokenParamsSchema,
} from './protocol/gateway-admin-wire';
export type { CheckBody, HandoffToken } from './protocol/gateway-agent-wire';
export {
  BatchCheckBodySchema,
  BatchCheckReplySchema,
  CheckBodySchema,
  DecisionReplySchema,
  DelegatingCheckBodySchema,
  DelegatingDecisionReplySchema,
  HandoffTokenSchema,
  JudgeBodySchema,
  JudgeReplySchema,
  OutcomeBodySchema,
  OutcomeEventBodySchema,
  OutcomeReplySchema,
  ReachableBodySchema,
  ReachableReplySchema,
} from './protocol/gateway-agent-wire';
export {
  AuditPageSchema,
  AuditQuerySchema,
  StatsQuerySchema,
  StatsReplySchema,
  TailQuerySchema,
  TailReplySchema,
  VerifyReplySchema,
} from './protocol/gateway-audit-wire';
export type { ErrorReply } from './protocol/gateway-error-wire';
export { ErrorReplySchema } from './protocol/gateway-error-wire';
export type { Judgement } from './protocol/judgement';
export { JudgementSchema, JudgementShapeSchema } from './protocol/judgement';
export type { OutcomeEvent } from './protocol/outcome-event';
export { CLIENT_GAVE_UP, OutcomeEventSchema } from './protocol/outcome-event';
export type { TrustTier } from './protocol/trust-tier';
export { TRUST_TIERS, TrustTierSchema, tierRank } from './protocol/trust-tier';
export type {
  AgentRecord,
  GatewayState,
  GatewayStateChange,
  LegacySigningKey,
  NotifyingGatewayState,
  PolicyFile,
  PolicySet,
  PublicKeyRecord,
} from './state/gateway-state';
export { canNotifyChanges } from './state/gateway-state';
export { RecentMap } from './util/recent-map';
