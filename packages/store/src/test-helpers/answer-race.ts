// Two processes answering the same approval requests at the same moment, for the tests of the
// stores' approvals: each opens the store through the built package, says it is ready, and on
// the word answers every id (a approves from the first, b rejects from the last, a few ms apart,
// so that each wins some and they meet on the same ids) and prints what each answer changed.
// Test code only: no entry of the package's build reaches this file.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';

const DIST = fileURLToPath(new URL('../../dist/index.js', import.meta.url));

const ANSWERER = (open: string) => `
import { openSqliteStore, openPostgresStore } from ${JSON.stringify(pathToFileURL(DIST).href)};
const [where, schema, who, ...ids] = process.argv.slice(1);
const store = ${open};
process.stdout.write('ready\\n');
process.stdin.once('data', async () => {
  const changed = {};
  for (const id of who === 'a' ? ids : [...ids].reverse()) {
    const answered = await store.answerApproval(id, {
      status: who === 'a' ? 'approved' : 'rejected', by: who, at: new Date().toISOString(),
    });
    changed[id] = answered.changed;
    await new Promise((resolve) => setTimeout(resolve, 3));
  }
  await store.close();
  process.stdout.write(JSON.stringify(ids.map((id) => changed[id])) + '\\n');
});
`;

/** How a child opens the store: a JS expression over `where` (a path or URL) and `schema`. */
export const OPEN_SQLITE = 'openSqliteStore(where, { journal: false })';
export const OPEN_POSTGRES = 'await openPostgresStore(where, { schema, poolSize: 4 })';

/**
 * Has two processes answer `ids` at once on the store `open` opens; for each process, whether its
 * answer to each id changed the request. Needs the package built (`pnpm build`).
 */
export async function answerInTwoProcesses(
  open: string,
  where: string,
  schema: string,
  ids: readonly string[],
): Promise<{ a: boolean[]; b: boolean[] }> {
  if (!existsSync(DIST))
    throw new Error('packages/store is not built: run `pnpm build` first (pnpm test does)');
  const children = (['a', 'b'] as const).map((who) =>
    spawn(process.execPath, ['--input-type=module', '-e', ANSWERER(open), where, schema, who, ...ids], {
      stdio: ['pipe', 'pipe', 'inherit'],
    }),
  );
  try {
    const lines = children.map((child) => createInterface({ input: child.stdout! })[Symbol.asyncIterator]());
    const next = async (i: number) => {
      const line = await lines[i]!.next();
      if (line.done) throw new Error(`answerer ${i} ended without a word`);
      return line.value;
    };
    await Promise.all(children.map((_, i) => next(i)));
    for (const child of children) child.stdin!.write('go\n');
    const [a, b] = await Promise.all(children.map(async (_, i) => JSON.parse(await next(i)) as boolean[]));
    return { a: a!, b: b! };
  } finally {
    for (const child of children) child.kill('SIGKILL');
  }
}
