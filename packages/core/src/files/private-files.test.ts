import { chownSync, mkdtempSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ensurePrivateFile, makePrivateDir, tightenIfExists } from './private-files';

const mode = (path: string) => statSync(path).mode & 0o777;

describe('private files', () => {
  let root: string;
  let umask: number;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'mg-private-'));
    umask = process.umask(0); // the loosest umask: nothing is masked for us
  });
  afterEach(() => {
    process.umask(umask);
  });

  it('creates every missing folder 0700 whatever the umask, and leaves existing ones alone', () => {
    const outer = mode(root);
    makePrivateDir(join(root, 'a', 'b', 'c'));
    expect(mode(join(root, 'a'))).toBe(0o700);
    expect(mode(join(root, 'a', 'b'))).toBe(0o700);
    expect(mode(join(root, 'a', 'b', 'c'))).toBe(0o700);
    expect(mode(root)).toBe(outer);
    makePrivateDir(join(root, 'a', 'b', 'c'));
  });

  it('creates files 0600 and tightens a looser existing file', () => {
    const file = join(root, 'f.db');
    expect(ensurePrivateFile(file, { create: true })).toBe(true);
    expect(mode(file)).toBe(0o600);
    const loose = join(root, 'loose');
    writeFileSync(loose, 'x', { mode: 0o644 });
    expect(mode(loose)).toBe(0o644);
    tightenIfExists(loose);
    expect(mode(loose)).toBe(0o600);
    expect(ensurePrivateFile(join(root, 'missing'))).toBe(false);
  });

  it('refuses a symbolic link and a folder, naming the path', () => {
    const target = join(root, 'target');
    writeFileSync(target, 'x', { mode: 0o644 });
    const link = join(root, 'link');
    symlinkSync(target, link);
    expect(() => ensurePrivateFile(link)).toThrow(/link is a symbolic link/);
    expect(mode(target)).toBe(0o644);
    expect(() => ensurePrivateFile(root)).toThrow(/not a plain file/);
  });

  // As root, chmod succeeds on anyone's file: a key file (or database) another user planted in a
  // shared folder was tightened and adopted, and its owner could still read it.
  it.runIf(process.geteuid?.() === 0)('refuses a file another user owns, even as root', () => {
    const planted = join(root, 'm.db.signing-key.json');
    writeFileSync(planted, '{}', { mode: 0o644 });
    chownSync(planted, 65534, 65534);
    expect(() => ensurePrivateFile(planted)).toThrow(/another user/);
    expect(statSync(planted).uid).toBe(65534);
    expect(mode(planted)).toBe(0o644);
  });
});
