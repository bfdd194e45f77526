#!/usr/bin/env node
// The API reports: one per public entry of each published package (`.` and `./testing`; the
// `./internal` entries carry no promise and have none), written by api-extractor from the built
// declarations to packages/<pkg>/api/<entry>.api.md and checked in.
//
//   node scripts/api-report.mjs          check: fails, naming the entry, when a report differs
//                                        from the API the build declares (part of `pnpm test`)
//   node scripts/api-report.mjs --update rewrite the reports after a deliberate API change
//   --reports <dir>                      read and write <dir>/<package folder>/<entry>.api.md
//                                        instead (the check's own test uses a copy)
//   --only <package folder>              just that package (e.g. core)
//
// Run after `pnpm build` (it reads dist/*.d.ts).
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { Extractor, ExtractorConfig } from '@microsoft/api-extractor';

const root = new URL('..', import.meta.url).pathname;
const args = process.argv.slice(2);
const update = args.includes('--update');
const only = args.includes('--only') ? args[args.indexOf('--only') + 1] : undefined;
const reportsAt = args.includes('--reports') ? resolve(args[args.indexOf('--reports') + 1] ?? '') : undefined;
const PUBLIC_ENTRIES = ['.', './testing'];

// Findings that belong in a report rather than on the console; the report is the check.
const messages = {
  compilerMessageReporting: { default: { logLevel: 'warning' } },
  extractorMessageReporting: {
    default: { logLevel: 'warning', addToApiReportFile: true },
    'ae-missing-release-tag': { logLevel: 'none', addToApiReportFile: false },
    'ae-forgotten-export': { logLevel: 'none', addToApiReportFile: true },
    'ae-unresolved-link': { logLevel: 'none', addToApiReportFile: false },
    // Which declarations lack a doc comment is a review matter; in the report it is only noise.
    'ae-undocumented': { logLevel: 'none', addToApiReportFile: false },
  },
  tsdocMessageReporting: { default: { logLevel: 'none', addToApiReportFile: false } },
};

const failures = [];
let reports = 0;
for (const dir of readdirSync(join(root, 'packages')).sort()) {
  if (only && dir !== only) continue;
  const pkgDir = join(root, 'packages', dir);
  const pkgPath = join(pkgDir, 'package.json');
  if (!existsSync(pkgPath)) continue;
  const pkg = JSON.parse(readFileSync(pkgPath, 'utf8'));
  if (pkg.private) continue;
  for (const entry of PUBLIC_ENTRIES) {
    const types = pkg.exports?.[entry]?.import?.types;
    if (!types) continue;
    const name = entry === '.' ? 'index' : entry.slice(2);
    const dts = join(pkgDir, types);
    if (!existsSync(dts)) {
      failures.push(`${pkg.name} ${entry}: ${relative(root, dts)} is missing (run pnpm build first)`);
      continue;
    }
    const reportFolder = reportsAt ? join(reportsAt, dir) : join(pkgDir, 'api');
    mkdirSync(reportFolder, { recursive: true });
    const config = ExtractorConfig.prepare({
      configObject: {
        projectFolder: pkgDir,
        mainEntryPointFilePath: dts,
        compiler: {
          overrideTsconfig: {
            compilerOptions: {
              target: 'ES2022',
              module: 'NodeNext',
              moduleResolution: 'NodeNext',
              lib: ['ES2023', 'DOM'],
              types: ['node'],
              strict: true,
              skipLibCheck: true,
            },
          },
        },
        apiReport: {
          enabled: true,
          reportFileName: `${name}.api.md`,
          reportFolder,
          reportTempFolder: join(pkgDir, 'node_modules', '.api-report'),
        },
        docModel: { enabled: false },
        dtsRollup: { enabled: false },
        tsdocMetadata: { enabled: false },
        messages,
      },
      configObjectFullPath: undefined,
      packageJsonFullPath: pkgPath,
    });
    const result = Extractor.invoke(config, { localBuild: update, showVerboseMessages: false });
    reports++;
    // A finding api-extractor cannot pin to a declaration is written with a dist chunk's hashed
    // name and line, which change with unrelated edits: export the type it names instead.
    const written = join(
      update ? reportFolder : join(pkgDir, 'node_modules', '.api-report'),
      `${name}.api.md`,
    );
    const unanchored = existsSync(written) ? readFileSync(written, 'utf8').match(/^\/\/ dist\/.*$/m) : null;
    if (unanchored) failures.push(`${pkg.name} ${entry}: ${unanchored[0].slice(3)}`);
    if (!result.succeeded || (!update && result.apiReportChanged)) {
      failures.push(
        `${pkg.name} ${entry}: ${
          result.apiReportChanged
            ? `the public API differs from ${relative(root, join(reportFolder, `${name}.api.md`))}`
            : `${result.errorCount} error(s)`
        }`,
      );
    }
  }
}

if (failures.length > 0) {
  console.error(`\nAPI report check failed:\n  ${failures.join('\n  ')}`);
  if (!update) {
    console.error(
      'If the change is deliberate, run `pnpm api:update` and commit the reports (say why in the commit).',
    );
  }
  process.exit(1);
}
console.log(`${reports} API reports ${update ? 'written' : 'match the build'}.`);
