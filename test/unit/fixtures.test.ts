import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeImage, writeIndex, type Descriptor } from '../../fixtures/build-image.js';
import { busybox, largeImage, layered, multiArch } from '../../fixtures/images.js';

type Manifest = { mediaType: string; config: Descriptor; layers: Descriptor[] };
type Config = { architecture: string; os: string; rootfs: { diff_ids: string[] }; history: unknown[]; config: { Cmd?: string[] } };

let work: string;
beforeAll(async () => { work = await mkdtemp(join(tmpdir(), 'oci-tool-fixtures-')); });
afterAll(async () => { if (work) await rm(work, { recursive: true, force: true }); });

const blobPath = (dir: string, digest: string) => join(dir, 'blobs', 'sha256', digest.slice('sha256:'.length));
const sha256 = (b: Uint8Array) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
async function checkedBlob(dir: string, d: Descriptor): Promise<Buffer> {
  const bytes = await readFile(blobPath(dir, d.digest));
  expect(sha256(bytes)).toBe(d.digest);
  expect(bytes.length).toBe(d.size);
  return bytes;
}
const readJson = async <T>(dir: string, d: Descriptor) => JSON.parse((await checkedBlob(dir, d)).toString('utf8')) as T;
const indexOf = async (dir: string) =>
  JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as { schemaVersion: number; manifests: Descriptor[] };

describe('fixtures/build-image', () => {
  it('writes busybox as a valid layout whose digests, sizes and diff_ids match the bytes', async () => {
    const dir = join(work, 'bb');
    const top = await writeImage(dir, busybox(), 'busybox');
    expect(JSON.parse(await readFile(join(dir, 'oci-layout'), 'utf8'))).toEqual({ imageLayoutVersion: '1.0.0' });
    const index = await indexOf(dir);
    expect(index.manifests).toEqual([{ ...top, annotations: { 'org.opencontainers.image.ref.name': 'busybox' } }]);
    const manifest = await readJson<Manifest>(dir, top);
    expect(manifest.mediaType).toBe('application/vnd.oci.image.manifest.v1+json');
    const config = await readJson<Config>(dir, manifest.config);
    expect(config).toMatchObject({ architecture: 'amd64', os: 'linux', config: { Cmd: ['sh'] } });
    expect(manifest.layers).toHaveLength(1);
    const layer = manifest.layers[0] as Descriptor;
    expect(layer.mediaType).toBe('application/vnd.oci.image.layer.v1.tar+gzip');
    const gz = await checkedBlob(dir, layer);
    expect(config.rootfs.diff_ids).toEqual([sha256(gunzipSync(gz))]);
    expect(config.history).toHaveLength(1);

    const listing = execFileSync('tar', ['--numeric-owner', '-tzvf', blobPath(dir, layer.digest)], { encoding: 'utf8', env: { ...process.env, TZ: 'UTC' } });
    expect(listing).toMatch(/^-rwxr-xr-x 0\/0\s+\d+ 1970-01-01 00:00 bin\/busybox$/m);
    expect(listing).toMatch(/^lrwxrwxrwx .* bin\/sh -> busybox$/m);
    expect(listing).toMatch(/^drwxrwxrwt .* tmp\/$/m);
    expect(listing).toMatch(/ etc\/passwd$/m);
  });

  it('is deterministic and replaces an index entry of the same name', async () => {
    const a = await writeImage(join(work, 'det1'), busybox(), 'x');
    const b = await writeImage(join(work, 'det2'), busybox(), 'x');
    expect(b).toEqual(a);
    const dir = join(work, 'det1');
    const c = await writeImage(dir, layered(3), 'x');
    await writeImage(dir, layered(2), 'y');
    const index = await indexOf(dir);
    expect(index.manifests.map((m) => [m.digest, m.annotations?.['org.opencontainers.image.ref.name']])).toEqual([
      [c.digest, 'x'], [expect.any(String), 'y'],
    ]);
    expect((await readJson<Manifest>(dir, c)).layers).toHaveLength(3);
  });

  it('writes docker v2s2 media types and uncompressed layers', async () => {
    const dir = join(work, 'docker');
    const top = await writeImage(dir, { ...layered(1), format: 'docker' });
    expect(top.mediaType).toBe('application/vnd.docker.distribution.manifest.v2+json');
    const m = await readJson<Manifest>(dir, top);
    expect(m.config.mediaType).toBe('application/vnd.docker.container.image.v1+json');
    expect(m.layers[0]?.mediaType).toBe('application/vnd.docker.image.rootfs.diff.tar.gzip');

    const raw = await writeImage(dir, { layers: [{ entries: [{ path: 'a', content: 'a' }], compression: 'none' }] });
    const rm0 = await readJson<Manifest>(dir, raw);
    const cfg = await readJson<Config>(dir, rm0.config);
    expect(rm0.layers[0]?.mediaType).toBe('application/vnd.oci.image.layer.v1.tar');
    expect(cfg.rootfs.diff_ids).toEqual([rm0.layers[0]?.digest]);
  });

  it('streams generated content into layers of the requested size', async () => {
    const dir = join(work, 'large');
    const total = 3 * 1024 * 1024 + 17;
    const top = await writeImage(dir, largeImage({ totalBytes: total, layers: 2 }));
    const m = await readJson<Manifest>(dir, top);
    let sum = 0;
    for (const l of m.layers) {
      const listing = execFileSync('tar', ['-tzvf', blobPath(dir, l.digest)], { encoding: 'utf8' });
      for (const [, size] of listing.matchAll(/^-\S+ \S+\s+(\d+) /gm)) sum += Number(size);
    }
    expect(sum).toBe(total);
    // Random content does not compress.
    expect(m.layers.reduce((s, l) => s + l.size, 0)).toBeGreaterThan(total);
  });

  it('fails cleanly when entries throw, leaving no temp files', async () => {
    const dir = join(work, 'broken');
    const entries = function* () { yield { path: 'a', content: { size: 5_000_000, seed: 1 } }; throw new Error('boom'); };
    await expect(writeImage(dir, { layers: [{ entries }] })).rejects.toThrow('boom');
    expect(await readdir(join(dir, 'blobs', 'sha256'))).toEqual([]);
  });

  it('writes an index whose children carry their platforms', async () => {
    for (const format of ['oci', 'docker'] as const) {
      const dir = join(work, `multi-${format}`);
      const top = await writeIndex(dir, multiArch(), 'multi', format);
      const index = await readJson<{ mediaType: string; manifests: Descriptor[] }>(dir, top);
      expect(index.mediaType).toBe(top.mediaType);
      expect(index.manifests.map((d) => d.platform)).toEqual([
        { os: 'linux', architecture: 'amd64' },
        { os: 'linux', architecture: 'arm64', variant: 'v8' },
        { os: 'linux', architecture: 'arm', variant: 'v7' },
      ]);
      const arm = await readJson<Manifest>(dir, index.manifests[2] as Descriptor);
      const layer = blobPath(dir, (arm.layers[0] as Descriptor).digest);
      expect(execFileSync('tar', ['-xzOf', layer, 'etc/arch'], { encoding: 'utf8' })).toBe('arm/v7\n');
      expect(await readJson<Config>(dir, arm.config)).toMatchObject({ architecture: 'arm', os: 'linux', variant: 'v7' });
      // Only the index is named in index.json; its children are reached through it.
      expect((await indexOf(dir)).manifests.map((d) => d.digest)).toEqual([top.digest]);
    }
    expect((await writeIndex(join(work, 'multi-d2'), multiArch(), 'm', 'docker')).mediaType)
      .toBe('application/vnd.docker.distribution.manifest.list.v2+json');
  });
});
