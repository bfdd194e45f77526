export { governAgent } from './govern-agent';
export type { GovernHandoffOptions } from './govern-handoff';
export { governHandoff } from './govern-handoff';
export type { GovernToolOptions } from './govern-tool';
export { governedTool, governedToolInfo, governTool } from './govern-tool';
export type { GovernanceOptions, IdentityInput } from './governance-context';
export { closeGovernance, FRAMEWORK, flushGovernance } from './governance-context';
export type {
  ApprovalAnswer,
  RunGovernedInput,
  RunGovernedOptions,
  RunGovernedStreamOptions,
} from './governed-run';
export {
  approvalDecision,
  approveToolCall,
  rejectToolCall,
  resolvePolicyInterruptions,
  runGoverned,
} from './governed-run';
export { BUILTIN_ACTIONS, recordHostedToolCalls } from './hosted-tools';
export { meshguardInputGuardrail } from './input-guardrail';
export { parkedApprovals } from './parked-runs';
export type { ResumeParkedRunOptions } from './resume-parked-run';
export { resumeParkedRun } from './resume-parked-run';
export { MeshGuardTracingProcessor } from './tracing-processor';
