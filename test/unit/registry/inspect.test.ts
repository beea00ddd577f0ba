// inspectImage and listRepositoryTags against the in-memory distribution server: what is
// reported, which manifest --platform picks, and that every manifest and config is verified.
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { writeImage, writeIndex } from '../../../fixtures/build-image.js';
import { layered } from '../../../fixtures/images.js';
import { isOciToolError, type ErrorCode } from '../../../src/errors.js';
import { CONFIG_MEDIA_TYPE, INDEX_MEDIA_TYPE, LAYER_GZIP_MEDIA_TYPE, MANIFEST_MEDIA_TYPE } from '../../../src/image/media-types.js';
import { formatPlatform, hostPlatform } from '../../../src/image/platform.js';
import type { Platform } from '../../../src/image/types.js';
import { inspectImage, listRepositoryTags } from '../../../src/registry/inspect.js';
import { startDistributionServer, type DistributionServer } from '../../support/distribution-server.js';

const sha256 = (b: Uint8Array) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const host = hostPlatform();
const other: Platform = host.architecture === 's390x' ? { os: 'linux', architecture: 'riscv64' } : { os: 'linux', architecture: 's390x' };

let server: DistributionServer;
let work: string;
const opts = { tlsVerify: false, retry: { attempts: 1 } };

interface Stored { bytes: Buffer; digest: string; size: number; mediaType: string }

function repo(name: string) {
  let r = server.store.repos.get(name);
  if (!r) server.store.repos.set(name, (r = { blobs: new Set(), manifests: new Map(), tags: new Map() }));
  return r;
}

function blob(name: string, data: string | Buffer, mediaType: string): Stored {
  const bytes = Buffer.from(data);
  const digest = sha256(bytes);
  server.store.blobs.set(digest, bytes);
  repo(name).blobs.add(digest);
  return { bytes, digest, size: bytes.length, mediaType };
}

function manifest(name: string, doc: object, mediaType: string, tag?: string): Stored {
  const bytes = Buffer.from(JSON.stringify(doc, null, 3)); // as served, not as we would write it
  const digest = sha256(bytes);
  repo(name).manifests.set(digest, { bytes, mediaType });
  if (tag) repo(name).tags.set(tag, digest);
  return { bytes, digest, size: bytes.length, mediaType };
}

const desc = (s: Stored, extra: object = {}) => ({ mediaType: s.mediaType, digest: s.digest, size: s.size, ...extra });

function image(name: string, platform: Platform, tag?: string) {
  const config = blob(name, JSON.stringify({
    created: '2024-05-01T10:00:00Z', ...platform,
    config: { Env: ['PATH=/bin', 'A=1'], Entrypoint: ['/bin/app'], Cmd: ['--serve'], WorkingDir: '/srv', User: '1000:1000', Labels: { 'org.example.team': 'infra' } },
    rootfs: { type: 'layers', diff_ids: [sha256(Buffer.from('l1')), sha256(Buffer.from('l2'))] },
  }), CONFIG_MEDIA_TYPE);
  const layers = [blob(name, `layer one of ${formatPlatform(platform)}`, LAYER_GZIP_MEDIA_TYPE), blob(name, 'layer two', LAYER_GZIP_MEDIA_TYPE)];
  const m = manifest(name, { schemaVersion: 2, mediaType: MANIFEST_MEDIA_TYPE, config: desc(config), layers: layers.map((l) => desc(l)) }, MANIFEST_MEDIA_TYPE, tag);
  return { manifest: m, config, layers };
}

let single: ReturnType<typeof image>;
let forHost: ReturnType<typeof image>;
let forOther: ReturnType<typeof image>;
let index: Stored;

beforeAll(async () => {
  server = await startDistributionServer();
  work = await mkdtemp(join(tmpdir(), 'oci-tool-inspect-'));
  single = image('team/app', { os: 'linux', architecture: 'amd64' }, '1.0');
  forOther = image('team/multi', other);
  forHost = image('team/multi', host);
  index = manifest('team/multi', {
    schemaVersion: 2, mediaType: INDEX_MEDIA_TYPE,
    manifests: [desc(forOther.manifest, { platform: other }), desc(forHost.manifest, { platform: host })],
  }, INDEX_MEDIA_TYPE, 'latest');
  for (const t of ['a', 'b', 'c', 'd', 'e']) repo('team/tags').tags.set(t, single.manifest.digest);
});

afterEach(() => server.setHook(undefined));
afterAll(async () => {
  await server?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

async function failure(p: Promise<unknown>, code: ErrorCode): Promise<Error> {
  const e = await p.then(() => undefined, (err: unknown) => err);
  expect(isOciToolError(e), String(e)).toBe(true);
  expect((e as { code: string }).code).toBe(code);
  return e as Error;
}

describe('inspectImage from a registry', () => {
  it('describes an image: config fields, layers, sizes, the bytes as served', async () => {
    const r = await inspectImage(`${server.host}/team/app:1.0`, opts);
    expect(r).toMatchObject({ name: `${server.host}/team/app:1.0`, digest: single.manifest.digest, mediaType: MANIFEST_MEDIA_TYPE, size: single.manifest.size });
    expect(r.manifests).toBeUndefined();
    expect(r.image).toEqual({
      digest: single.manifest.digest, mediaType: MANIFEST_MEDIA_TYPE, size: single.manifest.size,
      config: desc(single.config), platform: 'linux/amd64', created: '2024-05-01T10:00:00Z', architecture: 'amd64', os: 'linux',
      layers: single.layers.map((l) => desc(l)),
      totalSize: single.manifest.size + single.config.size + single.layers[0]!.size + single.layers[1]!.size,
      labels: { 'org.example.team': 'infra' }, env: ['PATH=/bin', 'A=1'], entrypoint: ['/bin/app'], cmd: ['--serve'], workdir: '/srv', user: '1000:1000',
    });
    expect(r.bytes.manifest.equals(single.manifest.bytes)).toBe(true);
    expect(r.bytes.config?.equals(single.config.bytes)).toBe(true);
    // No layer was fetched.
    expect(server.requests.filter((q) => single.layers.some((l) => q.path.endsWith(l.digest)))).toEqual([]);
  });

  it('by digest, the same image', async () => {
    const r = await inspectImage(`${server.host}/team/app@${single.manifest.digest}`, opts);
    expect(r.digest).toBe(single.manifest.digest);
    expect(r.image?.digest).toBe(single.manifest.digest);
  });

  it("describes an index: its platforms, the host's pick, and that image", async () => {
    const r = await inspectImage(`${server.host}/team/multi`, opts);
    expect(r).toMatchObject({ digest: index.digest, mediaType: INDEX_MEDIA_TYPE, hostPlatform: formatPlatform(host), hostDigest: forHost.manifest.digest });
    expect(r.manifests).toEqual([
      { ...desc(forOther.manifest), platform: formatPlatform(other) },
      { ...desc(forHost.manifest), platform: formatPlatform(host) },
    ]);
    expect(r.image?.digest).toBe(forHost.manifest.digest);
    expect(r.bytes.manifest.equals(index.bytes)).toBe(true);
    expect(r.bytes.config?.equals(forHost.config.bytes)).toBe(true);
  });

  it('with a platform: the picked manifest, whose bytes become the raw ones', async () => {
    const r = await inspectImage(`${server.host}/team/multi:latest`, { ...opts, platform: formatPlatform(other) });
    expect(r.digest).toBe(index.digest);
    expect(r.image?.digest).toBe(forOther.manifest.digest);
    expect(r.image?.platform).toBe(formatPlatform(other));
    expect(r.bytes.manifest.equals(forOther.manifest.bytes)).toBe(true);
    expect(r.bytes.config?.equals(forOther.config.bytes)).toBe(true);
  });

  it('a platform the index lacks is not found, listing what it has', async () => {
    const e = await failure(inspectImage(`${server.host}/team/multi`, { ...opts, platform: 'windows/arm64' }), 'OCI_ERR_PLATFORM_NOT_FOUND');
    expect(e.message).toContain(formatPlatform(other));
  });

  it('refuses a config that does not match its digest', async () => {
    const bad = Buffer.from(single.config.bytes);
    bad[bad.length - 2] = (bad[bad.length - 2] ?? 0) ^ 1;
    server.setHook((q) => (q.method === 'GET' && q.path.endsWith(single.config.digest) ? { status: 200, body: bad } : undefined));
    await failure(inspectImage(`${server.host}/team/app:1.0`, opts), 'OCI_ERR_DIGEST_MISMATCH');
  });

  it('refuses a child manifest that does not match its digest', async () => {
    server.setHook((q) => (q.method === 'GET' && q.path.endsWith(`manifests/${forHost.manifest.digest}`)
      ? { status: 200, headers: { 'content-type': MANIFEST_MEDIA_TYPE }, body: Buffer.concat([forHost.manifest.bytes, Buffer.from(' ')]) } : undefined));
    await failure(inspectImage(`${server.host}/team/multi`, opts), 'OCI_ERR_SIZE_MISMATCH');
  });

  it('refuses a config larger than it may be before fetching it', async () => {
    manifest('team/huge', {
      schemaVersion: 2, mediaType: MANIFEST_MEDIA_TYPE, config: { mediaType: CONFIG_MEDIA_TYPE, digest: single.config.digest, size: 64 * 1024 * 1024 }, layers: [],
    }, MANIFEST_MEDIA_TYPE, 'v1');
    const e = await failure(inspectImage(`${server.host}/team/huge:v1`, opts), 'OCI_ERR_INVALID_CONTENT');
    expect(e.message).toContain('over the 16777216-byte limit');
    expect(server.requests.some((q) => q.path.endsWith(`blobs/${single.config.digest}`) && q.path.includes('team/huge'))).toBe(false);
  });

  it('an unknown tag is not found', async () => {
    await failure(inspectImage(`${server.host}/team/app:nope`, opts), 'OCI_ERR_NOT_FOUND');
  });
});

describe('inspectImage from a layout', () => {
  it('reads the named image and index without the network', async () => {
    const dir = join(work, 'layout');
    const img = await writeImage(dir, layered(2), 'docker.io/library/app:1.0');
    const idx = await writeIndex(dir, [{ ...layered(1), platform: host }, { ...layered(1), platform: other }], 'multi');
    const r = await inspectImage('app:1.0', { layout: dir });
    expect(r).toMatchObject({ name: 'docker.io/library/app:1.0', source: `docker.io/library/app:1.0 in ${dir}`, digest: img.digest });
    expect(r.image?.layers).toHaveLength(2);
    expect(r.image?.cmd).toEqual(['sh']);
    const m = await inspectImage('multi', { layout: dir, platform: formatPlatform(other) });
    expect(m.digest).toBe(idx.digest);
    expect(m.image?.platform).toBe(formatPlatform(other));
    const e = await failure(inspectImage('nothing', { layout: dir }), 'OCI_ERR_NOT_FOUND');
    expect(e.message).toBe(`no image "nothing" in ${dir}; it holds: docker.io/library/app:1.0, multi`);
  });
});

describe('listRepositoryTags', () => {
  it('follows the Link pages to every tag', async () => {
    const r = await listRepositoryTags(`${server.host}/team/tags`, { ...opts, pageSize: 2 });
    expect(r).toEqual({ repository: `${server.host}/team/tags`, tags: ['a', 'b', 'c', 'd', 'e'] });
    expect(server.requests.filter((q) => q.path.includes('/team/tags/tags/list'))).toHaveLength(3);
  });

  it('takes a repository, not a reference with a tag or digest', async () => {
    await failure(listRepositoryTags(`${server.host}/team/tags:a`, opts), 'OCI_ERR_USAGE');
    await failure(listRepositoryTags(`${server.host}/team/tags@${single.manifest.digest}`, opts), 'OCI_ERR_USAGE');
  });
});
