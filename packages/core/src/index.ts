// The public surface of @meshguard/core: what users of the guard, the policy engine and the trail
// need. What only MeshGuard's own packages share lives in `./internal` (internal.ts) and may change
// in any release; `api/index.api.md` is the report of this file, checked by `pnpm api:check`.

export type { ApprovalState, ApprovalStatusOptions, Approver } from './approvals/approval-flow';
export { ApprovalConflictError } from './approvals/approval-flow';
export type { ApprovalAnswered, ApprovalStore, NotifyingApprovalStore } from './approvals/approval-store';
export type { ApprovalDecisionInput, ApprovalWaitOptions, GuardApprovals } from './approvals/guard-approvals';
export { DEFAULT_ARGUMENTS_RETENTION_MS } from './approvals/guard-approvals';
export type { ClaimedRun, ParkedRun, RunParking } from './approvals/run-parking';
export { createFileParking, DEFAULT_PARKING_DIR } from './approvals/run-parking';
export type {
  ChainHead,
  ChainProblem,
  ChainProblemKind,
  StreamReport,
  VerifyReport,
} from './audit/audit-chain';
export { chainEvents, GENESIS_HASH, hashEvent, StreamVerifier, verifyEvents } from './audit/audit-chain';
export type {
  AuditPage,
  AuditStore,
  FollowingStore,
  JournalingStore,
  StatsStore,
  StoreStats,
  TrailPosition,
} from './audit/audit-store';
export { canonicalJson } from './audit/canonical-json';
export type { MemoryStore, MemoryStoreOptions } from './audit/memory-store';
export { createMemoryStore } from './audit/memory-store';
export type { RedactionOptions, Redactor } from './audit/redaction';
export {
  containsSecretText,
  createRedactor,
  DEFAULT_REDACTED_KEY_SEGMENTS,
  DEFAULT_REDACTED_KEYS,
  isSensitiveKey,
  REDACTED_PREFIX,
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
export type { ApprovalAnswer, IdentityInput } from './guard/adapter-contract';
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
export type {
  GuardEnvironment,
  GuardSettings,
  GuardSettingsOptions,
  PolicySource,
} from './guard/guard-settings';
export { resolveGuardSettings } from './guard/guard-settings';
export type { JudgingGuard } from './guard/judging-guard';
export type { RemoteGuard, RemoteGuardOptions } from './guard/remote-guard';
export { createRemoteGuard } from './guard/remote-guard';
export { uuidv7 } from './ids/uuidv7';
export { formatExplanation } from './policy/explanation-text';
export type {
  ApprovalPolicy,
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
export { definePolicy, loadPolicies, parsePolicies } from './policy/policy-loader';
export type {
  AppliesTo,
  ApprovalSettings,
  Conditions,
  ContextOperator,
  Day,
  DelegationLimits,
  PolicyDocument,
  PolicyDocumentInput,
  Rule,
} from './policy/policy-schema';
export { PolicyDocumentSchema } from './policy/policy-schema';
export type { Action } from './protocol/action';
export { ActionSchema } from './protocol/action';
export type { AgentIdentity, AgentIdentityInput } from './protocol/agent-identity';
export { AgentIdentitySchema } from './protocol/agent-identity';
export type {
  ApprovalEnd,
  ApprovalListQuery,
  ApprovalPage,
  ApprovalRequest,
  ApprovalStatus,
  ApprovalTransition,
  ParsedApprovalListQuery,
} from './protocol/approval';
export { APPROVAL_STATUSES, ApprovalRequestSchema, argumentsHash } from './protocol/approval';
export type { AuditEvent, AuditEventBody, AuditEventType, Outcome } from './protocol/audit-event';
export { AuditEventSchema } from './protocol/audit-event';
export type { AuditFilter } from './protocol/audit-filter';
export { AuditFilterSchema } from './protocol/audit-filter';
export type { ActionKind, CheckContext, CheckRequest } from './protocol/check-request';
export { CheckRequestSchema } from './protocol/check-request';
export type { Decision, Effect, PolicyMode, PolicyRef, RuleRef, ShadowOutcome } from './protocol/decision';
export { DecisionSchema } from './protocol/decision';
export { frameworkSpellings } from './protocol/framework-names';
export type { ErrorReply } from './protocol/gateway-error-wire';
export type { Judgement } from './protocol/judgement';
export type { OutcomeEvent } from './protocol/outcome-event';
export { OutcomeEventSchema } from './protocol/outcome-event';
export type { TrustTier } from './protocol/trust-tier';
export type {
  AgentRecord,
  ApproverRecord,
  GatewayState,
  GatewayStateChange,
  LegacySigningKey,
  NotifyingGatewayState,
  PolicyFile,
  PolicySet,
  PublicKeyRecord,
} from './state/gateway-state';
