export type {
  ActionGroupHandlers,
  ActionGroupsHandlers,
  ActionHandler,
  ActionSpec,
  ApiResponse,
  BedrockActionCall,
} from './action-group-handlers';
export { apiResponse } from './action-group-handlers';
export type { ApprovalAnswer, GovernanceOptions, IdentityInput } from './bedrock-governance';
export { FRAMEWORK } from './bedrock-governance';
export type { GovernedTurnResult, PendingApproval } from './bedrock-invocation-loop';
export { DEFAULT_IDLE_SESSION_TTL_SECONDS } from './bedrock-invocation-loop';
export { parameterValue } from './bedrock-payloads';
export type { GovernedCall, ObservedActivity } from './bedrock-turn';
export type { GovernedAgent, GovernedAgentOptions, InvokeTurnInput } from './governed-agent';
export { createGovernedAgent } from './governed-agent';
export type { GovernedInlineAgentInput, GovernedInlineTurnResult } from './governed-inline-agent';
export { invokeGovernedInlineAgent } from './governed-inline-agent';
export type { RemovedCapability } from './inline-agent-ceiling';
export type { ResumeParkedTurnOptions } from './resume-parked-turn';
export { resumeParkedTurn } from './resume-parked-turn';
