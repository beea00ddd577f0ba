// The copy engine against the in-memory distribution server: what is sent, what is not (present,
// mounted, shared), digests kept byte for byte, platform narrowing, bad bytes refused before
// anything is named, layouts in and out, and cosign signatures carried along.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { isOciToolError } from '../../../src/errors.js';
import type { TransferEvent } from '../../../src/events.js';
import { Layout } from '../../../src/image/layout.js';
import { Connections } from '../../../src/registry/connections.js';
import { RemoteRepository } from '../../../src/registry/remote.js';
import { copy } from '../../../src/transport/copy.js';
import { openSink, openSource } from '../../../src/transport/open.js';
import { startDistributionServer, type DistributionServer } from '../../support/distribution-server.js';
import { startFaultProxy } from '../../support/fault-proxy.js';

const MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const INDEX = 'application/vnd.oci.image.index.v1+json';
const CONFIG = 'application/vnd.oci.image.config.v1+json';
const LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip';
const fast = { retry: { baseDelayMs: 1, maxDelayMs: 5 } };
const both = { sourceOptions: fast, destinationOptions: fast };

const connections = new Connections();
const servers: DistributionServer[] = [];
let work: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'oci-tool-copy-'));
});
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});
afterAll(async () => {
  await connections.close();
  await rm(work, { recursive: true, force: true });
});

async function server(): Promise<DistributionServer> {
  const s = await startDistributionServer();
  servers.push(s);
  return s;
}

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const json = (v: unknown) => Buffer.from(JSON.stringify(v));
const blob = (bytes: Buffer, mediaType: string) => ({ mediaType, digest: sha(bytes), size: bytes.length, bytes });
type Blob = ReturnType<typeof blob>;

interface Image {
  manifest: Blob;
  blobs: Blob[];
}

function image(arch: string, layers: Buffer[], extra: Record<string, unknown> = {}): Image {
  const config = blob(json({ architecture: arch, os: 'linux', rootfs: { type: 'layers', diff_ids: layers.map(sha) } }), CONFIG);
  const ls = layers.map((l) => blob(l, LAYER));
  const strip = ({ bytes: _b, ...d }: Blob) => d;
  const manifest = blob(json({ schemaVersion: 2, mediaType: MANIFEST, config: strip(config), layers: ls.map(strip), ...extra }), MANIFEST);
  return { manifest, blobs: [config, ...ls] };
}

const repoOn = (s: DistributionServer, name: string) => new RemoteRepository({ registry: s.host, repository: name }, { connections, push: true, ...fast });

async function pushImage(s: DistributionServer, name: string, img: Image, tag?: string): Promise<void> {
  const repo = repoOn(s, name);
  for (const b of img.blobs) await repo.uploadBlob(b, () => b.bytes);
  await repo.putManifest(tag ?? img.manifest.digest, img.manifest.bytes, MANIFEST);
}

/** An index over amd64 and arm64 images sharing their first layer. */
async function pushIndex(s: DistributionServer, name: string, tag: string) {
  const shared = randomBytes(2000);
  const amd = image('amd64', [shared, randomBytes(500)]);
  const arm = image('arm64', [shared, randomBytes(700)]);
  for (const img of [amd, arm]) await pushImage(s, name, img);
  const index = blob(json({
    schemaVersion: 2, mediaType: INDEX,
    manifests: [
      { mediaType: MANIFEST, digest: amd.manifest.digest, size: amd.manifest.size, platform: { os: 'linux', architecture: 'amd64' } },
      { mediaType: MANIFEST, digest: arm.manifest.digest, size: arm.manifest.size, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
    ],
  }), INDEX);
  await repoOn(s, name).putManifest(tag, index.bytes, INDEX);
  return { index, amd, arm, shared: sha(shared) };
}

const uploadsTo = (s: DistributionServer, name: string) => s.requests.filter((r) => r.path.startsWith(`/v2/${name}/blobs/uploads/`));
const sentBlobs = (s: DistributionServer, name: string) => uploadsTo(s, name).filter((r) => r.method === 'PUT' || r.method === 'PATCH');
const manifestAt = (s: DistributionServer, name: string, tag: string) => {
  const repo = s.store.repos.get(name);
  const digest = repo?.tags.get(tag);
  return digest ? repo?.manifests.get(digest)?.bytes : undefined;
};

async function failure(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    return isOciToolError(e) ? `${e.code}: ${e.message}` : `not ours: ${String(e)}`;
  }
  return 'no error';
}

describe('copy between registries', () => {
  it('copies an index whole with allPlatforms: byte for byte, each shared blob sent once', async () => {
    const [a, b] = [await server(), await server()];
    const { index, amd, arm, shared } = await pushIndex(a, 'src/app', '1');
    const events: TransferEvent[] = [];
    const result = await copy(`docker://${a.host}/src/app:1`, `docker://${b.host}/dst/app:2`, { ...both, allPlatforms: true, onProgress: (e) => events.push(e) });
    expect(result).toMatchObject({ digest: index.digest, mediaType: INDEX, manifests: 3, platforms: ['linux/amd64', 'linux/arm64/v8'], blobs: { copied: 5, skipped: 0, mounted: 0 } });
    expect(manifestAt(b, 'dst/app', '2')?.equals(index.bytes)).toBe(true);
    for (const m of [amd.manifest, arm.manifest]) expect(b.store.repos.get('dst/app')?.manifests.get(m.digest)?.bytes.equals(m.bytes)).toBe(true);
    // Five distinct blobs (two configs, the shared layer, two own layers); the shared one went once.
    const puts = sentBlobs(b, 'dst/app').map((r) => new URL(r.path, 'http://x').searchParams.get('digest'));
    expect(puts).toHaveLength(5);
    expect(puts.filter((d) => d === shared)).toHaveLength(1);
    expect(result.bytes).toBe([...amd.blobs, ...arm.blobs.slice(2), arm.blobs[0] as Blob].reduce((n, x) => n + x.size, 0));
    expect(events.filter((e) => e.type === 'blob-done')).toHaveLength(5);
    expect(events[0]).toMatchObject({ type: 'resolved', digest: index.digest });
  });

  it('narrows an index to one platform, which the destination gets as its manifest alone', async () => {
    const [a, b] = [await server(), await server()];
    const { amd, arm } = await pushIndex(a, 'src/app', '1');
    const result = await copy(`docker://${a.host}/src/app:1`, `docker://${b.host}/dst/app:arm`, { ...both, platform: 'linux/arm64' });
    expect(result).toMatchObject({ digest: arm.manifest.digest, mediaType: MANIFEST, platform: 'linux/arm64/v8', manifests: 1, blobs: { copied: 3 } });
    expect(manifestAt(b, 'dst/app', 'arm')?.equals(arm.manifest.bytes)).toBe(true);
    expect([...(b.store.repos.get('dst/app')?.manifests.keys() ?? [])]).toEqual([arm.manifest.digest]);
    // By default, the host's platform (these tests run on linux/amd64 or linux/arm64).
    const host = await copy(`docker://${a.host}/src/app:1`, `docker://${b.host}/dst/app:host`, both);
    expect(host.digest).toBe(process.arch === 'arm64' ? arm.manifest.digest : amd.manifest.digest);
  });

  it('skips blobs the destination has, and sends nothing on a second copy', async () => {
    const [a, b] = [await server(), await server()];
    const img = image('amd64', [randomBytes(1000), randomBytes(1000)]);
    await pushImage(a, 'src', img, 'v1');
    const present = img.blobs[1] as Blob;
    await repoOn(b, 'dst').uploadBlob(present, () => present.bytes);
    const first = await copy(`docker://${a.host}/src:v1`, `docker://${b.host}/dst:v1`, both);
    expect(first.blobs).toEqual({ copied: 2, skipped: 1, mounted: 0 });
    expect(sentBlobs(b, 'dst')).toHaveLength(3); // the one pushed above, then two by the copy
    b.requests.length = 0;
    const again = await copy(`docker://${a.host}/src:v1`, `docker://${b.host}/dst:v1`, both);
    expect(again.blobs).toEqual({ copied: 0, skipped: 3, mounted: 0 });
    expect(uploadsTo(b, 'dst')).toHaveLength(0);
  });

  it('mounts every blob between repositories of one registry', async () => {
    const a = await server();
    const img = image('amd64', [randomBytes(3000), randomBytes(3000)]);
    await pushImage(a, 'team/a', img, '1');
    a.requests.length = 0;
    const result = await copy(`docker://${a.host}/team/a:1`, `docker://${a.host}/team/b:1`, both);
    expect(result.blobs).toEqual({ copied: 0, skipped: 0, mounted: 3 });
    expect(result.bytes).toBe(0);
    const uploads = uploadsTo(a, 'team/b');
    expect(uploads.map((r) => r.method)).toEqual(['POST', 'POST', 'POST']);
    expect(uploads.every((r) => r.path.includes('mount=') && r.path.includes('from=team/a'))).toBe(true);
    expect(manifestAt(a, 'team/b', '1')?.equals(img.manifest.bytes)).toBe(true);
  });

  it('refuses a blob that does not match its digest, and names nothing at the destination', async () => {
    const [a, b] = [await server(), await server()];
    const img = image('amd64', [randomBytes(4000)]);
    await pushImage(a, 'src', img, 'v1');
    const layer = img.blobs[1] as Blob;
    a.setHook((r) => (r.method === 'GET' && r.path === `/v2/src/blobs/${layer.digest}` ? { status: 200, headers: { 'content-type': 'application/octet-stream' }, body: randomBytes(layer.size) } : undefined));
    expect(await failure(copy(`docker://${a.host}/src:v1`, `docker://${b.host}/dst:v1`, both))).toMatch(/^OCI_ERR_DIGEST_MISMATCH: .*digest mismatch for blob/);
    expect(b.store.repos.get('dst')?.tags.size ?? 0).toBe(0);
    expect(b.store.repos.get('dst')?.manifests.size ?? 0).toBe(0);
    expect(b.store.blobs.has(layer.digest)).toBe(false);
    // Into a layout: the bad bytes never reach blobs/ and index.json names nothing.
    const dir = join(work, 'refused');
    expect(await failure(copy(`docker://${a.host}/src:v1`, `oci:${dir}:v1`, both))).toMatch(/^OCI_ERR_DIGEST_MISMATCH/);
    expect((await (await Layout.open(dir)).readIndex()).manifests).toEqual([]);
    expect(await (await Layout.open(dir)).hasBlob(layer)).toBe(false);
  });

  it('resumes a blob whose download breaks, with a Range request, so the destination never sees the break', async () => {
    const [a, b] = [await server(), await server()];
    const img = image('amd64', [randomBytes(200_000)]);
    await pushImage(a, 'src', img, 'v1');
    const layer = img.blobs[1] as Blob;
    const proxy = await startFaultProxy(a.url, (r, n) => (r.method === 'GET' && r.path === `/v2/src/blobs/${layer.digest}` && n === 1 ? { resetAfterBytes: 70_000 } : undefined));
    try {
      const events: TransferEvent[] = [];
      const result = await copy(`docker://${proxy.host}/src:v1`, `docker://${b.host}/dst:v1`, { ...both, onProgress: (e) => events.push(e) });
      expect(result.blobs).toEqual({ copied: 2, skipped: 0, mounted: 0 });
      const gets = proxy.requests.filter((r) => r.path === `/v2/src/blobs/${layer.digest}`);
      expect(gets.map((r) => r.headers.range)).toEqual([undefined, 'bytes=70000-']);
      expect(events.some((e) => e.type === 'retry' && e.what === `blob ${layer.digest}`)).toBe(true);
      expect(b.store.blobs.get(layer.digest)?.equals(layer.bytes)).toBe(true);
      expect(sentBlobs(b, 'dst')).toHaveLength(2);
    } finally {
      await proxy.close();
    }
  });

  it('refuses a manifest whose bytes do not match the digest the index gives', async () => {
    const [a, b] = [await server(), await server()];
    const { amd } = await pushIndex(a, 'src', '1');
    a.setHook((r) => (r.method === 'GET' && r.path === `/v2/src/manifests/${amd.manifest.digest}` ? { status: 200, headers: { 'content-type': MANIFEST }, body: Buffer.from(amd.manifest.bytes.toString().replace('"schemaVersion":2', '"schemaVersion":3')) } : undefined));
    expect(await failure(copy(`docker://${a.host}/src:1`, `docker://${b.host}/dst:1`, { ...both, allPlatforms: true }))).toMatch(/^OCI_ERR_DIGEST_MISMATCH/);
    expect(b.store.repos.get('dst')?.tags.size ?? 0).toBe(0);
  });
});

describe('copy with oci: layouts', () => {
  it('round-trips registry → layout → registry keeping the index digest', async () => {
    const [a, b] = [await server(), await server()];
    const { index } = await pushIndex(a, 'src', '1');
    const dir = join(work, 'round');
    const down = await copy(`docker://${a.host}/src:1`, `oci:${dir}:app`, { ...both, allPlatforms: true });
    expect(down.digest).toBe(index.digest);
    const layout = await Layout.open(dir);
    expect((await layout.findRef('app'))?.digest).toBe(index.digest);
    expect((await readFile(layout.blobPath(index.digest))).equals(index.bytes)).toBe(true);
    // The sink's gc lease is gone once the copy is over.
    expect(await readdir(join(dir, '.oci-tool', 'leases'))).toEqual([]);
    const up = await copy(`oci:${dir}:app`, `docker://${b.host}/back:1`, { ...both, allPlatforms: true });
    expect(up).toMatchObject({ digest: index.digest, source: `oci:${dir}:app`, blobs: { copied: 5 } });
    expect(manifestAt(b, 'back', '1')?.equals(index.bytes)).toBe(true);
  });

  it('says which manifest a layout lacks when its index cannot be copied whole', async () => {
    const a = await server();
    const { arm } = await pushIndex(a, 'src', '1');
    const dir = join(work, 'partial');
    await copy(`docker://${a.host}/src:1`, `oci:${dir}:app`, { ...both, allPlatforms: true });
    await rm((await Layout.open(dir)).blobPath(arm.manifest.digest));
    expect(await failure(copy(`oci:${dir}:app`, `oci:${join(work, 'partial2')}:app`, { allPlatforms: true })))
      .toBe(`OCI_ERR_NOT_FOUND: oci:${dir}:app lacks manifest ${arm.manifest.digest} (linux/arm64/v8) that its index lists; copy one platform instead`);
    const one = await copy(`oci:${dir}:app`, `oci:${join(work, 'partial2')}:app`, { platform: 'linux/amd64' });
    expect(one.platform).toBe('linux/amd64');
  });

  it('reads a layout holding one image without a ref name, and writes one unnamed without', async () => {
    const a = await server();
    const img = image('amd64', [randomBytes(100)]);
    await pushImage(a, 'src', img, 'v1');
    const dir = join(work, 'unnamed');
    await copy(`docker://${a.host}/src:v1`, `oci:${dir}`, both);
    const index = await (await Layout.open(dir)).readIndex();
    expect(index.manifests).toEqual([{ mediaType: MANIFEST, digest: img.manifest.digest, size: img.manifest.size }]);
    const again = await copy(`oci:${dir}`, `oci:${join(work, 'unnamed2')}:x`, both);
    expect(again.digest).toBe(img.manifest.digest);
    expect(await failure(copy(`oci:${dir}:nope`, `oci:${join(work, 'x')}:x`))).toMatch(/^OCI_ERR_NOT_FOUND: no image named nope/);
    await copy(`oci:${dir}`, `oci:${dir}:named`, both);
    expect(await failure(copy(`oci:${dir}`, `oci:${join(work, 'x')}:x`))).toMatch(/^OCI_ERR_BAD_REFERENCE: .* holds 2 images/);
    expect(await failure(openSink(`oci:${dir}:@0`))).toMatch(/^OCI_ERR_BAD_REFERENCE/);
    const source = await openSource(`oci:${dir}:@1`);
    expect((await source.resolve()).descriptor).toEqual({ mediaType: MANIFEST, digest: img.manifest.digest, size: img.manifest.size });
  });

  it('opens archive transports through their modules', async () => {
    expect(await failure(openSource(`oci-archive:${join(work, 'none.tar')}`))).toMatch(/^OCI_ERR_NOT_FOUND: .*none\.tar/);
    expect(await failure(openSource(`docker-archive:${join(work, 'none.tar')}:@0`))).toMatch(/^OCI_ERR_NOT_FOUND: .*none\.tar/);
    expect(await failure(openSink(`oci-archive:${join(work, 'a.tar')}:@0`))).toMatch(/^OCI_ERR_BAD_REFERENCE/);
  });
});

describe('copy with signatures', () => {
  it("carries cosign's .sig tag and the referrers of the copied digest along", async () => {
    const [a, b] = [await server(), await server()];
    const img = image('amd64', [randomBytes(100)]);
    await pushImage(a, 'src', img, 'v1');
    const subject = { mediaType: MANIFEST, digest: img.manifest.digest, size: img.manifest.size };
    const sig = image('amd64', [Buffer.from('{"critical":{}}')]);
    await pushImage(a, 'src', sig, `sha256-${img.manifest.digest.slice(7)}.sig`);
    const referrer = image('amd64', [Buffer.from('sbom')], { artifactType: 'application/vnd.example.sbom', subject });
    await pushImage(a, 'src', referrer);
    const result = await copy(`docker://${a.host}/src:v1`, `docker://${b.host}/dst:v1`, { ...both, signatures: true });
    expect(result.attachments).toBe(2);
    expect(manifestAt(b, 'dst', `sha256-${img.manifest.digest.slice(7)}.sig`)?.equals(sig.manifest.bytes)).toBe(true);
    expect(b.store.repos.get('dst')?.manifests.get(referrer.manifest.digest)?.bytes.equals(referrer.manifest.bytes)).toBe(true);
    const listed = await repoOn(b, 'dst').referrers(img.manifest.digest);
    expect(listed.manifests.map((d) => d.digest)).toEqual([referrer.manifest.digest]);
  });
});
