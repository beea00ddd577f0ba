// Creating one tar entry on disk, once apply.ts has confined its path. Nothing here follows a
// symlink at the final component: creation (files opened O_EXCL | O_NOFOLLOW, mkdir, symlink,
// link) fails on an existing path, which is then removed and the creation retried; metadata goes
// through the open file or the l* calls; directory modes and times wait for the end of the layer
// (each path re-checked then, ancestors included).
import { execFile } from 'node:child_process';
import {
  chmodSync, closeSync, constants, fchmodSync, fchownSync, futimesSync, lchownSync, linkSync, lstatSync, lutimesSync, mkdirSync,
  openSync, rmSync, symlinkSync, unlinkSync, writeSync, type Stats,
} from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { promisify } from 'node:util';
import type { Header } from 'tar-stream';
import { OciToolError } from '../errors.js';
import { cleanArchivePath, isInside, resolveInRootSync } from './confine.js';
import type { ParentCache } from './parent-cache.js';

// Per-entry metadata work is synchronous: unpack is one sequential writer, and each of these
// syscalls takes microseconds where a libuv threadpool round trip takes 50-100.

const run = promisify(execFile);

/** A tar-stream header as it is at runtime: linkname may be null, PAX records are strings. */
export type TarHeader = Omit<Header, 'linkname' | 'pax'> & { linkname?: string | null; pax?: Record<string, string> | null };

export interface IdMapping {
  container: number;
  host: number;
  size: number;
}

export interface EntryContext {
  root: string;
  rootless: boolean;
  uidMap?: IdMapping[];
  gidMap?: IdMapping[];
  signal?: AbortSignal;
  /** Directory modes and times, applied after the layer's last entry. */
  dirMeta: Map<string, { mode: number; atime: number; mtime: number }>;
  /** Why device nodes cannot be made here, once known. */
  noMknod?: string;
  /** Told whenever a directory is removed (see parent-cache.ts). */
  parents?: ParentCache;
}

const invalid = (msg: string) => new OciToolError('OCI_ERR_INVALID_CONTENT', msg);
const errno = (e: unknown) => (e as NodeJS.ErrnoException).code;

/** lstat, or null when nothing is there (or a parent is not a directory). */
function lstatOrNull(p: string): Stats | null {
  try {
    return lstatSync(p, { throwIfNoEntry: false }) ?? null;
  } catch (e) {
    if (errno(e) === 'ENOTDIR') return null;
    throw e;
  }
}

/**
 * Rootless: a directory its owner cannot write (a 0555 /proc from a lower layer) is opened until
 * the layer ends, when finishDirs puts its mode back. Root writes there anyway.
 */
function openForOwner(ctx: EntryContext, dir: string, st: Stats): void {
  if (!ctx.rootless || (st.mode & 0o300) === 0o300) return;
  if (!ctx.dirMeta.has(dir)) ctx.dirMeta.set(dir, { mode: st.mode & 0o7777, atime: st.atimeMs / 1000, mtime: st.mtimeMs / 1000 });
  chmodSync(dir, (st.mode & 0o7777) | 0o700);
}

/**
 * Creates missing parents as 0755 directories (whatever the umask), as tar does for implicit ones.
 * Inside a setgid directory they keep the setgid bit and group that mkdir gave them, as with tar.
 */
export function ensureParent(ctx: EntryContext, parentPath: string, name: string): void {
  const notDir = () => invalid(`layer entry ${JSON.stringify(name)}: its parent is not a directory in the rootfs`);
  let st: Stats | null;
  try {
    st = lstatSync(parentPath, { throwIfNoEntry: false }) ?? null;
  } catch (e) {
    if (errno(e) === 'ENOTDIR') throw notDir();
    throw e;
  }
  if (st) {
    if (!st.isDirectory()) throw notDir();
    openForOwner(ctx, parentPath, st);
    return;
  }
  let existing = dirname(parentPath);
  let est = lstatOrNull(existing);
  while (!est && existing !== ctx.root) est = lstatOrNull((existing = dirname(existing)));
  if (est?.isDirectory()) openForOwner(ctx, existing, est);
  const first = mkdirSync(parentPath, { recursive: true, mode: 0o755 });
  if (first === undefined) return;
  const mode = 0o755 | ((est?.mode ?? 0) & 0o2000);
  let p = first;
  chmodSync(p, mode);
  for (const part of relative(first, parentPath).split(sep).filter(Boolean)) chmodSync((p = join(p, part)), mode);
}

/** Removes what is at path so the entry can be created anew; a directory stays for a directory entry. */
export function clearPath(ctx: EntryContext, path: string, keepDir: boolean): 'kept' | 'clear' {
  const st = lstatOrNull(path);
  if (!st) return 'clear';
  if (st.isDirectory()) {
    if (keepDir) return 'kept';
    ctx.parents?.invalidate();
    rmSync(path, { recursive: true, force: true });
  } else {
    unlinkSync(path);
  }
  return 'clear';
}

/** What a create call (O_EXCL open, mkdir, symlink, link) says when something is already at its path. */
const occupied = (e: unknown) => {
  const code = errno(e);
  return code === 'EEXIST' || code === 'ELOOP' || code === 'EISDIR';
};

/**
 * Creates at path with create(), which must fail rather than replace or follow what is there;
 * when something is, clears it and tries once more. Saves clearPath's lstat for new paths.
 */
function createAt<T>(ctx: EntryContext, path: string, create: () => T): T {
  try {
    return create();
  } catch (e) {
    if (!occupied(e)) throw e;
  }
  clearPath(ctx, path, false);
  return create();
}

function mapId(id: number, map: IdMapping[] | undefined, kind: 'uid' | 'gid', name: string): number {
  if (!map || map.length === 0) return id;
  for (const m of map) if (id >= m.container && id < m.container + m.size) return m.host + (id - m.container);
  throw new OciToolError('OCI_ERR_UNSUPPORTED', `layer entry ${JSON.stringify(name)}: ${kind} ${id} is outside the ${kind} map`);
}

function paxNumber(h: TarHeader, key: string): number | undefined {
  const v = h.pax?.[key];
  if (v === undefined) return undefined;
  const n = Number(v);
  return Number.isFinite(n) ? n : undefined;
}

/** Host owner of an entry, or undefined when ownership is not applied (rootless). */
export function ownerOf(ctx: EntryContext, h: TarHeader, name: string): { uid: number; gid: number } | undefined {
  if (ctx.rootless) return undefined;
  const uid = paxNumber(h, 'uid') ?? h.uid ?? 0;
  const gid = paxNumber(h, 'gid') ?? h.gid ?? 0;
  return { uid: mapId(uid, ctx.uidMap, 'uid', name), gid: mapId(gid, ctx.gidMap, 'gid', name) };
}

/** Seconds since the epoch; PAX keeps sub-second precision that the ustar field lacks. */
export function timesOf(h: TarHeader): { atime: number; mtime: number } {
  const mtime = paxNumber(h, 'mtime') ?? (h.mtime ? h.mtime.getTime() / 1000 : Date.now() / 1000);
  return { atime: paxNumber(h, 'atime') ?? mtime, mtime };
}

const modeOf = (h: TarHeader) => (h.mode ?? 0o644) & 0o7777;

/** Whether tar-stream feeds the entry a body: never for directories, whatever their size field. */
export const hasBody = (h: TarHeader) => h.type !== 'directory' && (h.size ?? 0) > 0;

/**
 * Streams the entry into a new file, each chunk written as it arrives; chown before chmod, since
 * chown clears setuid/setgid. Whatever was at path is removed first (not followed).
 */
export async function writeFile(ctx: EntryContext, path: string, h: TarHeader, body: AsyncIterable<Buffer>, name: string): Promise<void> {
  const owner = ownerOf(ctx, h, name);
  const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
  const fd = createAt(ctx, path, () => openSync(path, flags, 0o600));
  try {
    // One chunk in flight: the tar stream waits while it is written, so memory stays bounded.
    if (hasBody(h)) {
      for await (const chunk of body) {
        ctx.signal?.throwIfAborted();
        for (let off = 0; off < chunk.length; ) off += writeSync(fd, chunk, off, chunk.length - off);
      }
    }
    if (owner) fchownSync(fd, owner.uid, owner.gid);
    fchmodSync(fd, modeOf(h));
    const t = timesOf(h);
    futimesSync(fd, t.atime, t.mtime);
  } finally {
    closeSync(fd);
  }
}

export function makeDir(ctx: EntryContext, path: string, h: TarHeader, name: string): void {
  const owner = ownerOf(ctx, h, name);
  try {
    mkdirSync(path, { mode: 0o700 });
  } catch (e) {
    if (!occupied(e)) throw e;
    if (clearPath(ctx, path, true) === 'clear') mkdirSync(path, { mode: 0o700 });
  }
  if (owner) lchownSync(path, owner.uid, owner.gid);
  // The mode now, not only at the layer's end: what is made inside inherits a setgid bit and group
  // from it. Without root it stays writable for its owner until finishDirs.
  const mode = modeOf(h);
  chmodSync(path, ctx.rootless || process.getuid?.() !== 0 ? mode | 0o700 : mode);
  ctx.dirMeta.set(path, { mode, ...timesOf(h) });
}

/**
 * Sets directory modes and times after their contents are written, deepest first so that a
 * read-only parent does not block its children; skips what is no longer a directory. A later
 * entry may have replaced an ancestor with a symlink (`x/dir/`, then `x` → /elsewhere), which
 * lstat and chmod would follow out of the rootfs: a path is only touched while every directory
 * between the root and it is still a real directory.
 */
export function finishDirs(ctx: EntryContext): void {
  const depth = (p: string) => p.split(sep).length;
  // Nothing below changes what is a directory, so each ancestor is checked once.
  const real = new Map<string, boolean>([[ctx.root, true]]);
  const isRealDir = (p: string): boolean => {
    let ok = real.get(p);
    if (ok === undefined) {
      ok = isRealDir(dirname(p)) && lstatOrNull(p)?.isDirectory() === true;
      real.set(p, ok);
    }
    return ok;
  };
  for (const [path, m] of [...ctx.dirMeta].sort(([a], [b]) => depth(b) - depth(a))) {
    if (!isInside(ctx.root, path) || !isRealDir(path)) continue;
    chmodSync(path, m.mode);
    lutimesSync(path, m.atime, m.mtime);
  }
}

export function makeSymlink(ctx: EntryContext, path: string, h: TarHeader, name: string): void {
  const target = h.linkname ?? '';
  if (target === '' || target.includes('\0')) throw invalid(`layer entry ${JSON.stringify(name)}: symlink with an empty or invalid target`);
  const owner = ownerOf(ctx, h, name);
  // Stored as given: it is only ever followed through confine.ts.
  createAt(ctx, path, () => symlinkSync(target, path));
  if (owner) lchownSync(path, owner.uid, owner.gid);
  const t = timesOf(h);
  lutimesSync(path, t.atime, t.mtime);
}

/**
 * Hard link to an earlier entry or lower-layer file, resolved in the rootfs without following
 * its last component: a link to a symlink links the symlink (link(2) does not follow either).
 */
export function makeHardlink(ctx: EntryContext, path: string, h: TarHeader, name: string): void {
  const linkname = h.linkname ?? '';
  const what = `layer entry ${JSON.stringify(name)}: hard link target ${JSON.stringify(linkname)}`;
  if (linkname === '') throw invalid(`${what} is empty`);
  const target = resolveInRootSync(ctx.root, cleanArchivePath(linkname), { followFinal: false });
  const st = lstatOrNull(target);
  if (!st) throw invalid(`${what} does not exist in the rootfs`);
  if (st.isDirectory()) throw invalid(`${what} is a directory`);
  if (target === path) return;
  createAt(ctx, path, () => linkSync(target, path));
}

const nodeType: Record<string, string> = { 'character-device': 'c', 'block-device': 'b', fifo: 'p' };

/**
 * Device nodes and FIFOs through coreutils mknod (Node has no mknod). Returns false when skipped:
 * devices when rootless, anything when mknod is missing or not permitted.
 */
export async function makeNode(ctx: EntryContext, path: string, h: TarHeader, name: string): Promise<boolean> {
  const type = nodeType[h.type ?? ''] as string;
  const owner = ownerOf(ctx, h, name);
  // Cleared even when skipped: a lower layer's file must not show through a skipped entry.
  clearPath(ctx, path, false);
  if (ctx.noMknod !== undefined || (ctx.rootless && type !== 'p')) return false;
  const args = type === 'p' ? [path, 'p'] : [path, type, String(h.devmajor ?? 0), String(h.devminor ?? 0)];
  try {
    await run('mknod', ['--', ...args], { signal: ctx.signal });
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stderr?: string };
    if (err.code === 'ENOENT') ctx.noMknod = 'no mknod command';
    else if (/not permitted/i.test(err.stderr ?? '')) ctx.noMknod = 'mknod is not permitted';
    else throw new OciToolError('OCI_ERR_LAYOUT', `layer entry ${JSON.stringify(name)}: mknod failed: ${(err.stderr ?? err.message).trim()}`);
    return false;
  }
  if (owner) lchownSync(path, owner.uid, owner.gid);
  // Not a symlink: mknod just made it at a path nothing else writes to.
  chmodSync(path, modeOf(h));
  const t = timesOf(h);
  lutimesSync(path, t.atime, t.mtime);
  return true;
}
