import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { Readable, Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import ts from 'typescript';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isOciToolError, type ErrorCode } from '../../../src/errors.js';
import type { Ingest } from '../../../src/image/ingest.js';
import { Layout, REF_NAME_ANNOTATION } from '../../../src/image/layout.js';
import { INDEX_MEDIA_TYPE, MANIFEST_MEDIA_TYPE } from '../../../src/image/media-types.js';
import type { Descriptor, ImageIndex } from '../../../src/image/types.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'oci-tool-layout-'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const sha256 = (b: Uint8Array) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const sha512 = (b: Uint8Array) => `sha512:${createHash('sha512').update(b).digest('hex')}`;
const hexOf = (digest: string) => digest.slice(digest.indexOf(':') + 1);
const target = (bytes: Uint8Array) => ({ digest: sha256(bytes), size: bytes.length });
const manifestDesc = (n: number): Descriptor => {
  const bytes = Buffer.from(`{"n":${n}}`);
  return { mediaType: MANIFEST_MEDIA_TYPE, digest: sha256(bytes), size: bytes.length };
};
/** Bytes that differ at every offset, so that a misplaced or missing byte changes the digest. */
const blobBytes = (n: number) => Buffer.from(Array.from({ length: n }, (_v, i) => (i * 31 + (i >> 8)) & 0xff));
const ingestFile = (digest: string) => join(dir, '.oci-tool', 'ingest', `${digest.replace(':', '-')}.data`);
const exists = (p: string) => stat(p).then(() => true, () => false);

async function rejected(p: Promise<unknown>, code: ErrorCode): Promise<Error> {
  try {
    await p;
  } catch (e) {
    expect(isOciToolError(e), String(e)).toBe(true);
    expect((e as { code: string }).code).toBe(code);
    return e as Error;
  }
  throw new Error(`expected ${code}, the promise resolved`);
}

async function readIndexFile(): Promise<ImageIndex> {
  return JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as ImageIndex;
}

const refNames = (index: ImageIndex) => index.manifests.map((d) => d.annotations?.[REF_NAME_ANNOTATION]);

describe('Layout.open', () => {
  it('creates oci-layout, index.json and blobs/ in an empty directory', async () => {
    const layout = await Layout.open(dir);
    expect(layout.dir).toBe(dir);
    expect(JSON.parse(await readFile(join(dir, 'oci-layout'), 'utf8'))).toEqual({ imageLayoutVersion: '1.0.0' });
    expect(await readIndexFile()).toEqual({ schemaVersion: 2, mediaType: INDEX_MEDIA_TYPE, manifests: [] });
    expect((await stat(join(dir, 'blobs', 'sha256'))).isDirectory()).toBe(true);
    // No temporaries or locks are left behind.
    expect((await readdir(dir)).sort()).toEqual(['.oci-tool', 'blobs', 'index.json', 'oci-layout']);
    // Only the (lazily created) ingest folder may remain: no locks, no temporaries.
    expect((await readdir(join(dir, '.oci-tool'))).filter((n) => n !== 'ingest')).toEqual([]);
  });

  it('creates missing parent directories', async () => {
    const nested = join(dir, 'a', 'b');
    await Layout.open(nested);
    expect(await exists(join(nested, 'index.json'))).toBe(true);
  });

  it('refuses to create with create: false', async () => {
    await rejected(Layout.open(dir, { create: false }), 'OCI_ERR_NOT_FOUND');
    expect(await readdir(dir)).toEqual([]);
  });

  it('keeps the index of an existing layout', async () => {
    const layout = await Layout.open(dir);
    await layout.setRef('keep', manifestDesc(1));
    const again = await Layout.open(dir, { create: false });
    expect(await again.findRef('keep')).toMatchObject(manifestDesc(1));
  });

  it('opens a layout with another 1.x marker', async () => {
    await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.1.0' }));
    await writeFile(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [] }));
    await Layout.open(dir);
    // The marker is not rewritten.
    expect(JSON.parse(await readFile(join(dir, 'oci-layout'), 'utf8'))).toEqual({ imageLayoutVersion: '1.1.0' });
  });

  it.each([
    ['not JSON', 'imageLayoutVersion: 1.0.0'],
    ['version 2', JSON.stringify({ imageLayoutVersion: '2.0.0' })],
    ['no version', JSON.stringify({})],
    ['a numeric version', JSON.stringify({ imageLayoutVersion: 1 })],
    ['JSON null', 'null'],
  ])('fails on an oci-layout marker that is %s', async (_name, text) => {
    await writeFile(join(dir, 'oci-layout'), text);
    const e = await rejected(Layout.open(dir), 'OCI_ERR_LAYOUT');
    expect(e.message).toContain(join(dir, 'oci-layout'));
    // Nothing was created over it.
    expect(await readFile(join(dir, 'oci-layout'), 'utf8')).toBe(text);
    expect(await exists(join(dir, 'index.json'))).toBe(false);
  });

  it('fails when oci-layout cannot be read', async () => {
    await mkdir(join(dir, 'oci-layout'));
    await rejected(Layout.open(dir), 'OCI_ERR_LAYOUT');
  });

  it('reports an index.json that is not an image index', async () => {
    const layout = await Layout.open(dir);
    await writeFile(join(dir, 'index.json'), '{"schemaVersion":2}');
    await rejected(layout.readIndex(), 'OCI_ERR_LAYOUT');
    await writeFile(join(dir, 'index.json'), '{"schemaVersion":2,"manifests":[');
    await rejected(layout.readIndex(), 'OCI_ERR_LAYOUT');
    await rejected(layout.setRef('x', manifestDesc(1)), 'OCI_ERR_LAYOUT');
  });
});

describe('blobs in hand', () => {
  const bytes = Buffer.from('{"architecture":"amd64","os":"linux"}');

  it('putBlob stores verified bytes under blobs/<alg>/<hex>', async () => {
    const layout = await Layout.open(dir);
    await layout.putBlob(bytes, target(bytes));
    const path = join(dir, 'blobs', 'sha256', hexOf(sha256(bytes)));
    expect(layout.blobPath(sha256(bytes))).toBe(path);
    expect((await readFile(path)).equals(bytes)).toBe(true);
    expect(await layout.hasBlob(target(bytes))).toBe(true);
    expect((await layout.readBlob(target(bytes))).equals(bytes)).toBe(true);
    expect((await layout.readBlobIfPresent(sha256(bytes)))?.equals(bytes)).toBe(true);
    // No temporary is left beside the state directory's ingest/.
    // Only the (lazily created) ingest folder may remain: no locks, no temporaries.
    expect((await readdir(join(dir, '.oci-tool'))).filter((n) => n !== 'ingest')).toEqual([]);
  });

  it('putBlob and setRef work in a layout another tool wrote (no .oci-tool/ folder)', async () => {
    await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
    await writeFile(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    await writeFile(join(dir, 'index.json'), `{"schemaVersion":2,"mediaType":"${INDEX_MEDIA_TYPE}","manifests":[]}`);
    const layout = await Layout.open(dir, { create: false });
    expect(existsSync(join(dir, '.oci-tool'))).toBe(false);
    await layout.putBlob(bytes, target(bytes));
    expect((await readFile(join(dir, 'blobs', 'sha256', hexOf(sha256(bytes))))).equals(bytes)).toBe(true);
  });

  it('putBlob stores sha512 blobs under blobs/sha512', async () => {
    const layout = await Layout.open(dir);
    const t = { digest: sha512(bytes), size: bytes.length };
    await layout.putBlob(bytes, t);
    expect((await readFile(join(dir, 'blobs', 'sha512', hexOf(t.digest)))).equals(bytes)).toBe(true);
    expect((await layout.readBlob(t)).equals(bytes)).toBe(true);
  });

  it('putBlob refuses bytes that do not match, writing nothing', async () => {
    const layout = await Layout.open(dir);
    const other = Buffer.from(bytes);
    other[0] = 0x20;
    await rejected(layout.putBlob(other, target(bytes)), 'OCI_ERR_DIGEST_MISMATCH');
    await rejected(layout.putBlob(bytes, { digest: sha256(bytes), size: bytes.length - 1 }), 'OCI_ERR_SIZE_MISMATCH');
    expect(await readdir(join(dir, 'blobs', 'sha256'))).toEqual([]);
    expect(await layout.hasBlob(target(bytes))).toBe(false);
  });

  it('putBlob is idempotent: a present blob is not rewritten', async () => {
    const layout = await Layout.open(dir);
    await layout.putBlob(bytes, target(bytes));
    const path = layout.blobPath(sha256(bytes));
    const before = await stat(path);
    await sleep(20);
    await layout.putBlob(bytes, target(bytes));
    const after = await stat(path);
    expect(after.ino).toBe(before.ino);
    expect(after.mtimeMs).toBe(before.mtimeMs);
    expect(await readdir(join(dir, 'blobs', 'sha256'))).toEqual([hexOf(sha256(bytes))]);
  });

  it('putBlob replaces a truncated file', async () => {
    const layout = await Layout.open(dir);
    const path = layout.blobPath(sha256(bytes));
    await writeFile(path, bytes.subarray(0, 5));
    expect(await layout.hasBlob(target(bytes))).toBe(false);
    await layout.putBlob(bytes, target(bytes));
    expect((await readFile(path)).equals(bytes)).toBe(true);
  });

  it('readBlob of a corrupted file fails with OCI_ERR_DIGEST_MISMATCH', async () => {
    const layout = await Layout.open(dir);
    await layout.putBlob(bytes, target(bytes));
    const corrupt = Buffer.from(bytes);
    corrupt.writeUInt8(corrupt.readUInt8(3) ^ 0x01, 3);
    await writeFile(layout.blobPath(sha256(bytes)), corrupt);
    // Same size, so only the digest can tell.
    expect(await layout.hasBlob(target(bytes))).toBe(true);
    await rejected(layout.readBlob(target(bytes)), 'OCI_ERR_DIGEST_MISMATCH');
    await rejected(layout.readBlob({ digest: sha256(bytes) }), 'OCI_ERR_DIGEST_MISMATCH');
    await rejected(layout.readBlobIfPresent(sha256(bytes)), 'OCI_ERR_DIGEST_MISMATCH');
    const sink = new Writable({ write: (_c, _e, cb) => cb() });
    await rejected(pipeline(layout.openBlob(target(bytes)), sink), 'OCI_ERR_DIGEST_MISMATCH');
  });

  it('readBlob of a truncated file fails with OCI_ERR_SIZE_MISMATCH', async () => {
    const layout = await Layout.open(dir);
    await writeFile(layout.blobPath(sha256(bytes)), bytes.subarray(1));
    await rejected(layout.readBlob(target(bytes)), 'OCI_ERR_SIZE_MISMATCH');
  });

  it('reports absent blobs', async () => {
    const layout = await Layout.open(dir);
    await rejected(layout.readBlob(target(bytes)), 'OCI_ERR_NOT_FOUND');
    expect(await layout.readBlobIfPresent(sha256(bytes))).toBeUndefined();
    expect(await layout.hasBlob(target(bytes))).toBe(false);
  });

  it('openBlob streams a good blob whole', async () => {
    const layout = await Layout.open(dir);
    await layout.putBlob(bytes, target(bytes));
    const chunks: Buffer[] = [];
    await pipeline(layout.openBlob(target(bytes)), new Writable({ write: (c: Buffer, _e, cb) => { chunks.push(c); cb(); } }));
    expect(Buffer.concat(chunks).equals(bytes)).toBe(true);
  });
});

describe('ingest', () => {
  const data = blobBytes(200_000);
  const t = target(data);

  async function start(layout: Layout): Promise<Ingest> {
    const ingest = await layout.ingest(t);
    expect(ingest).toBeDefined();
    return ingest as Ingest;
  }

  it('writes, verifies and commits a blob, leaving no ingest state', async () => {
    const layout = await Layout.open(dir);
    const ingest = await start(layout);
    expect(ingest.offset).toBe(0);
    await ingest.append(Readable.from([data.subarray(0, 70_000), data.subarray(70_000)]));
    expect(ingest.offset).toBe(data.length);
    await ingest.commit();
    expect((await layout.readBlob(t)).equals(data)).toBe(true);
    expect(await readdir(join(dir, '.oci-tool', 'ingest'))).toEqual([]);
    expect(await layout.pendingIngests()).toEqual([]);
    // Present now: nothing more to ingest.
    expect(await layout.ingest(t)).toBeUndefined();
  });

  it('passes the bytes to observers after counting them', async () => {
    const layout = await Layout.open(dir);
    const ingest = await start(layout);
    const seen: Buffer[] = [];
    const tap = new Transform({ transform: (c: Buffer, _e, cb) => { seen.push(c); cb(null, c); } });
    await ingest.append(Readable.from([data]), tap);
    expect(Buffer.concat(seen).equals(data)).toBe(true);
    await ingest.commit();
  });

  it('resumes after a crash: a second Ingest starts at the previous offset and commits the right blob', async () => {
    const first = await start(await Layout.open(dir));
    await first.append(Readable.from([data.subarray(0, 12_345)]));
    expect(first.offset).toBe(12_345);
    await first.close(); // no discard: as if the process stopped here
    expect(await exists(ingestFile(t.digest))).toBe(true);

    const layout = await Layout.open(dir);
    expect(await layout.pendingIngests()).toEqual([t.digest]);
    const second = await start(layout);
    expect(second.offset).toBe(12_345);
    await second.append(Readable.from([data.subarray(12_345)]));
    await second.commit();
    expect((await readFile(layout.blobPath(t.digest))).equals(data)).toBe(true);
    expect(await exists(ingestFile(t.digest))).toBe(false);
  });

  it('starts again when the leftover ingest file is longer than the blob', async () => {
    const layout = await Layout.open(dir);
    await mkdir(join(dir, '.oci-tool', 'ingest'), { recursive: true });
    await writeFile(ingestFile(t.digest), Buffer.alloc(data.length + 1));
    const ingest = await start(layout);
    expect(ingest.offset).toBe(0);
    await ingest.append(Readable.from([data]));
    await ingest.commit();
    expect((await layout.readBlob(t)).equals(data)).toBe(true);
  });

  it('keeps offset and file in step when the source breaks mid-stream, so a resume commits the right bytes', async () => {
    const layout = await Layout.open(dir);
    const ingest = await start(layout);
    const broken = new Readable({ read() {} });
    for (let i = 0; i < 10; i++) broken.push(data.subarray(i * 10_000, (i + 1) * 10_000));
    // An observer slower than the source holds counted bytes when the connection breaks.
    const slow = new Transform({ highWaterMark: 1, transform: (c: Buffer, _e, cb) => setTimeout(() => cb(null, c), 2) });
    setTimeout(() => broken.destroy(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' })), 5);
    await expect(ingest.append(broken, slow)).rejects.toMatchObject({ code: 'ECONNRESET' });
    expect(ingest.offset).toBeLessThan(100_000);
    expect((await stat(ingestFile(t.digest))).size).toBe(ingest.offset);
    // As transferBlob does: ask for the rest from the offset, on the same Ingest.
    await ingest.append(Readable.from([data.subarray(ingest.offset)]));
    await ingest.commit();
    expect((await layout.readBlob(t)).equals(data)).toBe(true);
  });

  it('a wrong byte fails commit with OCI_ERR_DIGEST_MISMATCH and leaves neither the blob nor the ingest file', async () => {
    const layout = await Layout.open(dir);
    const ingest = await start(layout);
    const wrong = Buffer.from(data);
    wrong.writeUInt8(wrong.readUInt8(150_000) ^ 0xff, 150_000);
    await ingest.append(Readable.from([wrong]));
    const e = await rejected(ingest.commit(), 'OCI_ERR_DIGEST_MISMATCH');
    expect(e.message).toContain(t.digest);
    expect(await exists(layout.blobPath(t.digest))).toBe(false);
    expect(await exists(ingestFile(t.digest))).toBe(false);
    expect(await readdir(join(dir, 'blobs', 'sha256'))).toEqual([]);
    // The lock is released: the blob can be ingested again, from scratch.
    const again = await start(layout);
    expect(again.offset).toBe(0);
    await again.close(true);
  });

  it('a wrong byte in the resumed part is caught as well', async () => {
    const first = await start(await Layout.open(dir));
    await first.append(Readable.from([data.subarray(0, 1000)]));
    await first.close();
    const layout = await Layout.open(dir);
    const second = await start(layout);
    const rest = Buffer.from(data.subarray(1000));
    rest.writeUInt8(rest.readUInt8(0) ^ 1, 0);
    await second.append(Readable.from([rest]));
    await rejected(second.commit(), 'OCI_ERR_DIGEST_MISMATCH');
    expect(await exists(layout.blobPath(t.digest))).toBe(false);
    expect(await exists(ingestFile(t.digest))).toBe(false);
  });

  it('more bytes than the size fail the append with OCI_ERR_SIZE_MISMATCH', async () => {
    const layout = await Layout.open(dir);
    const ingest = await start(layout);
    const e = await ingest.append(Readable.from([data, Buffer.from([0])])).then(() => undefined, (err: unknown) => err);
    expect(isOciToolError(e) && e.code).toBe('OCI_ERR_SIZE_MISMATCH');
    expect(ingest.offset).toBeLessThanOrEqual(data.length);
    // A content error discards the bytes (as transferBlob does) and nothing reaches blobs/.
    await ingest.close(true);
    expect(await exists(ingestFile(t.digest))).toBe(false);
    expect(await exists(layout.blobPath(t.digest))).toBe(false);
  });

  it('one chunk that overshoots the size fails before any of it is stored', async () => {
    const layout = await Layout.open(dir);
    const ingest = await start(layout);
    await rejected(ingest.append(Readable.from([Buffer.concat([data, Buffer.from([0])])])), 'OCI_ERR_SIZE_MISMATCH');
    expect(ingest.offset).toBe(0);
    await rejected(ingest.commit(), 'OCI_ERR_SIZE_MISMATCH');
    expect(await exists(layout.blobPath(t.digest))).toBe(false);
  });

  it('commit of a short blob fails with OCI_ERR_SIZE_MISMATCH and discards it', async () => {
    const layout = await Layout.open(dir);
    const ingest = await start(layout);
    await ingest.append(Readable.from([data.subarray(0, 100)]));
    await rejected(ingest.commit(), 'OCI_ERR_SIZE_MISMATCH');
    expect(await exists(ingestFile(t.digest))).toBe(false);
    expect(await exists(layout.blobPath(t.digest))).toBe(false);
  });

  it('restart() drops the held bytes and their hash', async () => {
    const layout = await Layout.open(dir);
    const ingest = await start(layout);
    // Bytes that are not the blob's start, as a server that ignored Range would send.
    await ingest.append(Readable.from([data.subarray(5000, 9000)]));
    expect(ingest.offset).toBe(4000);
    await ingest.restart();
    expect(ingest.offset).toBe(0);
    expect((await stat(ingestFile(t.digest))).size).toBe(0);
    await ingest.append(Readable.from([data]));
    await ingest.commit();
    expect((await layout.readBlob(t)).equals(data)).toBe(true);
  });

  it('restart() of a resumed ingest starts from byte 0', async () => {
    const first = await start(await Layout.open(dir));
    await first.append(Readable.from([data.subarray(0, 7)]));
    await first.close();
    const layout = await Layout.open(dir);
    const second = await start(layout);
    expect(second.offset).toBe(7);
    await second.restart();
    await second.append(Readable.from([data]));
    await second.commit();
    expect((await layout.readBlob(t)).equals(data)).toBe(true);
  });

  it('a second ingest of the same blob waits for the first and returns undefined once it commits', async () => {
    const layout = await Layout.open(dir);
    const first = await start(layout);
    let waited = 0;
    let settled = false;
    const second = layout.ingest(t, { onWait: () => waited++ }).finally(() => { settled = true; });
    await first.append(Readable.from([data.subarray(0, 100_000)]));
    await sleep(150);
    expect(settled).toBe(false);
    expect(waited).toBe(1);
    await first.append(Readable.from([data.subarray(100_000)]));
    await first.commit();
    expect(await second).toBeUndefined();
    expect((await layout.readBlob(t)).equals(data)).toBe(true);
  });

  it('a waiting ingest resumes what the first left when it gives up', async () => {
    const layout = await Layout.open(dir);
    const first = await start(layout);
    const second = layout.ingest(t);
    await first.append(Readable.from([data.subarray(0, 3000)]));
    await first.close();
    const ingest = await second;
    expect(ingest?.offset).toBe(3000);
    await ingest?.append(Readable.from([data.subarray(3000)]));
    await ingest?.commit();
    expect((await layout.readBlob(t)).equals(data)).toBe(true);
  });

  it('gives up waiting after timeoutMs', async () => {
    const layout = await Layout.open(dir);
    const first = await start(layout);
    await rejected(layout.ingest(t, { timeoutMs: 100 }), 'OCI_ERR_LAYOUT');
    await first.close(true);
  });

  it('ingests an empty blob', async () => {
    const layout = await Layout.open(dir);
    const empty = target(Buffer.alloc(0));
    const ingest = await layout.ingest(empty);
    await ingest?.append(Readable.from([]));
    await ingest?.commit();
    expect((await layout.readBlob(empty)).length).toBe(0);
  });
});

describe('setRef', () => {
  it('points a name at a descriptor, replacing only that name', async () => {
    const layout = await Layout.open(dir);
    const a1 = { ...manifestDesc(1), annotations: { 'org.example.keep': 'yes' } };
    await layout.setRef('a', a1);
    await layout.setRef('b', manifestDesc(2));
    await layout.setRef('a', manifestDesc(3));
    const index = await readIndexFile();
    expect(index.schemaVersion).toBe(2);
    expect(index.mediaType).toBe(INDEX_MEDIA_TYPE);
    expect(refNames(index)).toEqual(['b', 'a']);
    expect(index.manifests[0]).toEqual({ ...manifestDesc(2), annotations: { [REF_NAME_ANNOTATION]: 'b' } });
    expect(index.manifests[1]).toEqual({ ...manifestDesc(3), annotations: { [REF_NAME_ANNOTATION]: 'a' } });
    expect(await layout.findRef('a')).toEqual(index.manifests[1]);
    expect(await layout.findRef('c')).toBeUndefined();
  });

  it('keeps the descriptor’s own annotations and entries without a name', async () => {
    const layout = await Layout.open(dir);
    await layout.updateIndex((index) => ({ ...index, manifests: [...index.manifests, manifestDesc(9)] }));
    await layout.setRef('x', { ...manifestDesc(1), annotations: { 'org.example.a': '1', [REF_NAME_ANNOTATION]: 'overridden' } });
    const index = await readIndexFile();
    expect(index.manifests).toEqual([
      manifestDesc(9),
      { ...manifestDesc(1), annotations: { 'org.example.a': '1', [REF_NAME_ANNOTATION]: 'x' } },
    ]);
  });

  it('keeps every name when 20 are set at once, and index.json is valid JSON throughout', async () => {
    const layout = await Layout.open(dir);
    await layout.setRef('existing', manifestDesc(100));
    let done = false;
    let reads = 0;
    const reader = (async () => {
      while (!done) {
        const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as ImageIndex;
        expect(index.schemaVersion).toBe(2);
        expect(refNames(index)).toContain('existing');
        reads++;
        await new Promise((r) => setImmediate(r));
      }
    })();
    try {
      await Promise.all(Array.from({ length: 20 }, (_v, i) => layout.setRef(`ref-${i}`, manifestDesc(i))));
    } finally {
      done = true;
      await reader;
    }
    expect(reads).toBeGreaterThan(0);
    const index = await readIndexFile();
    expect(refNames(index).sort()).toEqual(['existing', ...Array.from({ length: 20 }, (_v, i) => `ref-${i}`)].sort());
    for (let i = 0; i < 20; i++) expect((await layout.findRef(`ref-${i}`))?.digest).toBe(manifestDesc(i).digest);
    // Only the (lazily created) ingest folder may remain: no locks, no temporaries.
    expect((await readdir(join(dir, '.oci-tool'))).filter((n) => n !== 'ingest')).toEqual([]);
  });

  describe('from several processes', () => {
    let lib: string;

    beforeEach(async () => {
      // The children run this checkout's current sources, transpiled into the temp dir (no build needed).
      lib = join(dir, 'lib');
      const srcRoot = join(repoRoot, 'src');
      const pending = [join(srcRoot, 'image', 'layout.ts')];
      const seen = new Set<string>();
      while (pending.length > 0) {
        const file = pending.pop() as string;
        if (seen.has(file)) continue;
        seen.add(file);
        const source = await readFile(file, 'utf8');
        for (const m of source.matchAll(/from '(\.{1,2}\/[^']+)\.js'/g)) pending.push(resolve(dirname(file), `${m[1] as string}.ts`));
        const out = ts.transpileModule(source, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: true } });
        const dest = join(lib, relative(srcRoot, file)).replace(/\.ts$/, '.js');
        await mkdir(dirname(dest), { recursive: true });
        await writeFile(dest, out.outputText);
      }
      await writeFile(join(lib, 'package.json'), '{"type":"module"}');
      await writeFile(join(dir, 'child.mjs'), `
import { Layout } from ${JSON.stringify(pathToFileURL(join(lib, 'image', 'layout.js')).href)};
const [layoutDir, prefix, count] = process.argv.slice(2);
const layout = await Layout.open(layoutDir);
await Promise.all(Array.from({ length: Number(count) }, (_v, i) =>
  layout.setRef(prefix + '-' + i, { mediaType: ${JSON.stringify(MANIFEST_MEDIA_TYPE)}, digest: 'sha256:' + String(i % 10).repeat(64), size: i + 1 })));
`);
    });

    async function runChildren(layoutDir: string, n: number, perChild: number): Promise<void> {
      const runs = Array.from({ length: n }, async (_v, c) => {
        const child = spawn(process.execPath, [join(dir, 'child.mjs'), layoutDir, `p${c}`, String(perChild)], { stdio: ['ignore', 'ignore', 'pipe'] });
        let stderr = '';
        child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
        const [code] = (await once(child, 'exit')) as [number | null];
        expect(stderr).toBe('');
        expect(code).toBe(0);
      });
      await Promise.all(runs);
    }

    const expectedNames = (n: number, perChild: number) =>
      Array.from({ length: n * perChild }, (_v, k) => `p${Math.floor(k / perChild)}-${k % perChild}`).sort();

    it('4 processes setting 5 names each keep all 20, and index.json stays valid JSON', async () => {
      const layoutDir = join(dir, 'layout');
      const layout = await Layout.open(layoutDir);
      await layout.setRef('existing', manifestDesc(100));
      let done = false;
      let reads = 0;
      const reader = (async () => {
        while (!done) {
          const index = JSON.parse(await readFile(join(layoutDir, 'index.json'), 'utf8')) as ImageIndex;
          expect(refNames(index)).toContain('existing');
          reads++;
          await sleep(1);
        }
      })();
      try {
        await runChildren(layoutDir, 4, 5);
      } finally {
        done = true;
        await reader;
      }
      expect(reads).toBeGreaterThan(0);
      const index = JSON.parse(await readFile(join(layoutDir, 'index.json'), 'utf8')) as ImageIndex;
      expect(refNames(index).filter((n) => n !== 'existing').sort()).toEqual(expectedNames(4, 5));
      expect(refNames(index)).toContain('existing');
      const p3 = index.manifests.find((d) => d.annotations?.[REF_NAME_ANNOTATION] === 'p3-4');
      expect(p3).toMatchObject({ digest: `sha256:${'4'.repeat(64)}`, size: 5 });
      expect((await readdir(join(layoutDir, '.oci-tool'))).filter((n) => n !== 'ingest')).toEqual([]);
    });

    it('4 processes creating the same new layout at once all succeed', async () => {
      const layoutDir = join(dir, 'fresh');
      await runChildren(layoutDir, 4, 3);
      expect(existsSync(join(layoutDir, 'oci-layout'))).toBe(true);
      const index = JSON.parse(await readFile(join(layoutDir, 'index.json'), 'utf8')) as ImageIndex;
      expect(refNames(index).sort()).toEqual(expectedNames(4, 3));
    });
  });
});
