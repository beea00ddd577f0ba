// Creating one tar entry on disk, once apply.ts has confined its path. Nothing here follows a
// symlink at the final component: the old path is removed first, files are opened O_EXCL |
// O_NOFOLLOW, metadata goes through the open file or the l* calls, and directory modes and
// times wait for the end of the layer (re-checked with lstat then).
import { execFile } from 'node:child_process';
import { constants, type Stats } from 'node:fs';
import { chmod, lchown, link, lstat, lutimes, mkdir, open, rm, symlink, unlink } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { promisify } from 'node:util';
import type { Header } from 'tar-stream';
import { OciToolError } from '../errors.js';
import { cleanArchivePath, resolveInRoot } from './confine.js';

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
}

const invalid = (msg: string) => new OciToolError('OCI_ERR_INVALID_CONTENT', msg);

async function lstatOrNull(p: string): Promise<Stats | null> {
  try {
    return await lstat(p);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

/**
 * Rootless: a directory its owner cannot write (a 0555 /proc from a lower layer) is opened until
 * the layer ends, when finishDirs puts its mode back. Root writes there anyway.
 */
async function openForOwner(ctx: EntryContext, dir: string, st: Stats): Promise<void> {
  if (!ctx.rootless || (st.mode & 0o300) === 0o300) return;
  if (!ctx.dirMeta.has(dir)) ctx.dirMeta.set(dir, { mode: st.mode & 0o7777, atime: st.atimeMs / 1000, mtime: st.mtimeMs / 1000 });
  await chmod(dir, (st.mode & 0o7777) | 0o700);
}

/** Creates missing parents as plain 0755 directories (whatever the umask), as tar does for implicit ones. */
export async function ensureParent(ctx: EntryContext, parentPath: string, name: string): Promise<void> {
  const notDir = () => invalid(`layer entry ${JSON.stringify(name)}: its parent is not a directory in the rootfs`);
  const st = await lstat(parentPath).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOTDIR') throw notDir();
    if (e.code === 'ENOENT') return null;
    throw e;
  });
  if (st) {
    if (!st.isDirectory()) throw notDir();
    await openForOwner(ctx, parentPath, st);
    return;
  }
  let existing = dirname(parentPath);
  let est = await lstatOrNull(existing);
  while (!est && existing !== ctx.root) est = await lstatOrNull((existing = dirname(existing)));
  if (est?.isDirectory()) await openForOwner(ctx, existing, est);
  const first = await mkdir(parentPath, { recursive: true, mode: 0o755 });
  if (first === undefined) return;
  let p = first;
  await chmod(p, 0o755);
  for (const part of relative(first, parentPath).split(sep).filter(Boolean)) await chmod((p = join(p, part)), 0o755);
}

/** Removes what is at path so the entry can be created anew; a directory stays for a directory entry. */
export async function clearPath(path: string, keepDir: boolean): Promise<'kept' | 'clear'> {
  const st = await lstatOrNull(path);
  if (!st) return 'clear';
  if (st.isDirectory()) {
    if (keepDir) return 'kept';
    await rm(path, { recursive: true, force: true });
  } else {
    await unlink(path);
  }
  return 'clear';
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

/** Streams the entry into a new file; chown before chmod, since chown clears setuid/setgid. */
export async function writeFile(ctx: EntryContext, path: string, h: TarHeader, body: AsyncIterable<Buffer>, name: string): Promise<void> {
  const owner = ownerOf(ctx, h, name);
  const fh = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  try {
    // One chunk in flight: the tar stream waits for the disk, so memory stays bounded.
    for await (const chunk of body) {
      ctx.signal?.throwIfAborted();
      for (let off = 0; off < chunk.length; ) off += (await fh.write(chunk, off, chunk.length - off)).bytesWritten;
    }
    if (owner) await fh.chown(owner.uid, owner.gid);
    await fh.chmod(modeOf(h));
    const t = timesOf(h);
    await fh.utimes(t.atime, t.mtime);
  } finally {
    await fh.close();
  }
}

export async function makeDir(ctx: EntryContext, path: string, h: TarHeader, name: string): Promise<void> {
  const owner = ownerOf(ctx, h, name);
  if ((await clearPath(path, true)) === 'clear') await mkdir(path, { mode: 0o700 });
  if (owner) await lchown(path, owner.uid, owner.gid);
  ctx.dirMeta.set(path, { mode: modeOf(h), ...timesOf(h) });
}

/**
 * Sets directory modes and times after their contents are written, deepest first so that a
 * read-only parent does not block its children; skips what is no longer a directory.
 */
export async function finishDirs(ctx: EntryContext): Promise<void> {
  const depth = (p: string) => p.split(sep).length;
  for (const [path, m] of [...ctx.dirMeta].sort(([a], [b]) => depth(b) - depth(a))) {
    if (!(await lstatOrNull(path))?.isDirectory()) continue;
    await chmod(path, m.mode);
    await lutimes(path, m.atime, m.mtime);
  }
}

export async function makeSymlink(ctx: EntryContext, path: string, h: TarHeader, name: string): Promise<void> {
  const target = h.linkname ?? '';
  if (target === '' || target.includes('\0')) throw invalid(`layer entry ${JSON.stringify(name)}: symlink with an empty or invalid target`);
  const owner = ownerOf(ctx, h, name);
  await clearPath(path, false);
  // Stored as given: it is only ever followed through confine.ts.
  await symlink(target, path);
  if (owner) await lchown(path, owner.uid, owner.gid);
  const t = timesOf(h);
  await lutimes(path, t.atime, t.mtime);
}

/**
 * Hard link to an earlier entry or lower-layer file, resolved in the rootfs without following
 * its last component: a link to a symlink links the symlink (link(2) does not follow either).
 */
export async function makeHardlink(ctx: EntryContext, path: string, h: TarHeader, name: string): Promise<void> {
  const linkname = h.linkname ?? '';
  const what = `layer entry ${JSON.stringify(name)}: hard link target ${JSON.stringify(linkname)}`;
  if (linkname === '') throw invalid(`${what} is empty`);
  const target = await resolveInRoot(ctx.root, cleanArchivePath(linkname), { followFinal: false });
  const st = await lstatOrNull(target);
  if (!st) throw invalid(`${what} does not exist in the rootfs`);
  if (st.isDirectory()) throw invalid(`${what} is a directory`);
  if (target === path) return;
  await clearPath(path, false);
  await link(target, path);
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
  await clearPath(path, false);
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
  if (owner) await lchown(path, owner.uid, owner.gid);
  // Not a symlink: mknod just made it at a path nothing else writes to.
  await chmod(path, modeOf(h));
  const t = timesOf(h);
  await lutimes(path, t.atime, t.mtime);
  return true;
}
