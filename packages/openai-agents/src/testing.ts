export type {
  ResponsesEmulator,
  ResponsesOutputItem,
  ResponsesRequestBody,
  ResponsesTurn,
} from './responses-emulator';
export {
  responsesFunctionCall,
  responsesMessage,
  responsesShellCall,
  responsesShellCallOutput,
  responsesWebSearchCall,
  startResponsesEmulator,
} from './responses-emulator';
