// The GitHub workflows keep the hygiene a release depends on: every action pinned to a full commit
// (a tag can be moved to other code; the version it was is the comment beside it), read-only
// permissions unless a job of a trusted trigger asks for more, no npm token (trusted publishing),
// and the pieces ci.yml relies on to pick the tests of a pull request.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { REPO_ROOT } from './workspace';

const WORKFLOWS = '.github/workflows';

type Permissions = string | Record<string, string> | undefined;

interface Workflow {
  on?: string | string[] | Record<string, unknown>;
  permissions?: Permissions;
  jobs: Record<
    string,
    { permissions?: Permissions; uses?: string; steps?: { uses?: string; with?: Record<string, unknown> }[] }
  >;
}

const files = readdirSync(join(REPO_ROOT, WORKFLOWS))
  .filter((file) => /\.ya?ml$/.test(file))
  .sort();
const workflows = files.map((file) => {
  const text = readFileSync(join(REPO_ROOT, WORKFLOWS, file), 'utf8');
  return { file, text, workflow: parse(text) as Workflow };
});

/** A permissions block that grants no write: `read`/`none` scopes, `read-all`, or `{}`. */
function isReadOnly(permissions: Permissions): boolean {
  if (typeof permissions === 'string') return permissions === 'read-all';
  return permissions !== undefined && Object.values(permissions).every((v) => v === 'read' || v === 'none');
}

function triggers(workflow: Workflow): string[] {
  const on = workflow.on;
  if (typeof on === 'string') return [on];
  return Array.isArray(on) ? on : Object.keys(on ?? {});
}

describe.each(workflows.map((w) => [w.file, w] as const))(`${WORKFLOWS}/%s`, (_file, { text, workflow }) => {
  it('pins every action to a full commit SHA, with its version in a comment', () => {
    const lines = text.split('\n').filter((line) => /^\s*(?:-\s+)?uses:/.test(line));
    const parsed = Object.values(workflow.jobs).flatMap((job) => [
      ...(job.uses ? [job.uses] : []),
      ...(job.steps ?? []).flatMap((step) => (step.uses ? [step.uses] : [])),
    ]);
    // Every `uses` the YAML holds is on a line of its own, where its comment can be read.
    expect(lines.length, 'uses: lines versus uses in the parsed workflow').toBe(parsed.length);
    const unpinned = lines.filter((line) => {
      const match = /uses:\s*(\S+)\s*(?:#\s*(\S+))?\s*$/.exec(line);
      const [action = '', comment = ''] = [match?.[1], match?.[2]];
      if (action.startsWith('./')) return false; // an action of this repository
      if (action.startsWith('docker://')) return !/@sha256:[0-9a-f]{64}$/.test(action);
      return !/^[\w.-]+\/[\w./-]+@[0-9a-f]{40}$/.test(action) || !/^v\d+(\.\d+)*$/.test(comment);
    });
    expect(unpinned.map((line) => line.trim())).toEqual([]);
  });

  it('is read-only at the top; only a job of a trusted trigger asks for more', () => {
    expect(workflow.permissions, 'top-level permissions').toBeDefined();
    expect(
      isReadOnly(workflow.permissions),
      `top-level permissions ${JSON.stringify(workflow.permissions)}`,
    ).toBe(true);
    // Pull requests run code from forks: nothing they trigger may write or mint an OIDC token.
    const untrusted = triggers(workflow).some((t) => t.startsWith('pull_request') || t === 'issue_comment');
    expect(triggers(workflow), 'pull_request_target runs fork code with secrets').not.toContain(
      'pull_request_target',
    );
    if (untrusted) {
      for (const [name, job] of Object.entries(workflow.jobs)) {
        expect(job.permissions === undefined || isReadOnly(job.permissions), `job ${name}`).toBe(true);
      }
    }
  });

  // pnpm/action-setup refuses to start when its `version` differs from `packageManager`.
  it("takes pnpm's version from package.json's packageManager alone", () => {
    const setups = Object.values(workflow.jobs).flatMap((job) =>
      (job.steps ?? []).filter((step) => step.uses?.startsWith('pnpm/action-setup@')),
    );
    expect(setups.filter((step) => step.with?.version !== undefined)).toEqual([]);
  });

  it('holds no npm token: publishing is npm trusted publishing', () => {
    expect(text).not.toMatch(/NPM_TOKEN|NODE_AUTH_TOKEN/);
  });
});

describe('the workflows as a whole', () => {
  it('are the pull-request checks and the release', () => {
    expect(files).toEqual(expect.arrayContaining(['ci.yml', 'release.yml']));
    const ci = workflows.find((w) => w.file === 'ci.yml')!;
    expect(triggers(ci.workflow)).toEqual(['pull_request']);
  });

  it('publish from one job, the only one that may mint an OIDC token', () => {
    const minting = workflows.flatMap(({ file, workflow }) =>
      Object.entries(workflow.jobs)
        .filter(([, job]) => typeof job.permissions === 'object' && job.permissions['id-token'] === 'write')
        .map(([name]) => `${file}: ${name}`),
    );
    expect(minting).toEqual(['release.yml: release']);
  });

  it('have Dependabot updating the npm dependencies and the pinned actions', () => {
    const config = parse(readFileSync(join(REPO_ROOT, '.github/dependabot.yml'), 'utf8')) as {
      updates: { 'package-ecosystem': string }[];
    };
    expect(config.updates.map((u) => u['package-ecosystem']).sort()).toEqual(['github-actions', 'npm']);
  });

  // ci.yml runs `vitest run --project <folder name>` for each package a pull request reaches.
  it('can select each vitest project by its folder name', () => {
    const projects = ['packages', 'apps', 'tests'].flatMap((group) =>
      readdirSync(join(REPO_ROOT, group))
        .map((name) => `${group}/${name}`)
        .filter((dir) => existsSync(join(REPO_ROOT, dir, 'vitest.config.ts'))),
    );
    expect(projects).toContain('tests/release');
    for (const dir of projects) {
      const config = readFileSync(join(REPO_ROOT, dir, 'vitest.config.ts'), 'utf8');
      expect(/\bname:\s*'([^']+)'/.exec(config)?.[1], `${dir}/vitest.config.ts name`).toBe(basename(dir));
    }
  });
});
