export type {
  ResponsesEmulator,
  ResponsesOutputItem,
  ResponsesRequestBody,
  ResponsesTurn,
} from './responses-emulator';
export {
  responsesFunctionCall,
  responsesMessage,
  responsesWebSearchCall,
  startResponsesEmulator,
} from './responses-emulator';
