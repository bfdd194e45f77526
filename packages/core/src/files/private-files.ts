import {
  chmodSync,
  closeSync,
  constants,
  fchmodSync,
  fstatSync,
  mkdirSync,
  openSync,
  statSync,
} from 'node:fs';
import { ConfigError } from '../errors/meshguard-error';

/** The mode of every folder MeshGuard creates: the owner alone may list and enter it. */
export const PRIVATE_DIR_MODE = 0o700;
/** The mode of every file MeshGuard creates: the owner alone may read and write it. */
export const PRIVATE_FILE_MODE = 0o600;

const looser = (mode: number, allowed: number) => (mode & 0o777 & ~allowed) !== 0;

/**
 * Creates `dir` and any missing parents, each 0700 whatever the umask. Folders that already
 * exist are left as they are (they may be the user's own, `/tmp` or the project root); an
 * existing `dir` must be a folder.
 */
export function makePrivateDir(dir: string): void {
  let first: string | undefined;
  try {
    first = mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  } catch (cause) {
    throw new ConfigError(`cannot create the folder ${dir}: ${(cause as Error).message}`, { cause });
  }
  if (first === undefined) {
    if (!statSync(dir).isDirectory()) throw new ConfigError(`${dir} exists and is not a folder`);
    return;
  }
  // mkdir returned the top-most folder it created: chmod it and every folder below it on the way to dir.
  const created: string[] = [];
  for (let at = dir; ; ) {
    created.push(at);
    if (at === first) break;
    const parent = at.slice(0, Math.max(at.lastIndexOf('/'), 1));
    if (parent === at) break;
    at = parent;
  }
  for (const folder of created) chmodSync(folder, PRIVATE_DIR_MODE);
}

/**
 * Makes sure `path` is a private file: creates it empty with 0600 when `create` and it is
 * missing; tightens an existing file whose mode lets anyone but the owner in. Throws a
 * `ConfigError` naming the file when it cannot be tightened (another user's file, say).
 * Returns whether the file exists afterwards.
 */
export function ensurePrivateFile(path: string, options: { create?: boolean } = {}): boolean {
  let fd: number;
  try {
    const flags = constants.O_RDONLY | (options.create ? constants.O_CREAT : 0) | constants.O_NOFOLLOW;
    fd = openSync(path, flags, PRIVATE_FILE_MODE);
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && !options.create) return false;
    if (code === 'ELOOP')
      throw new ConfigError(`${path} is a symbolic link; MeshGuard keeps its files as plain files`);
    throw new ConfigError(`cannot open ${path}: ${(cause as Error).message}`, { cause });
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) throw new ConfigError(`${path} is not a plain file`);
    // Another user's file is never adopted, even where we could chmod it (as root): whoever owns
    // it can read it (a key file someone planted in a shared folder would sign our tokens).
    const uid = process.geteuid?.();
    if (uid !== undefined && stat.uid !== uid) {
      throw new ConfigError(
        `${path} belongs to another user (uid ${stat.uid}); MeshGuard keeps its files as its own user's`,
      );
    }
    if (looser(stat.mode, PRIVATE_FILE_MODE)) {
      try {
        fchmodSync(fd, PRIVATE_FILE_MODE);
      } catch (cause) {
        throw new ConfigError(
          `${path} is readable by others (mode ${(stat.mode & 0o777).toString(8)}) and cannot be made private: ${(cause as Error).message}`,
          { cause },
        );
      }
    }
  } finally {
    closeSync(fd);
  }
  return true;
}

/** Tightens `path` if it exists (a SQLite -wal or -shm file, say); see {@link ensurePrivateFile}. */
export function tightenIfExists(path: string): void {
  ensurePrivateFile(path, { create: false });
}
