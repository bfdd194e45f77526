// Shared by the notifier's tests: an approval request, a denied decision, secrets and folders.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { format } from 'node:util';
import type { ApprovalRequest, AuditEventBody } from '@meshguard/core';
import createDebug from 'debug';
import type { ApprovalNotifier, DeliveryReport } from './approval-notifier';
import type { TestReceiver } from './webhook-test-receiver';

/** Retry settings small enough for tests. */
export const FAST = { initialDelayMs: 10, maxDelayMs: 40, timeoutMs: 2000 };

const open: Array<ApprovalNotifier | TestReceiver> = [];

/** Closes `thing` after the test (see {@link closeTracked}). */
export function track<T extends ApprovalNotifier | TestReceiver>(thing: T): T {
  open.push(thing);
  return thing;
}

/** For `afterEach`: closes what the test tracked, newest first. */
export async function closeTracked(): Promise<void> {
  for (const thing of open.splice(0).reverse()) await thing.close();
}

/** Collects a notifier's delivery reports. */
export function reports(): { list: DeliveryReport[]; onReport: (r: DeliveryReport) => void } {
  const list: DeliveryReport[] = [];
  return { list, onReport: (r) => list.push(r) };
}

/** Turns `debug` on for `namespaces` and collects its lines as printed, until `restore`. */
export function captureDebug(namespaces: string): { logged: string[]; restore(): void } {
  const logged: string[] = [];
  const log = createDebug.log;
  createDebug.enable(namespaces);
  createDebug.log = (...args: unknown[]) => logged.push(format(...args));
  return {
    logged,
    restore() {
      createDebug.log = log;
      createDebug.disable();
    },
  };
}

/** A fresh Standard Webhooks secret: `whsec_` and 32 random bytes in base64. */
export function newSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

export const RAW_PASSWORD = 'hunter2-very-secret';
export const RAW_CARD = '4111 1111 1111 1111';

export function approval(overrides: Partial<ApprovalRequest> = {}): ApprovalRequest {
  const now = Date.now();
  return {
    id: `apr_${randomBytes(6).toString('hex')}`,
    decisionId: 'dec_1',
    traceId: 'trace_1',
    agent: { id: 'agent-1', name: 'Refund bot', tags: ['support'], tier: 'basic' },
    framework: 'openai-agents',
    kind: 'tool',
    action: 'write:refund',
    arguments: { order: 'A-1', amount: 150, password: RAW_PASSWORD, note: `card ${RAW_CARD}` },
    argumentsHash: 'a'.repeat(64),
    reason: 'Refunds over $100 need a manager',
    status: 'pending',
    requestedAt: new Date(now).toISOString(),
    expiresAt: new Date(now + 30 * 60_000).toISOString(),
    approvers: ['finance'],
    notify: [],
    ...overrides,
  };
}

export function deniedEvent(overrides: Partial<AuditEventBody> = {}): AuditEventBody {
  return {
    v: 1,
    id: `evt_${randomBytes(6).toString('hex')}`,
    ts: new Date().toISOString(),
    type: 'decision',
    traceId: 'trace_2',
    agent: { id: 'agent-1', name: 'Refund bot', tags: [], tier: 'basic' },
    framework: 'openai-agents',
    kind: 'tool',
    action: 'delete:customer',
    effect: 'deny',
    reason: 'Deleting customers is never allowed',
    policy: { name: 'customers', version: '1' },
    rule: { id: 'no-deletes', index: 0 },
    mode: 'enforce',
    decisionId: 'dec_2',
    context: { customer: 'C-9', api_key: 'sk-live-abcdef' },
    ...overrides,
  };
}

const made: string[] = [];

export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'mg-notify-'));
  made.push(dir);
  return dir;
}

export function removeTempDirs(): void {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/** Every file under `dir`, at any depth, with its mode and text. */
export function filesUnder(dir: string): Array<{ path: string; mode: number; text: string; isDir: boolean }> {
  const out: Array<{ path: string; mode: number; text: string; isDir: boolean }> = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    const info = statSync(path);
    if (info.isDirectory()) {
      out.push({ path, mode: info.mode & 0o777, text: '', isDir: true });
      out.push(...filesUnder(path));
    } else {
      out.push({ path, mode: info.mode & 0o777, text: readFileSync(path, 'utf8'), isDir: false });
    }
  }
  return out;
}

/** The spool's waiting messages (not claimed, not dead). */
export function pendingFiles(dir: string): string[] {
  return readdirSync(dir).filter((name) => /^msg_[0-9a-f]{32}\.json$/.test(name));
}
