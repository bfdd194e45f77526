import { createHash, randomBytes } from 'node:crypto';
import { appendFile, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { createRedactor, redactBody } from '../audit/redaction';
import { ensurePrivateFile, makePrivateDir } from '../files/private-files';
import type { OutcomeEvent } from '../protocol/outcome-event';

/** An outcome event on its way to the gateway (it always has an id by then). */
export type SpooledEvent = OutcomeEvent & { id: string };

/**
 * Where outcome events wait on local disk while the gateway is away: one JSON line each, in a
 * private folder (0700) and file (0600) whatever the umask, a looser existing file tightened.
 * What is written is the redacted form only: context fields that look secret or personal are
 * replaced by salted hashes, as the gateway would store them (under a salt of this process, so
 * they join nothing, and the value cannot be read back from the disk).
 */
export interface Spool {
  readonly dir: string;
  /** Appends events to the spool. */
  append(events: readonly SpooledEvent[]): Promise<void>;
  /** Sets events aside that the gateway refused for good (kept for an operator, never retried). */
  reject(events: readonly SpooledEvent[]): Promise<void>;
  /**
   * Takes the spool's events for a replay: the file is claimed by renaming it, so events appended
   * meanwhile (by this guard or another process with the same token) go to a fresh spool. `done`
   * removes the claimed file once what was not delivered is back in the spool.
   */
  claim(): Promise<{ events: SpooledEvent[]; done(): Promise<void> } | undefined>;
}

export function createSpool(options: { dir: string; key: string; redactKeys?: readonly string[] }): Spool {
  const name = createHash('sha256').update(options.key).digest('hex').slice(0, 16);
  const file = join(options.dir, `${name}.jsonl`);
  const rejected = join(options.dir, `${name}.rejected.jsonl`);
  const redact = createRedactor({
    salt: randomBytes(32).toString('hex'),
    ...(options.redactKeys ? { keys: options.redactKeys } : {}),
  });

  // Events read back from the spool are redacted already: hashing them again would only blur them.
  const redacted = new WeakSet<SpooledEvent>();
  const write = async (target: string, events: readonly SpooledEvent[]) => {
    if (events.length === 0) return;
    makePrivateDir(options.dir);
    ensurePrivateFile(target, { create: true });
    const lines = events.map((event) =>
      JSON.stringify(redacted.has(event) ? event : redactBody(event, redact)),
    );
    // A leading newline ends a line a crash may have torn, so it cannot swallow this one.
    await appendFile(target, `\n${lines.join('\n')}\n`, { mode: 0o600 });
  };

  return {
    dir: options.dir,
    append: (events) => write(file, events),
    reject: (events) => write(rejected, events),
    async claim() {
      const claimed = `${file}.${process.pid}.${Date.now()}.replaying`;
      try {
        await rename(file, claimed);
      } catch {
        return undefined; // no spool
      }
      let text = '';
      try {
        text = await readFile(claimed, 'utf8');
      } catch {
        return undefined;
      }
      const events = text
        .split('\n')
        .filter((line) => line.trim() !== '')
        .flatMap((line) => {
          try {
            const event = JSON.parse(line) as SpooledEvent;
            redacted.add(event);
            return [event];
          } catch {
            return []; // a line torn by a crash mid-write
          }
        });
      return { events, done: () => rm(claimed, { force: true }) };
    },
  };
}
