export type { EmulatorCertificate } from './emulator-certificate';
export { createEmulatorCertificate } from './emulator-certificate';
export type { FixedTokenAuthClient } from './fixed-token-auth-client';
export { fixedTokenAuthClient } from './fixed-token-auth-client';
export type {
  VertexEmulator,
  VertexEmulatorOptions,
  VertexModelTurn,
  VertexPart,
  VertexRequest,
  VertexTurn,
} from './vertex-emulator';
export {
  codeExecutionParts,
  functionCallPart,
  searchGrounding,
  startVertexEmulator,
  textPart,
} from './vertex-emulator';
