import { packageConfig } from '../../tsup.config.base';

export default packageConfig({
  entry: [
    'src/index.ts',
    'src/internal.ts',
    'src/testing.ts',
    'src/verify-worker.ts',
    'src/checkpoint-worker.ts',
    'src/journal-worker.ts',
  ],
  shims: true,
});
