import { packageConfig } from '../../tsup.config.base';

export default [
  packageConfig(),
  // The executable: ESM only, with its shebang kept by tsup.
  packageConfig({ entry: ['src/cli.ts'], format: ['esm'], dts: false, clean: false }),
];
