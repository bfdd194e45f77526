export type {
  GovernBuiltinToolsOptions,
  GovernedBuiltinTools,
  RemovedBuiltinTool,
} from './builtin-tools';
export { BUILTIN_ACTIONS, governBuiltinTools } from './builtin-tools';
export type {
  FunctionDeclarationLike,
  FunctionResponsePart,
  GeminiContent,
  GeminiFunctionCall,
  GeminiPart,
  GeminiResponse,
  GroundingMetadata,
} from './gemini-parts';
export { functionCallsOf, mergeChunks, textOf } from './gemini-parts';
export type {
  ApprovalAnswer,
  ApprovalRequest,
  FunctionCallInfo,
  GovernedCallableTool,
  GovernedFunction,
  GovernedFunctions,
  GovernFunctionsOptions,
} from './govern-functions';
export { governFunctions } from './govern-functions';
export type {
  GenAIChatLike,
  GovernedChatResult,
  HistoryChat,
  LegacyChatLike,
  PendingApproval,
  RunGovernedChatOptions,
} from './governed-chat';
export { runGovernedChat } from './governed-chat';
export type { ResumeParkedChatOptions } from './resume-parked-chat';
export { resumeParkedChat } from './resume-parked-chat';
export type { GovernanceOptions, IdentityInput } from './vertex-governance';
export { FRAMEWORK } from './vertex-governance';
