export type { CliIo } from './cli-output';
export { createProgram, main } from './program';
