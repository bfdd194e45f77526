import { packageConfig } from '../../tsup.config.base';

export default packageConfig({ entry: ['src/main.ts'], format: ['esm'], dts: false });
