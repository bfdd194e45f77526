import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AuditNotRecordedError,
  createEmbeddedGuard,
  createPolicyEngine,
  parsePolicies,
} from '@meshguard/core';
import { testAgent } from '@meshguard/core/testing';
import createDebug from 'debug';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSqliteStore } from './sqlite-store';

// A real full disk: a 1 MiB tmpfs, which only root can mount. Skipped elsewhere, never faked.
const mountPoint = mkdtempSync(join(tmpdir(), 'mg-full-'));
let mounted = false;
beforeAll(() => {
  if (process.getuid?.() !== 0) return;
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mountPoint]);
    mounted = true;
  } catch {
    // No mount namespace of our own (an unprivileged container): skipped.
  }
});
afterAll(() => {
  if (mounted) execFileSync('umount', [mountPoint]);
  rmSync(mountPoint, { recursive: true, force: true });
});

/** Fills the file system with one file until it refuses another byte. */
function fill(dir: string): void {
  const fd = openSync(join(dir, 'filler'), 'w');
  const chunk = Buffer.alloc(4096, 1);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
  } finally {
    closeSync(fd);
  }
}

const engine = createPolicyEngine(
  parsePolicies('name: p\nversion: "1"\nrules:\n  - effect: allow\n    actions: ["read:*"]\n'),
);
const agent = testAgent({ name: 'reader' });

describe('batched durability on a full disk', () => {
  it('denies the next check with the reason, logs the loss, and close() rejects counting the events', async (ctx) => {
    if (!mounted) ctx.skip();
    const logged: string[] = [];
    const log = createDebug.log;
    createDebug.log = (...args: unknown[]) => logged.push(args.map(String).join(' '));
    createDebug.enable('meshguard:guard');
    try {
      const store = openSqliteStore(join(mountPoint, 'audit.db'), {
        journal: false,
        backgroundCheckpoints: false,
      });
      const guard = createEmbeddedGuard({
        engine,
        store,
        ownsStore: true,
        audit: { durability: 'batched', batchMs: 5 },
      });
      expect((await guard.check({ action: 'read:before', agent, traceId: 't' })).allowed).toBe(true);
      await guard.settled();
      fill(mountPoint);
      // Queued before the commit failed: allowed (batching's documented price), then not stored.
      const big = { note: 'x'.repeat(64 * 1024) };
      const queued = await Promise.all(
        Array.from({ length: 5 }, (_, i) =>
          guard.check({ action: `read:${i}`, agent, traceId: 't', context: big }),
        ),
      );
      expect(queued.every((d) => d.allowed)).toBe(true);
      await guard.settled();
      const next = await guard.check({ action: 'read:after', agent, traceId: 't' });
      expect(next).toMatchObject({ allowed: false, effect: 'deny' });
      expect(next.reason).toMatch(/^Denied: the decision could not be recorded in the audit trail \(.*full/);
      const closing = guard.close();
      await expect(closing).rejects.toBeInstanceOf(AuditNotRecordedError);
      const error = (await closing.catch((e: unknown) => e)) as AuditNotRecordedError;
      expect(error.count).toBe(5);
      expect(error.events.map((e) => e.action)).toEqual(['read:0', 'read:1', 'read:2', 'read:3', 'read:4']);
      expect(error.message).toMatch(/^5 audit events were not recorded: the store refused them \(.*full/);
      expect(logged.some((line) => line.includes('AUDIT EVENTS LOST'))).toBe(true);
    } finally {
      createDebug.log = log;
      createDebug.disable();
    }
  });
});
