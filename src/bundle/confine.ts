// The one module that turns an untrusted archive path into a host path inside a root directory.
// Paths are resolved component by component with lstat, as if root were `/` (the approach of
// continuity's fs.RootPath and filepath-securejoin): `..` stops at root, absolute names and
// absolute symlink targets restart at root, and every symlink met on the way is expanded inside
// root. The result can name a missing path; creating it then makes only plain directories.
// Races with other writers of the tree are out of scope: the archive itself is the adversary.
import { lstatSync, readlinkSync } from 'node:fs';
import { join, posix, relative, resolve, sep } from 'node:path';
import { OciToolError } from '../errors.js';

/** Symlinks followed in one resolution before giving up, as Linux's and continuity's limit. */
export const MAX_SYMLINKS = 255;

function invalid(message: string): OciToolError {
  return new OciToolError('OCI_ERR_INVALID_CONTENT', message);
}

function checkName(name: string, what: string): void {
  if (name === '') throw invalid(`empty ${what}`);
  if (name.includes('\0')) throw invalid(`${what} ${JSON.stringify(name)} contains a NUL byte`);
}

/**
 * Lexically cleans an archive path: relative to the archive root, no `.`/`..`/empty components
 * (`..` stops at the root), `.` for the root itself. Does not touch the filesystem.
 */
export function cleanArchivePath(name: string): string {
  checkName(name, 'archive path');
  const clean = posix.normalize(`/${name}`).replace(/^\/+/, '').replace(/\/+$/, '');
  return clean === '' ? '.' : clean;
}

/** True when host path p is root or below it. */
export function isInside(root: string, p: string): boolean {
  const rel = relative(root, p);
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${sep}`) && !posix.isAbsolute(rel));
}

function isMissing(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/** A resolution and the number of symlinks expanded on the way (0: every component was lexical). */
export interface Resolved {
  path: string;
  symlinks: number;
}

/**
 * resolveInRootSync with the count of symlinks it expanded. With none expanded and a clean path
 * (no `.`/`..`), the walk looked only at the prefixes of the result, which is what lets apply.ts
 * cache it (see parent-cache.ts).
 */
export function walkInRoot(root: string, untrusted: string, opts: { followFinal?: boolean } = {}): Resolved {
  checkName(untrusted, 'path');
  const base = resolve(root);
  const followFinal = opts.followFinal ?? true;
  // Components still to walk, reversed so that pop() takes the next one.
  const todo = untrusted.split('/').reverse();
  const done: string[] = [];
  let links = 0;
  while (todo.length > 0) {
    const part = todo.pop() as string;
    if (part === '' || part === '.') continue;
    if (part === '..') {
      done.pop();
      continue;
    }
    const here = join(base, ...done, part);
    const isFinal = todo.every((p) => p === '' || p === '.');
    if (isFinal && !followFinal) {
      done.push(part);
      break;
    }
    let target: string | undefined;
    try {
      // Sync: unpack is one sequential writer, and a threadpool round trip per component costs
      // far more than the syscall itself. A missing component comes back undefined, not thrown.
      const st = lstatSync(here, { throwIfNoEntry: false });
      if (st?.isSymbolicLink()) target = readlinkSync(here);
    } catch (e) {
      // Missing: nothing on disk can redirect this component, but later ones are still checked
      // (`missing/../link/x` must still expand link).
      if (!isMissing(e)) throw e;
    }
    if (target === undefined) {
      done.push(part);
      continue;
    }
    if (++links > MAX_SYMLINKS) {
      throw invalid(`cannot resolve ${JSON.stringify(untrusted)} in the rootfs: a symlink loop or more than ${MAX_SYMLINKS} symlinks`);
    }
    if (target.startsWith('/')) done.length = 0;
    todo.push(...target.split('/').reverse());
  }
  const out = join(base, ...done);
  // Cannot happen by construction; kept because everything else relies on it.
  if (!isInside(base, out)) throw new OciToolError('OCI_ERR_INTERNAL', `path ${JSON.stringify(untrusted)} resolved outside the rootfs`);
  return { path: out, symlinks: links };
}

/**
 * Resolves an untrusted path under root as if root were `/`. With followFinal false, a symlink
 * as the last component is returned itself (for lstat, unlink, hard links to symlinks).
 */
export function resolveInRootSync(root: string, untrusted: string, opts: { followFinal?: boolean } = {}): string {
  return walkInRoot(root, untrusted, opts).path;
}

/** resolveInRootSync for promise callers; errors arrive as rejections. */
export async function resolveInRoot(root: string, untrusted: string, opts: { followFinal?: boolean } = {}): Promise<string> {
  return resolveInRootSync(root, untrusted, opts);
}
