// One probe per limit the docs name (`<!-- limit: name -->`): each checks that MeshGuard still
// does not do the thing, by asking the code (a gateway in-process, the CLI as a user runs it, the
// remote guard) or, where only a framework run could show it, by the source that makes it so.
// A probe resolves to undefined while the limit holds, and to what it found once it does not:
// the code changed, so the doc's bullet (and this probe) must change with it.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createMemoryStore, createRemoteGuard, MeshGuardError } from '@meshguard/core';
import { createGateway } from '@meshguard/gateway';
import { openSqliteGatewayState } from '@meshguard/store';
import { fetchGatewayOpenApi } from './gateway-api-doc';
import { REPO_ROOT } from './workspace';

/** What a probe found that contradicts the limit, or undefined while the limit holds. */
type Found = string | undefined;

export interface LimitProbe {
  /** The limit, in a few words. */
  limit: string;
  probe(): Promise<Found> | Found;
}

/** A file of the repository; a missing one is a finding (the code the limit rests on moved). */
function source(path: string): string {
  const full = join(REPO_ROOT, path);
  if (!existsSync(full)) throw new Error(`${path} is gone: the limit rested on it; check the limit`);
  return readFileSync(full, 'utf8');
}

/** Undefined while `path` still has every one of `needles` (what makes the limit so), else which it lost. */
function stillSays(path: string, ...needles: string[]): Found {
  let text: string;
  try {
    text = source(path);
  } catch (error) {
    return (error as Error).message;
  }
  const lost = needles.filter((needle) => !text.includes(needle));
  return lost.length === 0 ? undefined : `${path} no longer has ${lost.map((n) => `\`${n}\``).join(', ')}`;
}

/** The non-test TypeScript sources of a package's `src/`. */
function packageSources(pkg: string): Array<{ path: string; text: string }> {
  const dir = `packages/${pkg}/src`;
  const walk = (sub: string): string[] =>
    readdirSync(join(REPO_ROOT, sub), { withFileTypes: true }).flatMap((entry) => {
      const path = `${sub}/${entry.name}`;
      if (entry.isDirectory()) return walk(path);
      return entry.name.endsWith('.ts') && !/\.test(-d)?\.ts$/.test(entry.name) ? [path] : [];
    });
  return walk(dir).map((path) => ({ path, text: source(path) }));
}

/** Undefined while no source of the package mentions `pattern`, else where it does. */
function nowMentions(pkg: string, pattern: RegExp): Found {
  const hits = packageSources(pkg).filter((file) => pattern.test(file.text));
  return hits.length === 0 ? undefined : `${hits.map((h) => h.path).join(', ')} now mention ${pattern}`;
}

/** The installed `@openai/agents-core` (the SDK behind `@openai/agents`) `dist/` folder. */
function openAiAgentsCoreDist(): string {
  const fromAdapter = createRequire(join(REPO_ROOT, 'packages/openai-agents/package.json'));
  const agents = fromAdapter.resolve('@openai/agents');
  const core = createRequire(agents).resolve('@openai/agents-core');
  let dir = dirname(core);
  while (!dir.endsWith('dist') && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
}

/** The SDK's runner sources, concatenated (what it does with approvals and handoff filters). */
function openAiRunnerSource(): string {
  const runner = join(openAiAgentsCoreDist(), 'runner');
  if (!existsSync(runner)) throw new Error(`@openai/agents-core has no dist/runner/ folder: check the limit`);
  return readdirSync(runner)
    .filter((name) => name.endsWith('.js'))
    .map((name) => readFileSync(join(runner, name), 'utf8'))
    .join('\n');
}

const ADMIN = 'limit-probe-admin-token-0123456789';
const PROBE_POLICY = `name: limit-probe
version: "1"
appliesTo: { tags: [support] }
rules:
  - effect: allow
    actions: ["handoff:Billing Specialist", "read:*", "write:*"]
`;

interface Reply {
  status: number;
  /** The parsed JSON body: the probes read the few fields they check. */
  body: {
    token?: string;
    handoffToken?: unknown;
    rejected?: Array<{ error?: string }>;
    decisions?: Array<{ allowed?: boolean; handoffToken?: unknown }>;
  };
}
type GatewayCall = (method: 'GET' | 'POST', url: string, token: string, payload?: object) => Promise<Reply>;

/** Runs `use` against a gateway in-process (memory trail), two agents registered and a policy pushed. */
async function withGateway<T>(use: (call: GatewayCall, supportToken: string) => Promise<T>): Promise<T> {
  const gateway = await createGateway({
    store: createMemoryStore(),
    state: openSqliteGatewayState(':memory:'),
    adminToken: ADMIN,
  });
  try {
    await gateway.policies.push([{ name: 'limit-probe.yaml', text: PROBE_POLICY }]);
    const call: GatewayCall = async (method, url, token, payload) => {
      const res = await gateway.app.inject({
        method,
        url,
        headers: { authorization: `Bearer ${token}` },
        ...(payload ? { payload } : {}),
      });
      return { status: res.statusCode, body: res.body ? (JSON.parse(res.body) as Reply['body']) : {} };
    };
    const newAgent = async (name: string) => {
      const created = await call('POST', '/v1/agents', ADMIN, { name, tags: ['support'] });
      if (!created.body.token) throw new Error(`POST /v1/agents answered ${created.status}: fix this probe`);
      return created.body.token;
    };
    await newAgent('Billing Specialist');
    return await use(call, await newAgent('Customer Support Agent'));
  } finally {
    await gateway.close();
  }
}

/** Runs the built CLI as a user would; its exit code and output. */
function meshguard(args: string[]): Promise<{ code: number; output: string }> {
  const cli = join(REPO_ROOT, 'packages/cli/dist/cli.js');
  if (!existsSync(cli)) throw new Error('packages/cli/dist/cli.js is missing: build first (`pnpm build`)');
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
  delete env.MESHGUARD_GATEWAY_URL;
  delete env.MESHGUARD_DB;
  return new Promise((resolve) => {
    execFile(process.execPath, [cli, ...args], { env, timeout: 60_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      resolve({ code, output: `${stdout}${stderr}` });
    });
  });
}

export const LIMIT_PROBES: Readonly<Record<string, LimitProbe>> = {
  'gateway-batch-handoff-token': {
    limit: 'POST /v1/check/batch gives a handoff no delegated token',
    probe: () =>
      withGateway(async (call, support) => {
        const handoff = { action: 'handoff:Billing Specialist', traceId: 'trace_limit_probe' };
        const one = await call('POST', '/v1/check', support, handoff);
        if (!one.body?.handoffToken)
          throw new Error(
            `POST /v1/check gave no handoffToken to an allowed handoff: fix this probe (${JSON.stringify(one.body)})`,
          );
        const batch = await call('POST', '/v1/check/batch', support, { requests: [handoff] });
        const decision = batch.body?.decisions?.[0];
        if (!decision?.allowed)
          throw new Error(`the batch refused the handoff: fix this probe (${JSON.stringify(batch.body)})`);
        return decision.handoffToken
          ? 'POST /v1/check/batch now answers an allowed handoff with a handoffToken'
          : undefined;
      }),
  },
  'cli-tail-polls': {
    limit: '`audit tail -f` polls; nothing pushes new events',
    async probe() {
      const doc = await fetchGatewayOpenApi();
      const streams = Object.entries(doc.paths)
        .flatMap(([path, methods]) =>
          Object.values(methods).some((op) =>
            Object.values(op.responses ?? {}).some((r) =>
              Object.keys(r.content ?? {}).some((type) => type !== 'application/json'),
            ),
          )
            ? [path]
            : [],
        )
        .filter((path) => path.startsWith('/v1/audit'));
      if (streams.length > 0) return `the gateway streams ${streams.join(', ')}`;
      return (
        nowMentions('cli', /\b(subscribe|EventSource|LISTEN|watch)\s*\(/) ??
        stillSays('packages/cli/src/audit-commands.ts', 'setTimeout(resolve, interval)')
      );
    },
  },
  'cli-pending-not-replayed': {
    limit: 'the CLI reads a SQLite trail without replaying pending journals',
    probe() {
      // Only a writer replays: the audit commands must open no store for writing.
      const writers = packageSources('cli')
        .filter((file) => /\/audit-[^/]*\.ts$/.test(file.path))
        .filter((file) => /\bopen(Sqlite|Postgres)?Store\s*\(/.test(file.text));
      if (writers.length > 0) return `${writers.map((w) => w.path).join(', ')} now open a store for writing`;
      return stillSays('packages/cli/src/audit-source.ts', 'openSqliteForReading(url)');
    },
  },
  'cli-postgres-through-gateway': {
    limit: '`--db postgres://...` is refused by the audit commands (read through a gateway)',
    async probe() {
      const { code, output } = await meshguard([
        'audit',
        'query',
        '--db',
        'postgres://127.0.0.1:9/limit-probe',
      ]);
      return code === 2 && output.includes('needs a gateway (--gateway)')
        ? undefined
        : `\`meshguard audit query --db postgres://...\` exited ${code}: ${output.trim().slice(0, 300)}`;
    },
  },
  'cli-gateway-verify-trusted': {
    limit: "through a gateway, `audit verify` prints the gateway's report without re-checking the chains",
    probe: () => stillSays('packages/cli/src/audit-source.ts', 'verify: () => read(client.verifyAudit())'),
  },
  'store-better-sqlite3-native': {
    limit: 'better-sqlite3 is a native addon, not needed where node:sqlite serves',
    probe() {
      const manifest = JSON.parse(source('packages/store/package.json')) as Record<
        string,
        Record<string, string> | undefined
      >;
      const declared = ['dependencies', 'peerDependencies', 'optionalDependencies'].some(
        (field) => manifest[field]?.['better-sqlite3'] !== undefined,
      );
      if (!declared) return '@meshguard/store no longer declares better-sqlite3';
      return stillSays('packages/store/src/sqlite-driver.ts', "'node:sqlite'", "require('better-sqlite3')");
    },
  },
  'store-postgres-long-ids': {
    limit: 'PostgreSQL refuses ids too long to index (a btree on the raw id)',
    // A unique btree on the raw id text: PostgreSQL cannot index a value over about 2.7 KB.
    probe: () =>
      stillSays(
        'packages/store/src/postgres-schema.ts',
        'CREATE UNIQUE INDEX audit_events_id ON ',
        '.audit_events (id);',
      ),
  },
  'oa-sticky-approvals': {
    limit: 'a sticky approval skips the approval hooks built-in tools are governed in',
    probe() {
      const adapter = nowMentions('openai-agents', /alwaysApprove|_resolveToolInvocationApproval/);
      if (adapter) return adapter;
      // The SDK answers a call covered by an approval before it asks needsApproval.
      const answeredFirst =
        /existingApproval === true\)\s*\{\s*return 'approved';[\s\S]{0,400}?await needsApproval\(\)/;
      return answeredFirst.test(openAiRunnerSource())
        ? undefined
        : '@openai/agents-core no longer answers a sticky approval before asking needsApproval (resolveToolApproval)';
    },
  },
  'oa-approval-lookup-admin-token': {
    limit: 'answering an approval in another process behind a gateway needs the admin token',
    async probe() {
      const spoolDir = mkdtempSync(join(tmpdir(), 'meshguard-limit-probe-'));
      const guard = createRemoteGuard({ url: 'http://127.0.0.1:9', agentToken: 'limit-probe', spoolDir });
      try {
        const error = await guard.query({}).then(
          () => undefined,
          (caught: unknown) => caught,
        );
        if (!MeshGuardError.isInstance(error) || error.code !== 'admin_token_missing')
          return `a remote guard without the admin token answered query() with ${String(error)}`;
      } finally {
        await guard.close();
        rmSync(spoolDir, { recursive: true, force: true });
      }
      return stillSays('packages/openai-agents/src/answer-call.ts', 'await options.guard.query({');
    },
  },
  'oa-handoff-server-history': {
    limit: 'governed handoffs carry an inputFilter, which the SDK refuses with server-managed history',
    probe() {
      const adapter = stillSays(
        'packages/openai-agents/src/govern-handoff.ts',
        'inputFilter: (data: HandoffInputData)',
      );
      if (adapter) return adapter;
      return openAiRunnerSource().includes(
        'Handoff input filters cannot be used with conversationId or previousResponseId',
      )
        ? undefined
        : '@openai/agents-core no longer refuses a handoff input filter with conversationId / previousResponseId';
    },
  },
  'oa-tool-errors-without-tracing': {
    limit: 'errors of tool() tools under governTool are recorded only when tracing is on',
    probe: () => stillSays('packages/openai-agents/src/govern-tool.ts', 'getCurrentSpan()?.error?.message'),
  },
  'vertex-callable-tools-share-calls': {
    limit: 'the governed CallableTool answers calls it does not know with "Unknown function"',
    probe: () => stillSays('packages/vertex/src/govern-functions.ts', '`Unknown function "'),
  },
  'vertex-streamed-arguments-refused': {
    limit: 'calls with streamed arguments (streamFunctionCallArguments) are refused',
    probe: () =>
      stillSays(
        'packages/vertex/src/govern-functions.ts',
        'streamFunctionCallArguments), which MeshGuard cannot check',
      ),
  },
  'vertex-legacy-thought-signatures': {
    limit: "the legacy SDK's stream aggregate drops thought signatures",
    // The package's own test pins the SDK's behaviour: it fails when the SDK keeps them.
    probe: () =>
      stillSays(
        'packages/vertex/src/legacy-sdk.test.ts',
        'an SDK limit, documented: its stream aggregate drops thought signatures',
      ),
  },
  'bedrock-non-inline-collaborators': {
    limit: "a non-inline agent's hand-offs run inside AWS: observed, never stopped",
    probe: () =>
      stillSays(
        'packages/bedrock/src/bedrock-trace-activity.ts',
        "const NOT_GATED = 'observed in the Bedrock trace: it ran inside AWS, where MeshGuard cannot stop it';",
        "kind: 'handoff'",
      ),
  },
  'bedrock-collaborator-tokens': {
    limit: '`identities` of the Bedrock adapter take identities, not tokens',
    probe: () =>
      stillSays('packages/bedrock/src/bedrock-governance.ts', 'identities?: Record<string, IdentityInput>;'),
  },
};
