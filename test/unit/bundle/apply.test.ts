import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { applyLayer, type ApplyOptions, type ApplyStats } from '../../../src/bundle/apply.js';
import { isOciToolError } from '../../../src/errors.js';
import { dir, EPOCH, file, hardlink, opaque, symlink, tarBuffer, tarStreamOf, whiteout, type TarEntry } from '../../support/tar.js';

const isRoot = process.getuid?.() === 0;
const temps: string[] = [];
afterEach(async () => {
  await Promise.all(temps.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

async function rootfs(): Promise<string> {
  const base = await mkdtemp(join(tmpdir(), 'apply-'));
  temps.push(base);
  const r = join(base, 'rootfs');
  await mkdir(r);
  return r;
}

async function apply(root: string, ...layers: TarEntry[][]): Promise<ApplyStats[]> {
  const out: ApplyStats[] = [];
  for (const l of layers) out.push(await applyLayer(tarStreamOf(l), root));
  return out;
}

/** Every path under root with a short description, for whole-tree assertions; never follows links. */
async function tree(root: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const name of (await readdir(join(root, prefix))).sort()) {
    const rel = prefix ? `${prefix}/${name}` : name;
    const st = await lstat(join(root, rel));
    if (st.isDirectory()) out.push(`${rel}/`, ...(await tree(root, rel)));
    else if (st.isSymbolicLink()) out.push(`${rel} -> ${await readlink(join(root, rel))}`);
    else if (st.isFile()) out.push(`${rel}=${await readFile(join(root, rel), 'utf8')}`);
    else out.push(`${rel} (special)`);
  }
  return out;
}

const mode = async (p: string) => (await lstat(p)).mode & 0o7777;

describe('applyLayer: ordinary layers', () => {
  it('writes files, directories and symlinks with modes, times and stats', async () => {
    const root = await rootfs();
    const later = new Date('2021-05-06T07:08:09Z');
    const [stats] = await apply(root, [
      dir('etc/', { mode: 0o750, mtime: later }),
      file('etc/hosts', '127.0.0.1 localhost\n', { mode: 0o600 }),
      file('usr/bin/tool', '#!/bin/sh\n', { mode: 0o755 }),
      symlink('bin', 'usr/bin'),
      symlink('etc/abs', '/usr/bin/tool'),
    ]);
    expect(await tree(root)).toEqual([
      'bin -> usr/bin', 'etc/', 'etc/abs -> /usr/bin/tool', 'etc/hosts=127.0.0.1 localhost\n', 'usr/', 'usr/bin/', 'usr/bin/tool=#!/bin/sh\n',
    ]);
    expect(await mode(join(root, 'etc'))).toBe(0o750);
    expect(await mode(join(root, 'etc/hosts'))).toBe(0o600);
    expect(await mode(join(root, 'usr/bin/tool'))).toBe(0o755);
    // Implicit parents are plain 0755 directories, whatever the umask.
    expect(await mode(join(root, 'usr'))).toBe(0o755);
    // Directory times are set after their contents were written.
    expect((await stat(join(root, 'etc'))).mtime).toEqual(later);
    expect((await stat(join(root, 'etc/hosts'))).mtime).toEqual(EPOCH);
    expect((await lstat(join(root, 'bin'))).mtime).toEqual(EPOCH);
    expect(stats).toMatchObject({ entries: 5, files: 2, dirs: 1, symlinks: 2, hardlinks: 0, whiteouts: 0, skippedDevices: 0, skippedXattrs: 0 });
    expect(stats?.bytes).toBe((await tarBuffer([
      dir('etc/'), file('etc/hosts', '127.0.0.1 localhost\n'), file('usr/bin/tool', '#!/bin/sh\n'), symlink('bin', 'usr/bin'), symlink('etc/abs', '/usr/bin/tool'),
    ])).length);
  });

  it('streams a large file to disk', async () => {
    const root = await rootfs();
    const big = Buffer.alloc(8 * 1024 * 1024 + 3, 'abcdefg');
    await apply(root, [file('big', big)]);
    expect((await readFile(join(root, 'big'))).equals(big)).toBe(true);
  });

  it('keeps an existing directory and its lower contents, updating its mode', async () => {
    const root = await rootfs();
    await apply(root, [dir('d/'), file('d/lower', 'l')], [dir('d/', { mode: 0o700 }), file('d/upper', 'u')]);
    expect(await tree(root)).toEqual(['d/', 'd/lower=l', 'd/upper=u']);
    expect(await mode(join(root, 'd'))).toBe(0o700);
  });

  it('lets the last of duplicate entries win', async () => {
    const root = await rootfs();
    await apply(root, [file('a', 'one'), file('a', 'two'), file('b', 'file'), dir('b/'), dir('c/'), file('c', 'file')]);
    expect(await tree(root)).toEqual(['a=two', 'b/', 'c=file']);
  });

  it('replaces a directory with a file and back across layers', async () => {
    const root = await rootfs();
    await apply(root, [dir('x/'), file('x/inner', 'i')], [file('x', 'now a file')]);
    expect(await tree(root)).toEqual(['x=now a file']);
    await apply(root, [dir('x/'), file('x/again', 'a')], [symlink('x', 'elsewhere')], [dir('x/')]);
    expect(await tree(root)).toEqual(['x/']);
  });

  it('refuses an entry whose parent is a file, and a tar entry type it does not know', async () => {
    const root = await rootfs();
    await apply(root, [file('f', 'x')]);
    await expect(apply(root, [file('f/x', 'y')])).rejects.toThrow(/^layer entry "f\/x": its parent is not a directory in the rootfs$/);
    // A GNU sparse header ('S'): patch the typeflag and the checksum of a plain file entry.
    const tar = await tarBuffer([file('sparse', 'x')]);
    tar[156] = 'S'.charCodeAt(0);
    tar.fill(' ', 148, 156);
    const sum = tar.subarray(0, 512).reduce((a, b) => a + b, 0);
    tar.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
    const e = await applyLayer(Readable.from([tar]), root).catch((x: unknown) => x);
    expect(isOciToolError(e) && e.code).toBe('OCI_ERR_UNSUPPORTED');
    expect((e as Error).message).toBe('layer entry "sparse" has an unsupported tar entry type (such as a GNU sparse file)');
  });

  it('sets read-only directory modes after writing their contents', async () => {
    const root = await rootfs();
    await apply(root, [dir('ro/', { mode: 0o555 }), dir('ro/sub/', { mode: 0o500 }), file('ro/sub/f', 'x', { mode: 0o400 })]);
    expect(await mode(join(root, 'ro'))).toBe(0o555);
    expect(await mode(join(root, 'ro/sub'))).toBe(0o500);
    expect(await readFile(join(root, 'ro/sub/f'), 'utf8')).toBe('x');
  });

  it('keeps long names and link targets from PAX headers', async () => {
    const root = await rootfs();
    const long = `${'d'.repeat(120)}/${'f'.repeat(150)}`;
    await apply(root, [file(long, 'deep'), symlink('l', `/${'t'.repeat(200)}`)]);
    expect(await readFile(join(root, long), 'utf8')).toBe('deep');
    expect(await readlink(join(root, 'l'))).toBe(`/${'t'.repeat(200)}`);
  });

  it('reports extended attributes as skipped, in one warning', async () => {
    const root = await rootfs();
    const warnings: string[] = [];
    const xattr = { 'SCHILY.xattr.security.capability': 'x', 'SCHILY.xattr.user.note': 'hi' };
    const stats = await applyLayer(tarStreamOf([file('usr/bin/ping', 'p', { pax: xattr }), file('x', 'x')]), root, { onWarning: (m) => warnings.push(m) });
    expect(stats.skippedXattrs).toBe(2);
    expect(warnings).toEqual(['ignored 2 extended attributes (not supported): usr/bin/ping security.capability, usr/bin/ping user.note']);
  });
});

describe('applyLayer: hard links', () => {
  it('links within a layer and to files of earlier layers', async () => {
    const root = await rootfs();
    const [, stats] = await apply(root, [file('lower', 'L')], [file('a', 'A'), hardlink('b', 'a'), hardlink('sub/c', '/lower'), hardlink('d', '../../lower')]);
    expect(stats?.hardlinks).toBe(3);
    const ino = async (p: string) => (await lstat(join(root, p))).ino;
    expect(await ino('b')).toBe(await ino('a'));
    expect(await ino('sub/c')).toBe(await ino('lower'));
    expect(await ino('d')).toBe(await ino('lower'));
    expect((await lstat(join(root, 'lower'))).nlink).toBe(3);
  });

  it('links a symlink itself, not its target', async () => {
    const root = await rootfs();
    await apply(root, [file('t', 'T'), symlink('s', 't'), hardlink('h', 's')]);
    const h = await lstat(join(root, 'h'));
    expect(h.isSymbolicLink()).toBe(true);
    expect(h.ino).toBe((await lstat(join(root, 's'))).ino);
    expect((await lstat(join(root, 't'))).nlink).toBe(1);
  });

  it.each([
    ['a missing target', [hardlink('h', 'nope')], /layer entry "h": hard link target "nope" does not exist in the rootfs/],
    ['a directory', [dir('d/'), hardlink('h', 'd')], /hard link target "d" is a directory/],
    ['the root', [hardlink('h', '/')], /hard link target "\/" is a directory/],
    ['an empty target', [hardlink('h', '')], /hard link target "" is empty/],
  ])('refuses a link to %s', async (_what, entries, message) => {
    const root = await rootfs();
    await expect(apply(root, entries)).rejects.toThrow(message);
  });
});

describe('applyLayer: whiteouts', () => {
  it('removes files and whole trees of lower layers, and never writes the whiteout', async () => {
    const root = await rootfs();
    await apply(root, [file('a/keep', 'k'), file('a/gone', 'g'), file('tree/x/y', 'y'), symlink('link', 'a')]);
    const [stats] = await apply(root, [whiteout('a/gone'), whiteout('tree'), whiteout('link'), whiteout('never-there')]);
    expect(await tree(root)).toEqual(['a/', 'a/keep=k']);
    expect(stats?.whiteouts).toBe(4);
  });

  it('does not remove what the same layer wrote', async () => {
    const root = await rootfs();
    await apply(root, [file('f', 'lower')], [file('f', 'upper'), whiteout('f')]);
    expect(await tree(root)).toEqual(['f=upper']);
  });

  it('empties an opaque directory of lower content, before or after the layer own entries', async () => {
    for (const opaqueFirst of [true, false]) {
      const root = await rootfs();
      await apply(root, [dir('a/'), file('a/b/c/bar', 'old'), file('a/top', 'old'), file('other', 'o')]);
      const upper = [dir('a/'), dir('a/b/'), dir('a/b/c/'), file('a/b/c/foo', 'new')];
      await apply(root, opaqueFirst ? [opaque('a'), ...upper] : [...upper, opaque('a')]);
      expect(await tree(root)).toEqual(['a/', 'a/b/', 'a/b/c/', 'a/b/c/foo=new', 'other=o']);
    }
  });

  it('accepts an opaque whiteout for a directory that does not exist', async () => {
    const root = await rootfs();
    await apply(root, [opaque('nothing/here')]);
    expect(await tree(root)).toEqual([]);
  });

  it.each([['.wh.'], ['d/.wh..'], ['.wh...']])('refuses the whiteout name %j', async (name) => {
    const root = await rootfs();
    const e = await apply(root, [file(name)]).catch((x: unknown) => x);
    expect(isOciToolError(e) && e.code).toBe('OCI_ERR_INVALID_CONTENT');
    expect((e as Error).message).toMatch(/^invalid whiteout entry ".*": it names no file$/);
  });
});

describe.runIf(isRoot)('applyLayer: ownership, special modes and devices (as root)', () => {
  it('applies uid/gid with lchown and keeps setuid, setgid and sticky bits', async () => {
    const root = await rootfs();
    await apply(root, [
      file('suid', 'x', { mode: 0o4755, uid: 1000, gid: 1001 }),
      file('sgid', 'x', { mode: 0o2755, uid: 0, gid: 50 }),
      dir('tmp/', { mode: 0o1777, uid: 7, gid: 8 }),
      dir('sgid-dir/', { mode: 0o2775, uid: 9, gid: 10 }),
      file('t', 'T', { uid: 1, gid: 1 }),
      symlink('s', 't', { uid: 123, gid: 456 }),
    ]);
    const own = async (p: string) => {
      const st = await lstat(join(root, p));
      return [st.uid, st.gid, st.mode & 0o7777];
    };
    expect(await own('suid')).toEqual([1000, 1001, 0o4755]);
    expect(await own('sgid')).toEqual([0, 50, 0o2755]);
    expect(await own('tmp')).toEqual([7, 8, 0o1777]);
    expect(await own('sgid-dir')).toEqual([9, 10, 0o2775]);
    expect((await own('s')).slice(0, 2)).toEqual([123, 456]);
    expect((await own('t')).slice(0, 2)).toEqual([1, 1]);
  });

  it('maps IDs through uidMap/gidMap and names an entry outside the map', async () => {
    const root = await rootfs();
    const opts: ApplyOptions = { uidMap: [{ container: 0, host: 100000, size: 65536 }], gidMap: [{ container: 0, host: 200000, size: 10 }] };
    await applyLayer(tarStreamOf([file('f', 'x', { uid: 5, gid: 3 })]), root, opts);
    const st = await lstat(join(root, 'f'));
    expect([st.uid, st.gid]).toEqual([100005, 200003]);
    await expect(applyLayer(tarStreamOf([file('g', 'x', { uid: 5, gid: 10 })]), root, opts))
      .rejects.toThrow('layer entry "g": gid 10 is outside the gid map');
  });

  it('makes device nodes and FIFOs with mknod', async () => {
    const root = await rootfs();
    const [stats] = await apply(root, [
      { name: 'dev/null', type: 'character-device', devmajor: 1, devminor: 3, mode: 0o666 },
      { name: 'dev/loop9', type: 'block-device', devmajor: 7, devminor: 9, mode: 0o660, gid: 6 },
      { name: 'run/fifo', type: 'fifo', mode: 0o640 },
    ]);
    const nul = await lstat(join(root, 'dev/null'));
    expect(nul.isCharacterDevice()).toBe(true);
    expect(nul.rdev).toBe(0x103);
    expect(nul.mode & 0o7777).toBe(0o666);
    const loop = await lstat(join(root, 'dev/loop9'));
    expect(loop.isBlockDevice() && loop.gid).toBe(6);
    expect((await lstat(join(root, 'run/fifo'))).isFIFO()).toBe(true);
    expect(stats?.skippedDevices).toBe(0);
  });
});

describe('applyLayer: rootless', () => {
  it('skips chown and device nodes with one warning, still making FIFOs', async () => {
    const root = await rootfs();
    const warnings: string[] = [];
    const stats = await applyLayer(tarStreamOf([
      file('dev/lower', 'was a file'),
    ]), root);
    expect(stats.files).toBe(1);
    const st2 = await applyLayer(tarStreamOf([
      file('f', 'x', { uid: 4242, gid: 4242 }),
      { name: 'dev/null', type: 'character-device', devmajor: 1, devminor: 3 },
      { name: 'dev/lower', type: 'block-device', devmajor: 7, devminor: 0 },
      { name: 'p', type: 'fifo' },
    ]), root, { rootless: true, onWarning: (m) => warnings.push(m) });
    expect((await lstat(join(root, 'f'))).uid).toBe(process.getuid?.());
    expect(await tree(root).then((t) => t.filter((e) => e.startsWith('dev')))).toEqual(['dev/']);
    expect((await lstat(join(root, 'p'))).isFIFO()).toBe(true);
    expect(st2.skippedDevices).toBe(2);
    expect(warnings).toEqual(['skipped 2 device nodes (rootless): dev/null, dev/lower']);
  });
});

describe('applyLayer: rootless read-only directories', () => {
  it('opens a read-only lower directory for the layer and restores its mode and time', async () => {
    const root = await rootfs();
    await apply(root, [dir('proc/', { mode: 0o555 })]);
    await applyLayer(tarStreamOf([file('proc/x', 'x'), file('proc/deep/y', 'y')]), root, { rootless: true });
    expect(await mode(join(root, 'proc'))).toBe(0o555);
    expect((await stat(join(root, 'proc'))).mtime).toEqual(EPOCH);
    expect(await tree(root)).toEqual(['proc/', 'proc/deep/', 'proc/deep/y=y', 'proc/x=x']);
  });
});
