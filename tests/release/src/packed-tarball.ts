// A packed tarball as the release tests read it: its bytes (for publint), its contents (for
// are-the-types-wrong), and its files by path relative to the package root.
import { readFileSync } from 'node:fs';
import { createPackageFromTarballData } from '@arethetypeswrong/core';

export interface PackedTarball {
  bytes: Uint8Array;
  contents: ReturnType<typeof createPackageFromTarballData>;
  /** Every file in the tarball, relative to the package root (`README.md`, `dist/index.js`). */
  files: string[];
  /** A file's text, by path relative to the package root. */
  read(file: string): string;
}

/** Each tarball read and unpacked once, however many checks look at it. */
const unpacked = new Map<string, PackedTarball>();

export function tarball(path: string): PackedTarball {
  let entry = unpacked.get(path);
  if (!entry) {
    const bytes = new Uint8Array(readFileSync(path));
    const contents = createPackageFromTarballData(bytes);
    const prefix = `/node_modules/${contents.packageName}/`;
    entry = {
      bytes,
      contents,
      files: contents.listFiles().map((f) => f.slice(prefix.length)),
      read: (file) => contents.readFile(`${prefix}${file}`),
    };
    unpacked.set(path, entry);
  }
  return entry;
}
