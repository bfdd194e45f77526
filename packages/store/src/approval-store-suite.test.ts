import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createMemoryApprovals } from '@meshguard/core/internal';
import { describeApprovalStore } from './approval-store-suite';
import { openPostgresStore } from './postgres-store';
import { SQLITE_DRIVERS, sqliteDriverAvailable } from './sqlite-driver';
import { openSqliteStore } from './sqlite-store';
import { freshSchema, PG_URL } from './test-helpers/postgres';

// One suite for every approval store: the memory store's is the reference the others follow.
describeApprovalStore('memory', async () => createMemoryApprovals());

// node:sqlite exists from Node 22.13; better-sqlite3 where it was built for this Node.
for (const driver of SQLITE_DRIVERS.filter(sqliteDriverAvailable)) {
  describeApprovalStore(`sqlite (${driver})`, async () =>
    openSqliteStore(join(await mkdtemp(join(tmpdir(), 'mg-approvals-')), 'audit.db'), { driver }),
  );
}

if (PG_URL) describeApprovalStore('postgres', () => openPostgresStore(PG_URL!, { schema: freshSchema() }));
