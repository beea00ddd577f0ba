// docker-archive: `docker save`-style archives (legacy layer directories, skopeo's flat files, and
// docker 25's OCI blobs) are built from fixture layouts with tar-stream and read back through the
// source; the sink's archives are read back by the source.
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { gunzipSync } from 'node:zlib';
import tar from 'tar-stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { writeImage, writeIndex, type Descriptor as FixtureDescriptor, type ImageSpec } from '../../../fixtures/build-image.js';
import type { Descriptor, ImageConfig, ImageManifest } from '../../../src/image/types.js';
import { TarIndex } from '../../../src/transport/archive-tar.js';
import { openDockerArchiveSink, openDockerArchiveSource } from '../../../src/transport/docker-archive.js';
import { driveSink, layoutSource, readAll, resolveManifest } from '../../support/image-source.js';

let dir: string;
let layoutDir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'oci-tool-docker-archive-'));
  layoutDir = join(dir, 'layout');
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const sha256 = (b: Uint8Array) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const hex = (digest: string) => digest.slice(digest.indexOf(':') + 1);
const GZIP_LAYER = 'application/vnd.docker.image.rootfs.diff.tar.gzip';
const TAR_LAYER = 'application/vnd.docker.image.rootfs.diff.tar';

const image = (n: number): ImageSpec => ({
  layers: [
    { entries: [{ path: `etc/image-${n}`, content: `image ${n}\n` }] },
    { entries: [{ path: 'data.bin', content: { size: 200_000, seed: n } }], compression: 'none' },
  ],
});

type Member = { name: string; bytes: Uint8Array } | { name: string; symlink: string };

async function writeTar(file: string, members: Member[]): Promise<string> {
  const pack = tar.pack();
  const done = pipeline(Readable.from(pack), createWriteStream(file));
  for (const m of members) {
    if ('symlink' in m) pack.entry({ name: m.name, type: 'symlink', linkname: m.symlink });
    else pack.entry({ name: m.name }, Buffer.from(m.bytes));
  }
  pack.finalize();
  await done;
  return file;
}

interface Parts {
  manifest: ImageManifest;
  configBytes: Buffer;
  config: ImageConfig;
  blob: (digest: string) => Promise<Buffer>;
}

async function partsOf(desc: FixtureDescriptor): Promise<Parts> {
  const blob = (digest: string) => readFile(join(layoutDir, 'blobs', 'sha256', hex(digest)));
  const manifest = JSON.parse((await blob(desc.digest)).toString()) as ImageManifest;
  const configBytes = await blob(manifest.config.digest);
  return { manifest, configBytes, config: JSON.parse(configBytes.toString()) as ImageConfig, blob };
}

/**
 * Old `docker save`: "<config-hex>.json", one "<id>/" directory per layer (layer.tar, VERSION, json),
 * manifest.json and repositories. Layer blobs are stored as they are (gzip stays gzip).
 */
async function legacyMembers(images: { desc: FixtureDescriptor; tags: string[]; linkLayers?: boolean }[]): Promise<Member[]> {
  const members: Member[] = [];
  const manifest: unknown[] = [];
  for (const [n, { desc, tags, linkLayers }] of images.entries()) {
    const p = await partsOf(desc);
    members.push({ name: `${hex(p.manifest.config.digest)}.json`, bytes: p.configBytes });
    const layers: string[] = [];
    for (const [i, layer] of p.manifest.layers.entries()) {
      const id = hex(sha256(Buffer.from(`${n}/${i}/${layer.digest}`)));
      if (linkLayers) {
        // As skopeo does: the real file at the top, the legacy directory links to it.
        members.push({ name: `${hex(layer.digest)}.tar`, bytes: await p.blob(layer.digest) }, { name: `${id}/layer.tar`, symlink: `../${hex(layer.digest)}.tar` });
      } else {
        members.push({ name: `${id}/layer.tar`, bytes: await p.blob(layer.digest) });
      }
      members.push({ name: `${id}/VERSION`, bytes: Buffer.from('1.0') }, { name: `${id}/json`, bytes: Buffer.from(`{"id":"${id}"}`) });
      layers.push(`${id}/layer.tar`);
    }
    manifest.push({ Config: `${hex(p.manifest.config.digest)}.json`, RepoTags: tags.length ? tags : null, Layers: layers });
  }
  members.push({ name: 'manifest.json', bytes: Buffer.from(JSON.stringify(manifest)) }, { name: 'repositories', bytes: Buffer.from('{}') });
  return members;
}

/** docker 25+ `docker save`: an OCI layout whose manifest.json points into blobs/sha256/. */
async function ociStyleMembers(desc: FixtureDescriptor, tag: string): Promise<Member[]> {
  const p = await partsOf(desc);
  const members: Member[] = [
    { name: 'oci-layout', bytes: Buffer.from('{"imageLayoutVersion":"1.0.0"}') },
    { name: 'index.json', bytes: Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [desc] })) },
  ];
  for (const d of [desc.digest, p.manifest.config.digest, ...p.manifest.layers.map((l) => l.digest)]) {
    members.push({ name: `blobs/sha256/${hex(d)}`, bytes: await p.blob(d) });
  }
  const item = { Config: `blobs/sha256/${hex(p.manifest.config.digest)}`, RepoTags: [tag], Layers: p.manifest.layers.map((l) => `blobs/sha256/${hex(l.digest)}`) };
  members.push({ name: 'manifest.json', bytes: Buffer.from(JSON.stringify([item])) });
  return members;
}





describe('docker-archive source', () => {
  it('synthesizes a schema 2 manifest over the stored layers, keeping config digest and diff_ids', async () => {
    const one = await writeImage(layoutDir, image(1));
    const two = await writeImage(layoutDir, image(2));
    const file = await writeTar(join(dir, 'save.tar'), await legacyMembers([
      { desc: one, tags: ['busybox:v1', 'busybox:latest'] },
      { desc: two, tags: [], linkLayers: true },
    ]));
    const p = await partsOf(one);
    const source = await openDockerArchiveSource(file, 'docker.io/library/busybox:v1');
    expect(source.name).toBe(`docker-archive:${file}:docker.io/library/busybox:v1`);
    const { manifest, descriptor } = await resolveManifest(source);
    expect(descriptor.mediaType).toBe('application/vnd.docker.distribution.manifest.v2+json');
    expect(manifest.mediaType).toBe('application/vnd.docker.distribution.manifest.v2+json');
    expect(manifest.config).toEqual({ mediaType: 'application/vnd.docker.container.image.v1+json', digest: p.manifest.config.digest, size: p.configBytes.length });
    // Stored as they are: the gzip layer keeps its compressed digest, the plain one is its own diff_id.
    expect(manifest.layers).toEqual([
      { mediaType: GZIP_LAYER, digest: p.manifest.layers[0]?.digest, size: p.manifest.layers[0]?.size },
      { mediaType: TAR_LAYER, digest: p.config.rootfs.diff_ids[1], size: p.manifest.layers[1]?.size },
    ]);
    for (const blob of [manifest.config, ...manifest.layers]) expect(sha256(await readAll(await source.blob(blob)))).toBe(blob.digest);
    expect(sha256(gunzipSync(await readAll(await source.blob(manifest.layers[0] as Descriptor))))).toBe(p.config.rootfs.diff_ids[0]);
    await expect(source.blob({ ...manifest.config, digest: `sha256:${'0'.repeat(64)}` })).rejects.toMatchObject({ code: 'OCI_ERR_NOT_FOUND' });

    // The untagged image by index, its layers reached through symlinks.
    const second = await resolveManifest(await openDockerArchiveSource(file, '@1'));
    expect(second.manifest.config.digest).toBe((await partsOf(two)).manifest.config.digest);
  });

  it('reads docker 25 archives, whose manifest.json points into an OCI layout', async () => {
    const one = await writeImage(layoutDir, image(3));
    const p = await partsOf(one);
    const file = await writeTar(join(dir, 'save.tar'), await ociStyleMembers(one, 'example.com/app:1'));
    const { manifest } = await resolveManifest(await openDockerArchiveSource(file));
    expect(manifest.config.digest).toBe(p.manifest.config.digest);
    expect(manifest.layers.map((l) => l.digest)).toEqual(p.manifest.layers.map((l) => l.digest));
  });

  it('says which images an archive holds when the choice is missing or wrong', async () => {
    const one = await writeImage(layoutDir, image(1));
    const two = await writeImage(layoutDir, image(2));
    const file = await writeTar(join(dir, 'save.tar'), await legacyMembers([{ desc: one, tags: ['busybox:v1'] }, { desc: two, tags: [] }]));
    await expect(openDockerArchiveSource(file)).rejects.toMatchObject({
      code: 'OCI_ERR_USAGE',
      message: expect.stringMatching(/holds 2 images \(@0 busybox:v1, @1 \(untagged\)\); name one as docker-archive:.*:REPO:TAG or :@N/),
    });
    await expect(openDockerArchiveSource(file, 'busybox:v2')).rejects.toMatchObject({
      code: 'OCI_ERR_NOT_FOUND',
      message: expect.stringContaining('has no image tagged busybox:v2: it holds @0 busybox:v1, @1 (untagged)'),
    });
    await expect(openDockerArchiveSource(file, '@2')).rejects.toMatchObject({ code: 'OCI_ERR_NOT_FOUND' });
    await expect(openDockerArchiveSource(file, `busybox@sha256:${'a'.repeat(64)}`)).rejects.toMatchObject({ code: 'OCI_ERR_BAD_REFERENCE' });
    const tagged = await resolveManifest(await openDockerArchiveSource(file, 'busybox:v1'));
    expect(tagged.manifest.config.digest).toBe((await partsOf(one)).manifest.config.digest);
  });

  it('refuses a layer whose bytes were changed, naming the diff_id it should have', async () => {
    const one = await writeImage(layoutDir, image(4), 'v1');
    const p = await partsOf(one);
    const members = await legacyMembers([{ desc: one, tags: ['busybox:v1'] }]);
    const plain = await p.blob(p.manifest.layers[1]?.digest as string);
    const victim = members.find((m) => 'bytes' in m && Buffer.from(m.bytes).equals(plain));
    if (!victim || !('bytes' in victim)) throw new Error('layer member missing');
    const flipped = Buffer.from(plain);
    flipped[5000] = (flipped[5000] as number) ^ 0x01;
    victim.bytes = flipped;
    const file = await writeTar(join(dir, 'bad.tar'), members);
    await expect(openDockerArchiveSource(file)).rejects.toMatchObject({
      code: 'OCI_ERR_DIGEST_MISMATCH',
      message: expect.stringMatching(new RegExp(`diff_id.*${file}.*expected ${p.config.rootfs.diff_ids[1]}`)),
    });
  });

  it('refuses a config whose diff_ids do not match the layers', async () => {
    const one = await writeImage(layoutDir, image(5));
    const p = await partsOf(one);
    const wrongId = sha256(Buffer.from('some other layer'));
    const config = Buffer.from(JSON.stringify({ ...p.config, rootfs: { type: 'layers', diff_ids: [p.config.rootfs.diff_ids[0], wrongId] } }));
    const members = (await legacyMembers([{ desc: one, tags: [] }])).map((m) =>
      m.name === `${hex(p.manifest.config.digest)}.json` ? { name: `${hex(sha256(config))}.json`, bytes: config } : m);
    const manifest = members.find((m) => m.name === 'manifest.json');
    if (!manifest || !('bytes' in manifest)) throw new Error('no manifest.json');
    manifest.bytes = Buffer.from(Buffer.from(manifest.bytes).toString().replace(hex(p.manifest.config.digest), hex(sha256(config))));
    const file = await writeTar(join(dir, 'bad.tar'), members);
    await expect(openDockerArchiveSource(file)).rejects.toMatchObject({
      code: 'OCI_ERR_DIGEST_MISMATCH',
      message: expect.stringContaining(`diff_id) of layer`),
    });
    await expect(openDockerArchiveSource(file)).rejects.toThrow(`expected ${wrongId}, got ${p.config.rootfs.diff_ids[1]}`);
  });

  it('refuses a config that does not match the digest in its name', async () => {
    const one = await writeImage(layoutDir, image(6));
    const p = await partsOf(one);
    const name = `${hex(p.manifest.config.digest)}.json`;
    const members = (await legacyMembers([{ desc: one, tags: [] }])).map((m) =>
      m.name === name ? { name, bytes: Buffer.from(p.configBytes.toString().replace('"os":"linux"', '"os":"linuX"')) } : m);
    const file = await writeTar(join(dir, 'bad.tar'), members);
    await expect(openDockerArchiveSource(file)).rejects.toMatchObject({
      code: 'OCI_ERR_DIGEST_MISMATCH',
      message: expect.stringContaining(`${name} in ${file}: expected ${p.manifest.config.digest}`),
    });
  });

  it('refuses archives without manifest.json, pointing at oci-archive when it is one', async () => {
    const file = await writeTar(join(dir, 'oci.tar'), [{ name: 'oci-layout', bytes: Buffer.from('{"imageLayoutVersion":"1.0.0"}') }]);
    await expect(openDockerArchiveSource(file)).rejects.toMatchObject({ code: 'OCI_ERR_LAYOUT', message: expect.stringContaining('looks like an oci-archive') });
  });
});

describe('docker-archive sink', () => {
  it('stores layers uncompressed as skopeo names them, and reads back with the same config and diff_ids', async () => {
    const top = await writeImage(layoutDir, image(7), 'v1');
    const p = await partsOf(top);
    const file = join(dir, 'out.tar');
    await driveSink(await layoutSource(layoutDir, top), await openDockerArchiveSink(file, 'example.com/app:v1'));
    expect((await readdir(dir)).sort()).toEqual(['layout', 'out.tar']);

    const { manifest } = await resolveManifest(await openDockerArchiveSource(file, 'example.com/app:v1'));
    expect(manifest.config.digest).toBe(p.manifest.config.digest);
    expect(manifest.layers.map((l) => l.digest)).toEqual(p.config.rootfs.diff_ids);
    expect(manifest.layers.map((l) => l.mediaType)).toEqual([TAR_LAYER, TAR_LAYER]);

    const index = await TarIndex.open(file);
    const read = async (name: string) => {
      const m = index.find(name);
      if (!m) throw new Error(`${name} missing`);
      return readAll(index.stream(m));
    };
    const configName = `${hex(p.manifest.config.digest)}.json`;
    const layerNames = p.config.rootfs.diff_ids.map((d) => `${hex(d)}.tar`);
    expect(JSON.parse((await read('manifest.json')).toString())).toEqual([{ Config: configName, RepoTags: ['example.com/app:v1'], Layers: layerNames }]);
    const repositories = JSON.parse((await read('repositories')).toString()) as Record<string, Record<string, string>>;
    const topId = repositories['example.com/app']?.v1 as string;
    expect(topId).toMatch(/^[a-f0-9]{64}$/);
    expect((await read(`${topId}/VERSION`)).toString()).toBe('1.0');
    const topJson = JSON.parse((await read(`${topId}/json`)).toString()) as Record<string, unknown>;
    expect(topJson).toMatchObject({ id: topId, os: 'linux', architecture: 'amd64', parent: expect.stringMatching(/^[a-f0-9]{64}$/) });
    expect(sha256(await read(`${topId}/layer.tar`))).toBe(p.config.rootfs.diff_ids[1]);
    expect(index.names().slice(0, 3)).toEqual([configName, ...layerNames]);
    expect(index.names().slice(-2)).toEqual(['manifest.json', 'repositories']);
  });

  it('round-trips a docker-archive without a tag, writing empty RepoTags', async () => {
    const top = await writeImage(layoutDir, image(8));
    const first = await writeTar(join(dir, 'in.tar'), await legacyMembers([{ desc: top, tags: ['busybox:v1'] }]));
    const out = join(dir, 'out.tar');
    await driveSink(await openDockerArchiveSource(first), await openDockerArchiveSink(out));
    const p = await partsOf(top);
    const { manifest } = await resolveManifest(await openDockerArchiveSource(out));
    expect(manifest.config.digest).toBe(p.manifest.config.digest);
    expect(manifest.layers.map((l) => l.digest)).toEqual(p.config.rootfs.diff_ids);
    const index = await TarIndex.open(out);
    const m = index.find('manifest.json');
    if (!m) throw new Error('manifest.json missing');
    expect((JSON.parse((await readAll(index.stream(m))).toString()) as { RepoTags: string[] }[])[0]?.RepoTags).toEqual([]);
  });

  it('refuses an index, a wrong diff_id, and references it cannot use', async () => {
    const idx = await writeIndex(layoutDir, [image(1), { ...image(2), platform: { os: 'linux', architecture: 'arm64' } }], 'multi');
    const sink = await openDockerArchiveSink(join(dir, 'out.tar'), 'busybox:v1');
    const indexBytes = await readFile(join(layoutDir, 'blobs', 'sha256', hex(idx.digest)));
    await expect(sink.putManifest(indexBytes, idx as Descriptor, { top: true })).rejects.toMatchObject({
      code: 'OCI_ERR_UNSUPPORTED',
      message: expect.stringContaining('holds a single image, not an index'),
    });

    // A layer whose content is not what the config says.
    const one = await writeImage(layoutDir, image(9));
    const p = await partsOf(one);
    const source = await layoutSource(layoutDir, one);
    const [l0, l1] = p.manifest.layers as [Descriptor, Descriptor];
    const swapped = { ...p.config, rootfs: { type: 'layers', diff_ids: [p.config.rootfs.diff_ids[1], p.config.rootfs.diff_ids[0]] } };
    const configBytes = Buffer.from(JSON.stringify(swapped));
    const configDesc: Descriptor = { ...p.manifest.config, digest: sha256(configBytes), size: configBytes.length };
    const manifestBytes = Buffer.from(JSON.stringify({ ...p.manifest, config: configDesc }));
    await sink.putBlob(configDesc, async () => Readable.from([configBytes]));
    await sink.putBlob(l0, () => source.blob(l0));
    await sink.putBlob(l1, () => source.blob(l1));
    await expect(sink.putManifest(manifestBytes, { mediaType: p.manifest.mediaType as string, digest: sha256(manifestBytes), size: manifestBytes.length }, { top: true }))
      .rejects.toMatchObject({ code: 'OCI_ERR_DIGEST_MISMATCH', message: expect.stringContaining(`diff_id) of layer ${l0.digest}: expected ${p.config.rootfs.diff_ids[1]}`) });
    await sink.close();
    expect((await readdir(dir)).sort()).toEqual(['layout']);

    await expect(openDockerArchiveSink(join(dir, 'x.tar'), '@0')).rejects.toMatchObject({ code: 'OCI_ERR_USAGE' });
    await expect(openDockerArchiveSink(join(dir, 'x.tar'), `busybox@sha256:${'a'.repeat(64)}`)).rejects.toMatchObject({ code: 'OCI_ERR_BAD_REFERENCE' });
    await expect(openDockerArchiveSink(join(dir, 'no-such-dir', 'x.tar'))).rejects.toMatchObject({ code: 'OCI_ERR_NOT_FOUND' });
  });

  it('refuses a layer that does not match its digest, keeping nothing of it', async () => {
    const one = await writeImage(layoutDir, image(10));
    const p = await partsOf(one);
    const layer = p.manifest.layers[0] as Descriptor;
    const bytes = Buffer.from(await p.blob(layer.digest));
    bytes[20] = (bytes[20] as number) ^ 0x01;
    const sink = await openDockerArchiveSink(join(dir, 'out.tar'));
    await expect(sink.putBlob(layer, async () => Readable.from([bytes]))).rejects.toMatchObject({ code: expect.stringMatching(/DIGEST_MISMATCH|INVALID_CONTENT/) });
    expect(await sink.hasBlob(layer)).toBe(false);
    await sink.close();
  });
});
