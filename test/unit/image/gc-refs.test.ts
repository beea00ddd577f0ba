// rm (names out of index.json, blobs kept until gc) and ls (what each named image holds).
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { writeImage, writeIndex, type Descriptor } from '../../../fixtures/build-image.js';
import { layered } from '../../../fixtures/images.js';
import { isOciToolError } from '../../../src/errors.js';
import { collectGarbage, listImages, removeImage } from '../../../src/image/gc.js';
import { Layout, REF_NAME_ANNOTATION } from '../../../src/image/layout.js';

let dir: string;
let image: Descriptor;
let multi: Descriptor;

const names = async () => (JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as { manifests: Descriptor[] }).manifests
  .map((d) => d.annotations?.[REF_NAME_ANNOTATION] ?? d.digest);
const blobCount = async () => (await readdir(join(dir, 'blobs', 'sha256'))).length;
const sizeOf = async (digests: string[]) => {
  let n = 0;
  for (const d of digests) n += (await readFile(join(dir, 'blobs', 'sha256', d.slice(7)))).length;
  return n;
};

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'oci-tool-refs-'));
  image = await writeImage(dir, layered(2), 'docker.io/library/app:1.0');
  multi = await writeIndex(dir, [
    { ...layered(1), platform: { os: 'linux', architecture: 'amd64' } },
    { ...layered(1), platform: { os: 'linux', architecture: 'arm', variant: 'v7' } },
  ], 'multi');
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('rm', () => {
  it('removes a name by a short reference, keeping the blobs until gc', async () => {
    const before = await blobCount();
    expect(await removeImage('app:1.0', { layout: dir })).toEqual([{ refName: 'docker.io/library/app:1.0', digest: image.digest, mediaType: image.mediaType }]);
    expect(await names()).toEqual(['multi']);
    expect(await blobCount()).toBe(before);
    const gc = await collectGarbage({ layout: dir });
    // Its manifest, config and second layer; the first layer is shared with the index's images.
    expect(gc.blobs).toHaveLength(3);
    expect(gc.blobs.map((b) => b.digest)).toContain(image.digest);
  });

  it('removes every entry with a digest', async () => {
    const layout = await Layout.open(dir);
    await layout.setRef('another-name', { mediaType: multi.mediaType, digest: multi.digest, size: multi.size });
    const removed = await removeImage(multi.digest, { layout: dir });
    expect(removed.map((r) => r.refName).sort()).toEqual(['another-name', 'multi']);
    expect(await names()).toEqual(['docker.io/library/app:1.0']);
  });

  it('fails with not found, naming what the layout holds', async () => {
    const err = await removeImage('nothing:here', { layout: dir }).catch((e: unknown) => e);
    expect(isOciToolError(err) && err.code).toBe('OCI_ERR_NOT_FOUND');
    expect((err as Error).message).toBe(`no image "nothing:here" in ${dir}; it holds: docker.io/library/app:1.0, multi`);
    expect(await names()).toEqual(['docker.io/library/app:1.0', 'multi']);
  });
});

describe('ls', () => {
  it('lists each entry with its platform(s) and the bytes it holds', async () => {
    const manifest = JSON.parse(await readFile(join(dir, 'blobs', 'sha256', image.digest.slice(7)), 'utf8')) as { config: Descriptor; layers: Descriptor[] };
    const index = JSON.parse(await readFile(join(dir, 'blobs', 'sha256', multi.digest.slice(7)), 'utf8')) as { manifests: Descriptor[] };
    const children = await Promise.all(index.manifests.map(async (c) => {
      const m = JSON.parse(await readFile(join(dir, 'blobs', 'sha256', c.digest.slice(7)), 'utf8')) as { config: Descriptor; layers: Descriptor[] };
      return [c.digest, m.config.digest, ...m.layers.map((l) => l.digest)];
    }));
    expect(await listImages({ layout: dir })).toEqual([
      {
        refName: 'docker.io/library/app:1.0', digest: image.digest, mediaType: image.mediaType, platform: 'linux/amd64',
        size: await sizeOf([image.digest, manifest.config.digest, ...manifest.layers.map((l) => l.digest)]),
      },
      {
        refName: 'multi', digest: multi.digest, mediaType: multi.mediaType, platforms: ['linux/amd64', 'linux/arm/v7'],
        // The shared layer counts once.
        size: await sizeOf([...new Set([multi.digest, ...children.flat()])]),
      },
    ]);
  });

  it('counts only what is present and lists an empty layout as empty', async () => {
    await rm(join(dir, 'blobs', 'sha256', image.digest.slice(7)));
    const [first] = await listImages({ layout: dir });
    expect(first).toMatchObject({ digest: image.digest, size: 0 });
    expect(first?.platform).toBeUndefined();
    const empty = join(dir, 'empty');
    await Layout.open(empty);
    expect(await listImages({ layout: empty })).toEqual([]);
  });
});
