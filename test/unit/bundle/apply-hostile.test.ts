// Hostile layers and broken streams (after umoci's tar_extract_test and containerd's TestBreakouts): each case runs in
// a fresh sandbox holding bundle/rootfs and a sibling outside/ with a canary; whatever the layers
// do, nothing outside the rootfs may change.
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { applyLayer } from '../../../src/bundle/apply.js';
import { isOciToolError } from '../../../src/errors.js';
import { createDecompressor } from '../../../src/image/compression.js';
import { at, content, isLink, runHostile, sandbox, type Hostile } from '../../support/hostile.js';
import { dir, file, hardlink, opaque, symlink, tarBuffer, tarGzip, tarStreamOf, whiteout } from '../../support/tar.js';

const cases: Hostile[] = [
  {
    name: '../ names are clamped at the rootfs',
    layers: () => [[file('../../outside/canary', 'pwned'), file('../../../../../../../tmp/x', 'pwned'), dir('../../outside/dir/')]],
    check: async (s) => expect(await content(at(s, 'outside/canary'))).toBe('pwned'),
  },
  {
    name: 'absolute names are re-rooted',
    layers: (s) => [[file(`${s.outside}/canary`, 'pwned'), dir(`${s.outside}/newdir/`, { mode: 0o777 })]],
    check: async (s) => expect(await content(at(s, `${s.outside}/canary`))).toBe('pwned'),
  },
  { name: '/./.././.. prefixes', layers: () => [[file('/./.././../outside/canary', 'pwned'), file('./../../outside/dir/inner', 'pwned')]] },
  {
    name: 'symlink then write in one layer (relative target)',
    layers: () => [[symlink('esc', '../../outside'), file('esc/canary', 'pwned'), dir('esc/dir/', { mode: 0o777 }), file('esc/dir/inner', 'pwned')]],
    check: async (s) => expect(await content(at(s, 'outside/dir/inner'))).toBe('pwned'),
  },
  { name: 'symlink then write in one layer (absolute target)', layers: (s) => [[symlink('esc', s.outside), file('esc/canary', 'pwned')]] },
  {
    name: 'symlink in one layer, write through it in the next',
    layers: (s) => [[symlink('esc', s.outside)], [file('esc/canary', 'pwned'), file('esc/new', 'pwned')]],
    check: async (s) => expect(await content(at(s, `${s.outside}/new`))).toBe('pwned'),
  },
  {
    name: 'write over a symlink to an outside file, across layers',
    layers: (s) => [[symlink('victim', `${s.outside}/canary`)], [file('victim', 'pwned', { mode: 0o777 })]],
    check: async (s) => expect(await content(at(s, 'victim'))).toBe('pwned'),
  },
  { name: 'write over a symlink to an outside file, in one layer', layers: (s) => [[symlink('victim', `${s.outside}/canary`), file('victim', 'pwned')]] },
  { name: 'symlink chain', layers: () => [[symlink('a', 'b'), symlink('b', 'c'), symlink('c', 'd/../../..'), file('a/outside/canary', 'pwned')]] },
  {
    name: 'symlink chain across layers and directories',
    layers: (s) => [[symlink('x', '/'), symlink('y', 'x/../..')], [symlink('z', `y/../${s.base}`)], [file('z/outside/canary', 'pwned')]],
    check: async (s) => expect(await content(at(s, `${s.base}/outside/canary`))).toBe('pwned'),
  },
  { name: 'symlink loop', layers: () => [[symlink('a', 'b'), symlink('b', 'a'), file('a/x', 'pwned')]], refused: /^cannot resolve "a" in the rootfs: a symlink loop/ },
  {
    name: 'a chain longer than 255 symlinks',
    layers: () => [[...Array.from({ length: 300 }, (_, i) => symlink(`l${i}`, `l${i + 1}`)), file('l0/x', 'pwned')]],
    refused: /more than 255 symlinks/,
  },
  { name: 'hardlink to an outside path', layers: () => [[hardlink('h', '../../outside/canary')]], refused: /^layer entry "h": hard link target "..\/..\/outside\/canary" does not exist in the rootfs$/ },
  { name: 'hardlink to an absolute outside path', layers: (s) => [[hardlink('h', `${s.outside}/canary`)]], refused: /hard link target ".*" does not exist in the rootfs$/ },
  { name: 'hardlink through a symlinked parent', layers: (s) => [[symlink('o', s.outside)], [hardlink('h', 'o/canary')]], refused: /does not exist in the rootfs$/ },
  {
    name: 'hardlink to a symlink pointing outside links the symlink',
    layers: (s) => [[symlink('s', `${s.outside}/canary`), hardlink('h', 's')], [file('h', 'pwned')], [hardlink('h2', 's'), file('s', 'pwned')]],
    check: async (s) => {
      expect(await content(at(s, 'h'))).toBe('pwned');
      expect(await isLink(at(s, 'h2'))).toBe(true);
    },
  },
  { name: 'whiteout through a symlink', layers: (s) => [[symlink('d', s.outside), symlink('r', '../../outside')], [whiteout('d/canary'), whiteout('r/canary'), whiteout('r/dir')]] },
  { name: 'opaque whiteout through a symlink', layers: (s) => [[symlink('d', s.outside), symlink('r', '../..')], [opaque('d'), opaque('r/outside'), opaque('d/dir')]] },
  { name: 'whiteouts with ..', layers: () => [[file('../../outside/.wh.canary'), file('../.wh.outside'), file('../../.wh..wh..opq'), file('a/../../.wh.bundle')]] },
  {
    name: 'whiteout of a symlink to outside removes the symlink only',
    layers: (s) => [[symlink('l', s.outside), symlink('f', `${s.outside}/canary`)], [whiteout('l'), whiteout('f')]],
    check: async (s) => expect(await readdir(s.rootfs)).toEqual([]),
  },
  {
    name: 'directory entry over a symlink to outside',
    layers: (s) => [[symlink('d', s.outside)], [dir('d/', { mode: 0o777 }), file('d/canary', 'pwned')]],
    check: async (s) => expect((await lstat(at(s, 'd'))).isDirectory()).toBe(true),
  },
  {
    name: 'metadata of symlink entries never reaches their targets',
    layers: (s) => [[symlink('s', `${s.outside}/canary`, { mode: 0o777, uid: 4321, gid: 4321, mtime: new Date(0) }), symlink('t', s.outside, { mode: 0o700 })]],
  },
  {
    name: 'directory replaced by a symlink in the same layer keeps its deferred mode off the target',
    layers: (s) => [[dir('d/', { mode: 0o777, mtime: new Date(0) }), symlink('d', s.outside)]],
  },
  { name: 'device node over a symlink to outside', layers: (s) => [[symlink('n', `${s.outside}/canary`), { name: 'n', type: 'fifo', mode: 0o666 }]] },
  { name: 'write under a symlink to an outside file', layers: (s) => [[symlink('f', `${s.outside}/canary`), file('f/x', 'pwned')]] },
  { name: 'root entry turned into a symlink', layers: (s) => [[symlink('./', s.outside)]], refused: /^layer entry ".\/" would replace the rootfs directory itself$/ },
  { name: 'whiteout naming ..', layers: () => [[file('d/.wh...')]], refused: /^invalid whiteout entry "d\/.wh...": it names no file$/ },
  {
    name: 'gzip bomb',
    layers: () => [],
    input: async () => Readable.from([await tarGzip([file('bomb', Buffer.alloc(16 * 1024 * 1024))])]).pipe(createDecompressor('gzip')),
    opts: { maxBytes: 1024 * 1024 },
    refused: /^layer exceeds the limit of 1048576 uncompressed bytes \(maxBytes\)$/,
    check: async (s) => expect(await readdir(s.rootfs)).toEqual([]),
  },
  {
    name: 'truncated tar stream',
    layers: () => [],
    input: async (s) => Readable.from([(await tarBuffer([symlink('esc', s.outside), file('esc/canary', 'x'.repeat(3000))])).subarray(0, 1800)]),
    refused: /^layer tar is truncated \(at entry ".*canary"\)$/,
  },
];

describe('applyLayer: hostile layers stay inside the rootfs', () => {
  it.each(cases)('$name', runHostile);
});


describe('applyLayer: limits and broken streams', () => {
  it('stops at maxEntries', async () => {
    const { rootfs: root } = await sandbox();
    const entries = Array.from({ length: 5 }, (_, i) => file(`f${i}`, 'x'));
    await expect(applyLayer(tarStreamOf(entries), root, { maxEntries: 4 })).rejects.toThrow('layer exceeds the limit of 4 entries (maxEntries)');
  });

  it('stops a gzip bomb at maxBytes before writing it', async () => {
    const { rootfs: root } = await sandbox();
    const gz = await tarGzip([file('bomb', Buffer.alloc(32 * 1024 * 1024))]);
    expect(gz.length).toBeLessThan(100_000);
    const input = Readable.from([gz]).pipe(createDecompressor('gzip'));
    await expect(applyLayer(input, root, { maxBytes: 1024 * 1024 })).rejects.toThrow('layer exceeds the limit of 1048576 uncompressed bytes (maxBytes)');
    expect(await readdir(root)).toEqual([]);
  });

  it('stops a bomb of zero blocks, which holds no entry at all', async () => {
    const { rootfs: root } = await sandbox();
    const input = Readable.from([gzipSync(Buffer.alloc(64 * 1024 * 1024))]).pipe(createDecompressor('gzip'));
    await expect(applyLayer(input, root, { maxBytes: 4 * 1024 * 1024 })).rejects.toThrow(/limit of 4194304 uncompressed bytes/);
  });

  it.each([
    ['in a file body', 2000, 'layer tar is truncated (at entry "a")'],
    ['in a header', 300, 'layer tar is truncated'],
  ])('refuses a tar truncated %s', async (_where, cut, message) => {
    const { rootfs: root } = await sandbox();
    const whole = await tarBuffer([file('a', 'x'.repeat(5000)), file('b', 'y')]);
    const e = await applyLayer(Readable.from([whole.subarray(0, cut)]), root).catch((x: unknown) => x);
    expect(isOciToolError(e) && e.code).toBe('OCI_ERR_INVALID_CONTENT');
    expect((e as Error).message).toBe(message);
  });

  it('refuses bytes that are not a tar, and a gzip stream that breaks off', async () => {
    const { rootfs: root } = await sandbox();
    await expect(applyLayer(Readable.from([Buffer.alloc(1024, 7)]), root)).rejects.toThrow(/^layer tar is invalid: Invalid tar header/);
    const gz = await tarGzip([file('a', 'x'.repeat(100_000))]);
    const input = Readable.from([gz.subarray(0, gz.length - 20)]).pipe(createDecompressor('gzip'));
    await expect(applyLayer(input, root)).rejects.toThrow(/^layer does not decompress: unexpected end of file/);
  });

  it('stops when aborted while the input stalls', async () => {
    const { rootfs: root } = await sandbox();
    const input = new PassThrough();
    input.write((await tarBuffer([file('a', 'x'.repeat(4000))])).subarray(0, 1024));
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 50);
    await expect(applyLayer(input, root, { signal: ac.signal })).rejects.toThrow(expect.objectContaining({ name: 'AbortError' }));
  });

  it('stops when aborted, and refuses a rootfs that is not a directory', async () => {
    const { rootfs: root } = await sandbox();
    await expect(applyLayer(tarStreamOf([file('a')]), root, { signal: AbortSignal.abort() })).rejects.toThrow(expect.objectContaining({ name: 'AbortError' }));
    await expect(applyLayer(tarStreamOf([file('a')]), join(root, 'missing'))).rejects.toThrow(/is not a directory/);
  });
});
