import { defineConfig, type Options } from 'tsup';

/**
 * The one build config every package shares: ESM + CJS + d.ts + sourcemaps.
 * Kept trivial on purpose so a later move to tsdown is a rename.
 */
export function packageConfig(options: Options = {}) {
  return defineConfig({
    entry: ['src/index.ts'],
    format: ['esm', 'cjs'],
    dts: true,
    sourcemap: true,
    clean: true,
    target: 'node20',
    ...options,
  });
}
