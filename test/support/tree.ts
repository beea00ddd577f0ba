// Walks a directory tree with lstat (never following a symlink) and compares two such trees
// entry by entry: type, permission bits (setuid/setgid/sticky included), owner, file size and
// sha256 (hashed by streaming), symlink target, device numbers, hard-link groups and, for the
// types asked for, mtime. The result is a list of readable differences, empty when the trees agree.
import { createHash } from 'node:crypto';
import type { BigIntStats } from 'node:fs';
import { lstat, open, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';

export type NodeType = 'file' | 'dir' | 'symlink' | 'char' | 'block' | 'fifo' | 'socket';

export interface TreeNode {
  /** '/' for the root, else '/a/b'. */
  path: string;
  type: NodeType;
  /** Permission bits with setuid, setgid and sticky (mode & 0o7777). */
  perm: number;
  uid: number;
  gid: number;
  /** Nanoseconds since the epoch. */
  mtimeNs: bigint;
  size?: number;
  sha256?: string;
  target?: string;
  rdev?: number;
  /** The other paths of the tree that share this entry's inode, sorted (empty: none). */
  links: string[];
}

export type Tree = Map<string, TreeNode>;

export type Field = 'type' | 'perm' | 'uid' | 'gid' | 'size' | 'sha256' | 'target' | 'rdev' | 'links' | 'mtime';

export interface Exclusion {
  /** An exact tree path, or a pattern tested against it. */
  path: string | RegExp;
  /** The field not compared there; absent: the path is not compared at all (not even its presence). */
  field?: Field;
  /** Why: kept beside the exclusion so that every one is documented where it is made. */
  reason: string;
}

export interface CompareOptions {
  /** Names for the two sides in messages (default 'a' and 'b'). */
  names?: [string, string];
  /** Types whose mtimes are compared (default: files and symlinks). */
  mtimeTypes?: NodeType[];
  exclude?: Exclusion[];
}

function typeOf(st: BigIntStats): NodeType {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isCharacterDevice()) return 'char';
  if (st.isBlockDevice()) return 'block';
  if (st.isFIFO()) return 'fifo';
  if (st.isSocket()) return 'socket';
  throw new Error('unknown file type');
}

/** Streams the file through sha256 in fixed chunks: bounded memory whatever its size. */
async function sha256Of(path: string): Promise<string> {
  const hash = createHash('sha256');
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.allocUnsafe(256 * 1024);
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      hash.update(buf.subarray(0, bytesRead));
    }
  } finally {
    await fh.close();
  }
  return hash.digest('hex');
}

/** Runs at most n of the given tasks at once. */
function limiter(n: number): <T>(task: () => Promise<T>) => Promise<T> {
  let active = 0;
  const waiting: (() => void)[] = [];
  return async (task) => {
    if (active >= n) await new Promise<void>((resolve) => waiting.push(resolve));
    active++;
    try {
      return await task();
    } finally {
      active--;
      waiting.shift()?.();
    }
  };
}

/** Every entry under root (root itself as '/'), by lstat; file contents are hashed by streaming. */
export async function scanTree(root: string): Promise<Tree> {
  const tree: Tree = new Map();
  const inodes = new Map<string, string[]>();
  const io = limiter(32); // bounds open files and in-flight lstats on big trees
  const visit = async (rel: string): Promise<void> => {
    const host = rel === '/' ? root : join(root, rel);
    const st = await io(() => lstat(host, { bigint: true }));
    const type = typeOf(st);
    const node: TreeNode = {
      path: rel, type, perm: Number(st.mode & 0o7777n), uid: Number(st.uid), gid: Number(st.gid), mtimeNs: st.mtimeNs, links: [],
    };
    tree.set(rel, node);
    if (type === 'file') {
      node.size = Number(st.size);
      node.sha256 = await io(() => sha256Of(host));
    } else if (type === 'symlink') {
      node.target = await io(() => readlink(host));
    } else if (type === 'char' || type === 'block') {
      node.rdev = Number(st.rdev);
    }
    if (type !== 'dir') {
      const key = `${st.dev}:${st.ino}`;
      inodes.set(key, [...(inodes.get(key) ?? []), rel]);
      return;
    }
    const names = await io(() => readdir(host));
    await Promise.all(names.map((name) => visit(rel === '/' ? `/${name}` : `${rel}/${name}`)));
  };
  await visit('/');
  for (const paths of inodes.values()) {
    if (paths.length < 2) continue;
    const sorted = [...paths].sort();
    for (const p of sorted) (tree.get(p) as TreeNode).links = sorted.filter((q) => q !== p);
  }
  return tree;
}

const octal = (n: number) => `0${n.toString(8).padStart(3, '0')}`;

function show(field: Field, node: TreeNode): string {
  switch (field) {
    case 'perm': return octal(node.perm);
    case 'mtime': return new Date(Number(node.mtimeNs / 1_000_000n)).toISOString().replace('.000Z', 'Z') + (node.mtimeNs % 1_000_000_000n ? ` (+${node.mtimeNs % 1_000_000_000n}ns)` : '');
    case 'links': return node.links.length ? `[${node.links.join(', ')}]` : 'none';
    case 'target': return JSON.stringify(node.target);
    default: return String(node[field]);
  }
}

function value(field: Field, node: TreeNode): unknown {
  if (field === 'mtime') return node.mtimeNs;
  if (field === 'links') return node.links.join('\0');
  return node[field];
}

const matches = (x: Exclusion, path: string) => (typeof x.path === 'string' ? x.path === path : x.path.test(path));

/** The differences between two scanned trees, one readable line each, sorted by path. */
export function diffTrees(a: Tree, b: Tree, opts: CompareOptions = {}): string[] {
  const [na, nb] = opts.names ?? ['a', 'b'];
  const mtimeTypes = new Set(opts.mtimeTypes ?? ['file', 'symlink']);
  const exclude = opts.exclude ?? [];
  const excluded = (path: string, field?: Field) =>
    exclude.some((x) => matches(x, path) && (x.field === undefined || x.field === field));
  const out: string[] = [];
  const paths = [...new Set([...a.keys(), ...b.keys()])].sort();
  for (const path of paths) {
    if (excluded(path)) continue;
    const x = a.get(path), y = b.get(path);
    if (!x || !y) {
      const only = (x ?? y) as TreeNode;
      out.push(`${path}: only in ${x ? na : nb} (${only.type})`);
      continue;
    }
    if (x.type !== y.type) {
      if (!excluded(path, 'type')) out.push(`${path}: type ${x.type} (${na}) vs ${y.type} (${nb})`);
      continue;
    }
    const fields: Field[] = ['perm', 'uid', 'gid', 'size', 'sha256', 'target', 'rdev', 'links'];
    if (mtimeTypes.has(x.type)) fields.push('mtime');
    for (const f of fields) {
      if (excluded(path, f) || value(f, x) === value(f, y)) continue;
      out.push(`${path}: ${f} ${show(f, x)} (${na}) vs ${show(f, y)} (${nb})`);
    }
  }
  return out;
}

/** Scans both trees and returns their differences (see diffTrees). */
export async function compareTrees(rootA: string, rootB: string, opts: CompareOptions = {}): Promise<string[]> {
  const [a, b] = await Promise.all([scanTree(rootA), scanTree(rootB)]);
  return diffTrees(a, b, opts);
}
