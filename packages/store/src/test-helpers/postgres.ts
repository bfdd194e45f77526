// What the PostgreSQL tests of the store share: the server they run against, a schema (and role)
// of their own per test, dropped after the file's tests, and a plain connection for what the
// store itself refuses to do. Test code only: no entry of the package's build reaches this file.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll } from 'vitest';

/** The server to test against; unset, the PostgreSQL tests are skipped. */
export const PG_URL = process.env.MESHGUARD_TEST_PG_URL?.trim() || undefined;

const schemas: string[] = [];
const roles: string[] = [];

/** A schema name no other test uses (parallel files and repeated runs never meet). */
export function freshSchema(): string {
  const name = `mg_test_${randomBytes(6).toString('hex')}`;
  schemas.push(name);
  return name;
}

/** A role name no other test uses, e.g. `mg_intruder_1a2b3c4d` for `mg_intruder`. */
export function freshRole(prefix: string): string {
  const name = `${prefix}_${randomBytes(4).toString('hex')}`;
  roles.push(name);
  return name;
}

/** A plain connection as the test's superuser, for what the store itself refuses to do. */
export async function raw<T>(run: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  try {
    return await run(client);
  } finally {
    await client.end();
  }
}

afterAll(async () => {
  if (!PG_URL || (schemas.length === 0 && roles.length === 0)) return;
  await raw(async (client) => {
    for (const schema of schemas) await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    for (const role of roles) await client.query(`DROP ROLE IF EXISTS "${role}"`);
  });
});
