import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { defineConfig, type Options } from 'tsup';

/**
 * The one build config every package shares: ESM + CJS + d.ts + sourcemaps.
 * Kept trivial on purpose so a later move to tsdown is a rename.
 */
export function packageConfig(options: Options = {}) {
  // Each package stamps its own name and version (audit events, `--version`) at build time.
  const pkg = JSON.parse(readFileSync(join(process.cwd(), 'package.json'), 'utf8')) as {
    name: string;
    version: string;
  };
  return defineConfig({
    define: { __PACKAGE_NAME__: JSON.stringify(pkg.name), __PACKAGE_VERSION__: JSON.stringify(pkg.version) },
    entry: ['src/index.ts'],
    format: ['esm', 'cjs'],
    dts: true,
    sourcemap: true,
    clean: true,
    target: 'node20',
    ...options,
  });
}
