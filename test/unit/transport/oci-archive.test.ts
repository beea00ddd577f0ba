// oci-archive: layouts built by the fixtures are packed with tar-stream and read back through the
// source; the sink's archives are read back by the source (and by a plain tar listing).
import { createHash } from 'node:crypto';
import { createWriteStream, existsSync } from 'node:fs';
import { link, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { writeImage, writeIndex, type ImageSpec } from '../../../fixtures/build-image.js';
import { REF_NAME_ANNOTATION } from '../../../src/image/layout.js';
import { INDEX_MEDIA_TYPE } from '../../../src/image/media-types.js';
import { parseManifestDocument, type Descriptor } from '../../../src/image/types.js';
import { TarIndex, type TarMember } from '../../../src/transport/archive-tar.js';
import { openOciArchiveSink, openOciArchiveSource } from '../../../src/transport/oci-archive.js';
import { run } from '../../support/cli.js';
import { driveSink, readAll } from '../../support/image-source.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'oci-tool-oci-archive-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const sha256 = (b: Uint8Array) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

const image = (n: number): ImageSpec => ({
  layers: [
    { entries: [{ path: `etc/image-${n}`, content: `image ${n}\n` }] },
    { entries: [{ path: 'data.bin', content: { size: 300_000, seed: n } }], compression: 'none' },
  ],
});

type Member = { name: string; bytes: Uint8Array } | { name: string; dir: true };

/** Packs members into a tar with tar-stream, in the given order. */
async function writeTar(file: string, members: Member[]): Promise<void> {
  const pack = tar.pack();
  const done = pipeline(Readable.from(pack), createWriteStream(file));
  for (const m of members) {
    if ('dir' in m) pack.entry({ name: `${m.name}/`, type: 'directory' });
    else pack.entry({ name: m.name, mtime: new Date(0) }, Buffer.from(m.bytes));
  }
  pack.finalize();
  await done;
}

/** A layout directory as tar members: oci-layout, index.json, then blobs (optionally with a prefix such as "./"). */
async function layoutMembers(layout: string, prefix = ''): Promise<Member[]> {
  const members: Member[] = [
    { name: `${prefix}oci-layout`, bytes: await readFile(join(layout, 'oci-layout')) },
    { name: `${prefix}index.json`, bytes: await readFile(join(layout, 'index.json')) },
    { name: `${prefix}blobs`, dir: true },
    { name: `${prefix}blobs/sha256`, dir: true },
  ];
  for (const hex of (await readdir(join(layout, 'blobs', 'sha256'))).sort()) {
    members.push({ name: `${prefix}blobs/sha256/${hex}`, bytes: await readFile(join(layout, 'blobs', 'sha256', hex)) });
  }
  return members;
}

async function archiveOf(layout: string, file: string, prefix = ''): Promise<string> {
  await writeTar(file, await layoutMembers(layout, prefix));
  return file;
}



describe('oci-archive source', () => {
  it('reads the named image with its digests, streaming blobs from the tar', async () => {
    const layout = join(dir, 'layout');
    const wanted = await writeImage(layout, image(1), 'v1');
    await writeImage(layout, image(2), 'v2');
    const source = await openOciArchiveSource(await archiveOf(layout, join(dir, 'a.tar')), 'v1');
    expect(source.name).toBe(`oci-archive:${join(dir, 'a.tar')}:v1`);
    const { bytes, descriptor } = await source.resolve();
    expect(descriptor).toEqual({ mediaType: wanted.mediaType, digest: wanted.digest, size: wanted.size });
    expect(sha256(bytes)).toBe(wanted.digest);
    const doc = parseManifestDocument(bytes, descriptor.mediaType, 'test');
    if (doc.kind !== 'manifest') throw new Error('expected a manifest');
    for (const blob of [doc.manifest.config, ...doc.manifest.layers]) {
      const got = await readAll(await source.blob(blob));
      expect(got.equals(await readFile(join(layout, 'blobs', 'sha256', blob.digest.slice(7))))).toBe(true);
    }
    await source.close();
  });

  it('takes the only image without a name, and "./"-prefixed member names', async () => {
    const layout = join(dir, 'layout');
    const wanted = await writeImage(layout, image(3));
    const source = await openOciArchiveSource(await archiveOf(layout, join(dir, 'a.tar'), './'));
    expect((await source.resolve()).descriptor.digest).toBe(wanted.digest);
  });

  it('says which images an archive holds when the choice is missing or wrong', async () => {
    const layout = join(dir, 'layout');
    await writeImage(layout, image(1), 'first');
    const second = await writeImage(layout, image(2), 'second');
    const file = await archiveOf(layout, join(dir, 'a.tar'));
    await expect(openOciArchiveSource(file)).rejects.toMatchObject({
      code: 'OCI_ERR_USAGE',
      message: expect.stringMatching(/holds 2 images \(first, second\).*oci-archive:.*:NAME/),
    });
    await expect(openOciArchiveSource(file, 'third')).rejects.toMatchObject({
      code: 'OCI_ERR_NOT_FOUND',
      message: expect.stringContaining('has no image named "third": it holds first, second'),
    });
    const byIndex = await openOciArchiveSource(file, '@1');
    expect((await byIndex.resolve()).descriptor.digest).toBe(second.digest);
    await expect(openOciArchiveSource(file, '@2')).rejects.toMatchObject({ code: 'OCI_ERR_NOT_FOUND' });
  });

  it('reads an index and its child manifests', async () => {
    const layout = join(dir, 'layout');
    const top = await writeIndex(layout, [
      { ...image(1), platform: { os: 'linux', architecture: 'amd64' } },
      { ...image(2), platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
    ], 'multi');
    const source = await openOciArchiveSource(await archiveOf(layout, join(dir, 'a.tar')), 'multi');
    const { bytes, descriptor } = await source.resolve();
    expect(descriptor.digest).toBe(top.digest);
    const doc = parseManifestDocument(bytes, descriptor.mediaType, 'test');
    if (doc.kind !== 'index') throw new Error('expected an index');
    for (const child of doc.index.manifests) expect(sha256(await source.manifest(child))).toBe(child.digest);
  });

  it('refuses a blob whose bytes were changed, naming its digest', async () => {
    const layout = join(dir, 'layout');
    const wanted = await writeImage(layout, image(4), 'v1');
    const members = await layoutMembers(layout);
    const manifest = JSON.parse((await readFile(join(layout, 'blobs', 'sha256', wanted.digest.slice(7)))).toString()) as { layers: Descriptor[] };
    const layer = manifest.layers[1] as Descriptor;
    const victim = members.find((m) => m.name === `blobs/sha256/${layer.digest.slice(7)}`);
    if (!victim || !('bytes' in victim)) throw new Error('layer member missing');
    const flipped = Buffer.from(victim.bytes);
    flipped[1000] = (flipped[1000] as number) ^ 0x01;
    victim.bytes = flipped;
    const file = join(dir, 'bad.tar');
    await writeTar(file, members);
    const source = await openOciArchiveSource(file, 'v1');
    await expect(readAll(await source.blob(layer))).rejects.toMatchObject({
      code: 'OCI_ERR_DIGEST_MISMATCH',
      message: expect.stringContaining(`blob ${layer.digest} in ${file}`),
    });
  });

  it('refuses files that are not OCI archives', async () => {
    const notTar = join(dir, 'not.tar');
    await writeFile(notTar, Buffer.alloc(2048, 7));
    await expect(openOciArchiveSource(notTar)).rejects.toMatchObject({ code: 'OCI_ERR_INVALID_CONTENT', message: expect.stringContaining(notTar) });
    const docker = join(dir, 'docker.tar');
    await writeTar(docker, [{ name: 'manifest.json', bytes: Buffer.from('[]') }]);
    await expect(openOciArchiveSource(docker)).rejects.toMatchObject({ code: 'OCI_ERR_LAYOUT', message: expect.stringContaining('looks like a docker-archive') });
    await expect(openOciArchiveSource(join(dir, 'missing.tar'))).rejects.toMatchObject({ code: 'OCI_ERR_NOT_FOUND' });
  });
});

describe('oci-archive sink', () => {
  it('writes an archive the source reads back with the same digests, in a fixed member order', async () => {
    const layout = join(dir, 'layout');
    const wanted = await writeImage(layout, image(5), 'v1');
    const source = await openOciArchiveSource(await archiveOf(layout, join(dir, 'in.tar')), 'v1');
    const out = join(dir, 'out.tar');
    const sink = await openOciArchiveSink(out, 'example.com/app:v2');
    expect(existsSync(out)).toBe(false);
    await driveSink(source, sink);

    const back = await openOciArchiveSource(out, 'example.com/app:v2');
    const { bytes, descriptor } = await back.resolve();
    expect(descriptor.digest).toBe(wanted.digest);
    const doc = parseManifestDocument(bytes, descriptor.mediaType, 'test');
    if (doc.kind !== 'manifest') throw new Error('expected a manifest');
    for (const blob of [doc.manifest.config, ...doc.manifest.layers]) expect(sha256(await readAll(await back.blob(blob)))).toBe(blob.digest);

    const names = (await TarIndex.open(out)).names();
    expect(names.slice(0, 4)).toEqual(['oci-layout', 'index.json', 'blobs', 'blobs/sha256']);
    const blobNames = names.slice(4);
    expect(blobNames).toEqual([...blobNames].sort());
    expect(blobNames).toHaveLength(4);
    const index = JSON.parse(await readMember(out, 'index.json')) as { mediaType: string; manifests: Descriptor[] };
    expect(index.mediaType).toBe(INDEX_MEDIA_TYPE);
    expect(index.manifests).toEqual([{ ...descriptor, annotations: { [REF_NAME_ANNOTATION]: 'example.com/app:v2' } }]);
    // No staging directory or temporary file is left beside the archive.
    expect((await readdir(dir)).sort()).toEqual(['in.tar', 'layout', 'out.tar']);

    // The same image packs to the same bytes.
    const again = join(dir, 'again.tar');
    await driveSink(await openOciArchiveSource(join(dir, 'in.tar'), 'v1'), await openOciArchiveSink(again, 'example.com/app:v2'));
    expect((await readFile(again)).equals(await readFile(out))).toBe(true);
  });

  it('writes a whole index, and replaces an existing file only at commit', async () => {
    const layout = join(dir, 'layout');
    const top = await writeIndex(layout, [image(1), { ...image(2), platform: { os: 'linux', architecture: 'arm64' } }], 'multi');
    const out = join(dir, 'out.tar');
    await writeFile(out, 'old contents');
    const sink = await openOciArchiveSink(out);
    const source = await openOciArchiveSource(await archiveOf(layout, join(dir, 'in.tar')), 'multi');
    const { bytes, descriptor } = await source.resolve();
    const doc = parseManifestDocument(bytes, descriptor.mediaType, 'test');
    if (doc.kind !== 'index') throw new Error('expected an index');
    for (const child of doc.index.manifests) {
      const childBytes = await source.manifest(child);
      const m = parseManifestDocument(childBytes, child.mediaType, 'child');
      if (m.kind !== 'manifest') throw new Error('expected a manifest');
      for (const blob of [m.manifest.config, ...m.manifest.layers]) await sink.putBlob(blob, () => source.blob(blob));
      await sink.putManifest(childBytes, child, { top: false });
    }
    await sink.putManifest(bytes, descriptor, { top: true });
    expect(await readFile(out, 'utf8')).toBe('old contents');
    await sink.commit();
    const back = await openOciArchiveSource(out);
    expect((await back.resolve()).descriptor).toEqual({ mediaType: top.mediaType, digest: top.digest, size: top.size });
  });

  it('refuses a blob that does not match its descriptor and leaves nothing behind on close', async () => {
    const out = join(dir, 'out.tar');
    const sink = await openOciArchiveSink(out, 'x');
    const bytes = Buffer.from('{"hello":"world"}');
    const desc: Descriptor = { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(bytes), size: bytes.length };
    const wrong = Buffer.from('{"hello":"World"}');
    await expect(sink.putBlob(desc, async () => Readable.from([wrong]))).rejects.toMatchObject({
      code: 'OCI_ERR_DIGEST_MISMATCH',
      message: expect.stringContaining(desc.digest),
    });
    expect(await sink.hasBlob(desc)).toBe(false);
    expect(await sink.putBlob(desc, async () => Readable.from([bytes]))).toBe('written');
    expect(await sink.putBlob(desc, async () => { throw new Error('not opened again'); })).toBe('exists');
    await expect(sink.commit()).rejects.toMatchObject({ code: 'OCI_ERR_INTERNAL' });
    await sink.close();
    expect(await readdir(dir)).toEqual([]);
  });
});

describe('tar index', () => {
  // GNU tar writes long names as ././@LongLink members (gnu), PAX records (pax) or a name prefix (ustar).
  it.each(['gnu', 'pax', 'ustar'])('finds members with long names, links and symlinks in %s archives', async (format) => {
    const src = join(dir, 'src');
    const long = `${'d'.repeat(90)}/${'f'.repeat(90)}`;
    await mkdir(join(src, 'd'.repeat(90)), { recursive: true });
    await writeFile(join(src, long), 'long name\n');
    // ustar has no room for link names over 100 bytes; the others carry them in extra records.
    const target = format === 'ustar' ? 'short' : long;
    if (format === 'ustar') await writeFile(join(src, 'short'), 'long name\n');
    await link(join(src, target), join(src, 'hard'));
    await symlink(target, join(src, 'soft'));
    const file = join(dir, `${format}.tar`);
    const r = await run('tar', [`--format=${format}`, '-C', src, '-cf', file, '.']);
    expect(r.code, r.stderr).toBe(0);
    const index = await TarIndex.open(file);
    for (const name of [long, `./${long}`, 'hard', 'soft']) {
      const member = index.find(name);
      expect(member?.type, name).toBe('file');
      expect((await readAll(index.stream(member as TarMember))).toString()).toBe('long name\n');
    }
    expect(index.find('d'.repeat(90))?.type).toBe('dir');
    expect(index.find('../soft')).toBeDefined(); // ".." cannot climb out of the archive root
    expect(index.find('missing')).toBeUndefined();
  });

  it('refuses a truncated archive and a damaged header', async () => {
    const file = join(dir, 'a.tar');
    await writeTar(file, [{ name: 'one', bytes: Buffer.alloc(3000, 1) }, { name: 'two', bytes: Buffer.alloc(10, 2) }]);
    const bytes = await readFile(file);
    await writeFile(join(dir, 'short.tar'), bytes.subarray(0, 2048));
    await expect(TarIndex.open(join(dir, 'short.tar'))).rejects.toMatchObject({ code: 'OCI_ERR_INVALID_CONTENT', message: expect.stringContaining('past the end') });
    const damaged = Buffer.from(bytes);
    damaged[512 + 3072 + 10] = 0x41; // inside the second header's name
    await writeFile(join(dir, 'damaged.tar'), damaged);
    await expect(TarIndex.open(join(dir, 'damaged.tar'))).rejects.toMatchObject({ code: 'OCI_ERR_INVALID_CONTENT', message: expect.stringContaining('checksum at offset 3584') });
  });
});

async function readMember(file: string, name: string): Promise<string> {
  const index = await TarIndex.open(file);
  const member = index.find(name);
  if (!member) throw new Error(`${name} not in ${file}`);
  return (await readAll(index.stream(member))).toString('utf8');
}
