import { spawnSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { completionTree } from './completion-tree';
import { createProgram } from './program';
import { cleanUp, meshguardAtRoot as meshguard, scratchDir } from './test-helpers/cli-harness';

// The tree the scripts are made from is the program's own: every command and subcommand.
const tree = completionTree(createProgram({ out() {}, err() {}, color: false }, () => {}));
const TOP = tree[0]!.subcommands.map((s) => s.name);
const has = (shell: string) => spawnSync('sh', ['-c', `command -v ${shell}`]).status === 0;

let dir: string;
const scripts: Record<string, string> = {};
beforeAll(async () => {
  dir = await scratchDir('mg-completion-');
  for (const shell of ['bash', 'zsh', 'fish']) {
    const { code, stdout, stderr } = meshguard('completion', shell);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    scripts[shell] = join(dir, `meshguard.${shell}`);
    await writeFile(scripts[shell], stdout);
  }
});
afterAll(() => cleanUp([], dir));

/** What bash offers after `meshguard <words...>` (the last word being completed). */
function bashComplete(...words: string[]): string[] {
  const line = ['meshguard', ...words].map((w) => `'${w}'`).join(' ');
  const { stdout, stderr } = spawnSync(
    'bash',
    [
      '-c',
      `source "$0"; COMP_WORDS=(${line}); COMP_CWORD=$((\${#COMP_WORDS[@]} - 1)); _meshguard; printf '%s\\n' "\${COMPREPLY[@]}"`,
      scripts.bash!,
    ],
    { encoding: 'utf8' },
  );
  expect(stderr).toBe('');
  return stdout.split('\n').filter(Boolean);
}

describe('meshguard completion', () => {
  it('knows every command, and refuses a shell it does not know (exit 2)', () => {
    expect(TOP).toEqual(expect.arrayContaining(['policy', 'gateway', 'agent', 'audit', 'completion']));
    expect(tree.map((c) => c.path.join(' '))).toEqual(
      expect.arrayContaining(['audit query', 'audit export', 'policy explain', 'agent revoke']),
    );
    const { code, stderr } = meshguard('completion', 'powershell');
    expect(stderr).toMatch(/^meshguard: command-argument value 'powershell' is invalid for argument 'shell'/);
    expect(code).toBe(2);
  });

  it('bash: the script parses, and completes commands, subcommands, options and their choices', () => {
    expect(spawnSync('bash', ['-n', scripts.bash!]).status).toBe(0);
    expect(bashComplete('')).toEqual([...TOP]);
    for (const command of tree.filter((c) => c.subcommands.length > 0)) {
      expect(bashComplete(...command.path, ''), command.path.join(' ')).toEqual(
        command.subcommands.map((s) => s.name),
      );
    }
    expect(bashComplete('au')).toEqual(['audit']);
    expect(bashComplete('audit', 'export', '--format', '')).toEqual(['jsonl', 'csv']);
    expect(bashComplete('audit', 'export', '--li')).toEqual(['--limit']);
    expect(bashComplete('policy', 'explain', '--ex')).toEqual(['--exit-code']);
    expect(bashComplete('completion', '')).toEqual(['bash', 'zsh', 'fish']);
    // An option's value is not a command: `audit` here is a database path.
    expect(bashComplete('audit', 'export', '--db', 'audit', '--form')).toEqual(['--format']);
    // Where files are expected, none are named: bash's own file completion (complete -o default) takes over.
    expect(bashComplete('policy', 'validate', '')).toEqual([]);
    expect(bashComplete('audit', 'export', '--out', '')).toEqual([]);
  });

  it.skipIf(!has('zsh'))('zsh: the script parses', () => {
    const { status, stderr } = spawnSync('zsh', ['-n', scripts.zsh!], { encoding: 'utf8' });
    expect(stderr).toBe('');
    expect(status).toBe(0);
    const text = spawnSync('cat', [scripts.zsh!], { encoding: 'utf8' }).stdout;
    for (const name of TOP) expect(text).toContain(`'${name}:`);
  });

  it.skipIf(!has('fish'))('fish: the script parses, and completes commands, subcommands and choices', () => {
    expect(spawnSync('fish', ['-n', scripts.fish!]).status).toBe(0);
    const complete = (line: string) =>
      spawnSync('fish', ['-c', `source $argv[1]; complete -C '${line}'`, scripts.fish!], { encoding: 'utf8' })
        .stdout.split('\n')
        .filter(Boolean)
        .map((l) => l.split('\t')[0]);
    expect(complete('meshguard ').sort()).toEqual([...TOP].sort());
    expect(complete('meshguard audit ').sort()).toEqual(
      tree
        .find((c) => c.path.join(' ') === 'audit')!
        .subcommands.map((s) => s.name)
        .sort(),
    );
    expect(complete('meshguard audit export --format ').sort()).toEqual(['csv', 'jsonl']);
    expect(complete('meshguard audit export --db audit --fo')).toEqual(['--format']);
  });
});
