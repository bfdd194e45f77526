import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createMemoryStore } from '@meshguard/core';
import { describe, expect, it } from 'vitest';
import { openSqliteStore } from './sqlite-store';
import { describeAuditStore } from './testing';

const tempDb = async () => join(await mkdtemp(join(tmpdir(), 'mg-store-')), 'audit.db');

describeAuditStore('memory', async () => createMemoryStore());
describeAuditStore('sqlite', async () => openSqliteStore(await tempDb()));

describe('sqlite store', () => {
  it('keeps the redaction salt in the file and continues the chain after reopening', async () => {
    const path = await tempDb();
    const { makeEventBody } = await import('./testing');
    const one = openSqliteStore(path);
    const [a] = await one.append([makeEventBody({ context: { email: 'x@y.z' } })]);
    await one.close();
    const two = openSqliteStore(path);
    const [b] = await two.append([makeEventBody({ context: { email: 'x@y.z' } })]);
    expect(b!.context!.email).toBe(a!.context!.email);
    expect(b!.seq).toBe(2);
    expect(b!.prevHash).toBe(a!.hash);
    expect((await two.verify()).ok).toBe(true);
    await two.close();
  });
});
