import { randomBytes } from 'node:crypto';
import { open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { MeshGuardError } from '@meshguard/core';
import { ensurePrivateFile, makePrivateDir, PRIVATE_FILE_MODE } from '@meshguard/core/internal';
import { z } from 'zod';
import { NOTIFY_EVENTS, WEBHOOK_FORMATS } from './webhook-channels';

/** A message id (`webhook-id`) and the name of its spool file: `msg_` then 32 hex digits (a UUIDv7). */
const MESSAGE_ID = /^msg_[0-9a-f]{32}$/;
const PENDING = /^(msg_[0-9a-f]{32})\.json$/;
/** `<id>.json.<pid>-<claimant>.<claimed at, ms>.sending`: a message one notifier is sending. */
const CLAIMED = /^(msg_[0-9a-f]{32})\.json\.(\d+)-([0-9a-f]+)\.(\d+)\.sending$/;
const TEMP = /\.tmp$/;

/**
 * One notification for one channel, as it waits in the spool: what the signature is made of
 * (the id and the body, exactly as sent) and its delivery state. Never the channel's secret or
 * URL: those are the configuration's, read at each attempt.
 */
const SpooledMessageSchema = z.object({
  v: z.literal(1),
  /** The `webhook-id`: the same on every attempt, which receivers de-duplicate on. */
  id: z.string().regex(MESSAGE_ID),
  channel: z.string().min(1),
  format: z.enum(WEBHOOK_FORMATS),
  event: z.enum(NOTIFY_EVENTS),
  /** The approval request's id, or the denied decision's event id. */
  subject: z.string(),
  /** The JSON body, exactly as sent and signed. */
  body: z.string(),
  /** Epoch milliseconds. */
  createdAt: z.number(),
  /** Failed attempts so far. */
  attempts: z.number().int().nonnegative(),
  nextAttemptAt: z.number(),
  lastError: z.string().optional(),
  lastStatus: z.number().int().optional(),
});
export type SpooledMessage = z.infer<typeof SpooledMessageSchema>;

/** A message given up on, as the dead folder keeps it for an operator. */
interface DeadMessage extends SpooledMessage {
  deadAt: string;
  reason: string;
}

/** A message taken for an attempt; exactly one of the three ends it. */
export interface ClaimedMessage {
  readonly message: SpooledMessage;
  /** Delivered: the file goes. */
  done(): Promise<void>;
  /** Back to the spool, as it was or as `update` says (the next attempt's time). */
  putBack(update?: SpooledMessage): Promise<void>;
  /** Given up on: moved to the dead folder with the reason. */
  bury(reason: string, update?: SpooledMessage): Promise<void>;
}

/**
 * The notifications waiting for delivery: one private file per message (folder 0700, files 0600
 * whatever the umask), written whole and synced under a temporary name, then renamed into place.
 * A message is claimed by renaming its file, so of two notifiers on one folder only one sends it.
 */
export interface NotifySpool {
  readonly dir: string;
  readonly deadDir: string;
  /** Writes a new message durably: resolves once it is on disk under its own name. */
  write(message: SpooledMessage): Promise<void>;
  /** The ids of the messages waiting (not claimed), oldest first. */
  list(): Promise<string[]>;
  /** When a waiting message is next due (read without claiming it); undefined if it is gone. */
  dueAt(id: string): Promise<number | undefined>;
  /** Takes a message for an attempt; undefined if another notifier has it or it is gone. */
  claim(id: string): Promise<ClaimedMessage | undefined>;
  /**
   * Puts back the claims of notifiers that died (their process is gone) or that hold one longer
   * than `staleMs`, and removes temporary files left by a crash mid-write. Returns how many
   * messages came back.
   */
  recover(staleMs: number): Promise<number>;
}

/** A fresh message id: `msg_` and a UUIDv7's hex digits, so names sort in creation order. */
export function newMessageId(uuid: string): string {
  return `msg_${uuid.replaceAll('-', '')}`;
}

export function createNotifySpool(dir: string): NotifySpool {
  const deadDir = join(dir, 'dead');
  makePrivateDir(dir);
  // Each spool object claims under its own name, so two notifiers in one process tell their claims apart.
  const claimant = `${process.pid}-${randomBytes(4).toString('hex')}`;
  const pendingPath = (id: string) => join(dir, `${checkId(id)}.json`);

  const readMessage = async (path: string): Promise<SpooledMessage | 'unreadable' | undefined> => {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
    try {
      const parsed = SpooledMessageSchema.safeParse(JSON.parse(text));
      return parsed.success ? parsed.data : 'unreadable';
    } catch {
      return 'unreadable';
    }
  };

  return {
    dir,
    deadDir,
    async write(message) {
      makePrivateDir(dir);
      await writePrivate(dir, pendingPath(message.id), JSON.stringify(message));
    },
    async list() {
      const names = await readdirOrEmpty(dir);
      return names
        .map((name) => PENDING.exec(name)?.[1])
        .filter((id): id is string => id !== undefined)
        .sort();
    },
    async dueAt(id) {
      const message = await readMessage(pendingPath(id));
      if (message === undefined) return undefined;
      return message === 'unreadable' ? 0 : message.nextAttemptAt;
    },
    async claim(id) {
      const pending = pendingPath(id);
      const claimed = `${pending}.${claimant}.${Date.now()}.sending`;
      try {
        // A rename is atomic: of two claimers, one moves the file and the other finds none.
        await rename(pending, claimed);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw error;
      }
      const message = await readMessage(claimed);
      if (message === undefined) return undefined;
      if (message === 'unreadable') {
        // Edited or foreign: kept for an operator as it is, never sent.
        makePrivateDir(deadDir);
        await rename(claimed, join(deadDir, `${id}.unreadable.json`));
        return undefined;
      }
      return {
        message,
        done: () => rm(claimed, { force: true }),
        async putBack(update) {
          // The claimed file is replaced atomically, then renamed back: a crash leaves one or the other.
          if (update) await writePrivate(dir, claimed, JSON.stringify(update));
          await rename(claimed, pending);
        },
        async bury(reason, update) {
          makePrivateDir(deadDir);
          const dead: DeadMessage = { ...(update ?? message), deadAt: new Date().toISOString(), reason };
          await writePrivate(deadDir, join(deadDir, `${id}.json`), `${JSON.stringify(dead, null, 2)}\n`);
          await rm(claimed, { force: true });
        },
      };
    },
    async recover(staleMs) {
      const now = Date.now();
      let back = 0;
      for (const name of await readdirOrEmpty(dir)) {
        const claim = CLAIMED.exec(name);
        if (claim) {
          const [, id, pid, owner, at] = claim;
          const own = `${pid}-${owner}` === claimant;
          const stale = now - Number(at) > staleMs || (!own && !processAlive(Number(pid)));
          if (!stale || own) continue;
          try {
            await rename(join(dir, name), pendingPath(id!));
            back++;
          } catch (error) {
            if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
          }
        } else if (TEMP.test(name)) {
          const path = join(dir, name);
          const info = await stat(path).catch(() => undefined);
          if (info && now - info.mtimeMs > staleMs) await rm(path, { force: true });
        }
      }
      return back;
    },
  };
}

function checkId(id: string): string {
  if (!MESSAGE_ID.test(id))
    throw new MeshGuardError(`not a notification message id: ${JSON.stringify(id.slice(0, 80))}`, {
      code: 'notification_id_invalid',
    });
  return id;
}

/** Whether a process on this machine is alive (the spool is a local folder). */
function processAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function readdirOrEmpty(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}

/** Writes `text` to `path` durably and privately: a synced 0600 temporary file renamed into place. */
async function writePrivate(dir: string, path: string, text: string): Promise<void> {
  const temp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  const handle = await open(temp, 'wx', PRIVATE_FILE_MODE);
  try {
    await handle.writeFile(text, 'utf8');
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    ensurePrivateFile(temp); // 0600 whatever the umask (it only ever takes bits away)
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
  await syncDir(dir);
}

/** Makes a rename in `dir` survive a power cut (where the platform lets a folder be synced). */
async function syncDir(dir: string): Promise<void> {
  let handle: Awaited<ReturnType<typeof open>> | undefined;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch {
    // Not every platform syncs a folder; the rename is still atomic.
  } finally {
    await handle?.close().catch(() => {});
  }
}
