export type {
  BedrockEmulator,
  BedrockEmulatorOptions,
  BedrockEmulatorRequest,
  BedrockScriptStep,
} from './bedrock-emulator';
export { startBedrockEmulator } from './bedrock-emulator';
export type { ActionRef, PendingInput, ReplyResult } from './bedrock-emulator-replies';
export type {
  BedrockScriptEvent,
  BedrockStreamException,
  ScriptApiInput,
  ScriptFunctionInput,
  ScriptInvocationInput,
  ScriptValue,
} from './bedrock-emulator-script';
export {
  bedrockApiInput,
  bedrockChunk,
  bedrockCollaboratorTrace,
  bedrockException,
  bedrockFiles,
  bedrockFunctionInput,
  bedrockKnowledgeBaseTrace,
  bedrockReturnControl,
  bedrockTrace,
} from './bedrock-emulator-script';
