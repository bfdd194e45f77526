import { randomBytes } from 'node:crypto';
import { readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError, MeshGuardError } from '../errors/meshguard-error';
import { makePrivateDir, PRIVATE_FILE_MODE } from '../files/private-files';

/**
 * A run paused on an approval, as an adapter parks it: which framework, and the state it needs to
 * go on (the OpenAI Agents SDK's serialized `RunState`, a Bedrock return of control, a Gemini
 * chat's history and pending calls). It holds the call's arguments as the model wrote them, so
 * it is kept private (0600) and never written to the trail.
 */
export interface ParkedRun {
  approvalId: string;
  /** The adapter that parked it (`openai-agents`, `bedrock`, `vertex`). */
  framework: string;
  parkedAt: string;
  /** The adapter's own state, JSON. */
  state: unknown;
}

/** A parked run taken for resuming: `done` once resumed, `putBack` if resuming failed. */
export interface ClaimedRun extends ParkedRun {
  done(): Promise<void>;
  putBack(): Promise<void>;
}

/**
 * Where paused runs wait for their approvals, under the approval id, across restarts and
 * processes. `claim` is atomic: of two processes resuming one run, one gets it.
 */
export interface RunParking {
  park(run: Omit<ParkedRun, 'parkedAt'>): Promise<void>;
  get(approvalId: string): Promise<ParkedRun | undefined>;
  claim(approvalId: string): Promise<ClaimedRun | undefined>;
  /** The approval ids of the runs parked here. */
  list(): Promise<string[]>;
  /** Drops a parked run (its approval was rejected or expired and the host is done with it). */
  drop(approvalId: string): Promise<void>;
}

/** The folder runs are parked in by default (beside the embedded trail). */
export const DEFAULT_PARKING_DIR = '.meshguard/parked';

const SAFE_ID = /^[A-Za-z0-9_-]{1,200}$/;

function fileName(approvalId: string): string {
  if (!SAFE_ID.test(approvalId)) {
    throw new ConfigError(`not an approval id: ${JSON.stringify(approvalId.slice(0, 80))}`, {
      code: 'approval_id_invalid',
    });
  }
  return `${approvalId}.json`;
}

/**
 * Parks runs as one private file each (folder 0700, file 0600 whatever the umask), written whole
 * then renamed into place, so a crash leaves either the old file or the new one.
 *
 * @example
 * const parking = createFileParking('.meshguard/parked');
 * await parking.park({ approvalId, framework: 'openai-agents', state: result.state.toString() });
 */
export function createFileParking(dir: string = DEFAULT_PARKING_DIR): RunParking {
  const read = async (path: string): Promise<ParkedRun | undefined> => {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
    try {
      return JSON.parse(text) as ParkedRun;
    } catch (error) {
      throw new MeshGuardError(`the parked run in ${path} is not JSON (torn or edited)`, {
        code: 'parked_run_invalid',
        cause: error,
      });
    }
  };

  return {
    async park(run) {
      makePrivateDir(dir);
      const target = join(dir, fileName(run.approvalId));
      const temp = `${target}.${randomBytes(6).toString('hex')}.tmp`;
      const parked: ParkedRun = { ...run, parkedAt: new Date().toISOString() };
      await writeFile(temp, JSON.stringify(parked), { mode: PRIVATE_FILE_MODE, flag: 'wx' });
      await rename(temp, target);
    },
    get: (approvalId) => read(join(dir, fileName(approvalId))),
    async claim(approvalId) {
      const target = join(dir, fileName(approvalId));
      const claimed = `${target}.${process.pid}.${randomBytes(6).toString('hex')}.claimed`;
      try {
        // A rename is atomic: of two claimers, one moves the file and the other finds none.
        await rename(target, claimed);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw error;
      }
      const run = await read(claimed);
      if (!run) return undefined;
      return {
        ...run,
        done: () => rm(claimed, { force: true }),
        putBack: () => rename(claimed, target),
      };
    },
    async list() {
      let names: string[];
      try {
        names = await readdir(dir);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
        throw error;
      }
      return names.filter((n) => n.endsWith('.json')).map((n) => n.slice(0, -'.json'.length));
    },
    async drop(approvalId) {
      await rm(join(dir, fileName(approvalId)), { force: true });
    },
  };
}

/**
 * Claims every parked copy of a run parked under several approval ids (one run waiting on
 * several answers), in id order so that of two resumers, of the same approval or of two of one
 * run's, one gets them all. `read` turns a parked run into the adapter's state, whose
 * `approvalIds` name the copies. Undefined when nothing is parked under the id, or another
 * resumer holds the run; a state `read` refuses puts every claim back and throws.
 */
export async function claimParkedGroup<T extends { approvalIds: readonly string[] }>(
  parking: RunParking,
  approvalId: string,
  read: (run: ParkedRun) => T,
): Promise<{ state: T; claims: ClaimedRun[] } | undefined> {
  const peek = await parking.get(approvalId);
  if (!peek) return undefined;
  const ids = [...new Set([approvalId, ...read(peek).approvalIds])].sort();
  const claims: ClaimedRun[] = [];
  for (const id of ids) {
    const claim = await parking.claim(id);
    if (!claim) {
      await Promise.all(claims.map((c) => c.putBack()));
      return undefined;
    }
    claims.push(claim);
  }
  try {
    return { state: read(claims.find((c) => c.approvalId === approvalId) ?? claims[0]!), claims };
  } catch (error) {
    await Promise.all(claims.map((c) => c.putBack()));
    throw error;
  }
}
