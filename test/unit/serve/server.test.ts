// The read side against a real layout on an in-process server (port 0), through fetch and, where
// fetch would normalize the path, raw node:http requests.
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeImage, writeIndex, type Descriptor } from '../../../fixtures/build-image.js';
import { layered } from '../../../fixtures/images.js';
import { Layout } from '../../../src/image/layout.js';
import { EMPTY_MEDIA_TYPE, INDEX_MEDIA_TYPE, MANIFEST_MEDIA_TYPE } from '../../../src/image/media-types.js';
import { serveLayout, type LayoutServer, type ServeEvent } from '../../../src/serve/server.js';

const sha256 = (b: Uint8Array | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const SBOM = 'application/vnd.example.sbom.v1';
const SIG = 'application/vnd.example.signature.v1';

let dir: string;
let server: LayoutServer;
let layout: Layout;
const events: ServeEvent[] = [];
let busybox: Descriptor;
let alpine: Descriptor;
let bare: Descriptor;
let multi: Descriptor;
let multiChildren: Descriptor[];
let layer: Descriptor;
let layerBytes: Buffer;
let sbom: Descriptor;
let sig: Descriptor;
let stray: string;
let big: Descriptor;

const blobFile = (digest: string) => join(dir, 'blobs', 'sha256', digest.slice(7));
const get = (path: string, init?: RequestInit) => fetch(`${server.url}${path}`, init);
const errorCode = async (res: Response) => ((await res.json()) as { errors: { code: string }[] }).errors[0]?.code;

/** A request with the path sent exactly as written (fetch would resolve dot segments first). */
function raw(path: string, method = 'GET'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: server.port, path, method }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => { body += c.toString(); });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Stores a JSON document as a blob and returns its descriptor. */
async function putJson(doc: unknown, mediaType: string): Promise<Descriptor> {
  const bytes = Buffer.from(JSON.stringify(doc));
  const desc = { mediaType, digest: sha256(bytes), size: bytes.length };
  await layout.putBlob(bytes, desc);
  return desc;
}

async function artifact(subject: Descriptor, type: string, asField: boolean): Promise<Descriptor> {
  const empty = await putJson({}, asField ? EMPTY_MEDIA_TYPE : type);
  const payload = Buffer.from(`payload of ${type}`);
  await layout.putBlob(payload, { digest: sha256(payload), size: payload.length });
  return putJson({
    schemaVersion: 2, mediaType: MANIFEST_MEDIA_TYPE, ...(asField ? { artifactType: type } : {}),
    config: { ...empty, mediaType: asField ? EMPTY_MEDIA_TYPE : type },
    layers: [{ mediaType: 'application/octet-stream', digest: sha256(payload), size: payload.length }],
    subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
    annotations: { 'org.example.kind': type },
  }, MANIFEST_MEDIA_TYPE);
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'oci-tool-serve-'));
  busybox = await writeImage(dir, layered(2), '127.0.0.1:5000/library/busybox:latest');
  alpine = await writeImage(dir, layered(1), 'docker.io/library/alpine:3');
  bare = await writeImage(dir, layered(3), 'v1');
  multi = await writeIndex(dir, [
    { ...layered(1), platform: { os: 'linux', architecture: 'amd64' } },
    { ...layered(2), platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
  ], 'team/multi:1.0');
  await writeImage(dir, layered(4), 'team/multi:0.9');
  const bigImage = await writeImage(dir, { layers: [{ entries: [{ path: 'big', content: { size: 3_000_000, seed: 7 } }], compression: 'none' }] }, 'big:1');
  big = (JSON.parse(await readFile(blobFile(bigImage.digest), 'utf8')) as { layers: Descriptor[] }).layers[0] as Descriptor;
  multiChildren = (JSON.parse(await readFile(blobFile(multi.digest), 'utf8')) as { manifests: Descriptor[] }).manifests;
  const manifest = JSON.parse(await readFile(blobFile(busybox.digest), 'utf8')) as { layers: Descriptor[] };
  layer = manifest.layers[1] as Descriptor;
  layerBytes = await readFile(blobFile(layer.digest));
  layout = await Layout.open(dir, { create: false });
  // Layout.putBlob's temporaries go to .oci-tool/, which the fixture writer does not create.
  await mkdir(join(dir, '.oci-tool'), { recursive: true });
  sbom = await artifact(busybox, SBOM, true);
  sig = await artifact(busybox, SIG, false);
  // Referrers are listed in index.json without a name, as a push by digest leaves them.
  await layout.updateIndex((index) => ({ ...index, manifests: [...index.manifests, sbom, sig] }));
  const strayBytes = Buffer.from('not reachable from index.json');
  stray = sha256(strayBytes);
  await writeFile(blobFile(stray), strayBytes);
  server = await serveLayout({ layout: dir, port: 0, onEvent: (e) => events.push(e) });
});

afterAll(async () => {
  await server?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('serve (read-only)', () => {
  it('answers the API check with the registry/2.0 header', async () => {
    const res = await get('/v2/');
    expect(res.status).toBe(200);
    expect(res.headers.get('docker-distribution-api-version')).toBe('registry/2.0');
    expect(server.url).toBe(`http://127.0.0.1:${server.port}`);
  });

  it('serves a manifest by tag with its media type, digest and length; HEAD has the same headers', async () => {
    const stored = await readFile(blobFile(busybox.digest));
    for (const method of ['GET', 'HEAD']) {
      const res = await get('/v2/library/busybox/manifests/latest', { method });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe(MANIFEST_MEDIA_TYPE);
      expect(res.headers.get('docker-content-digest')).toBe(busybox.digest);
      expect(res.headers.get('content-length')).toBe(String(busybox.size));
      const body = Buffer.from(await res.arrayBuffer());
      expect(body.equals(method === 'GET' ? stored : Buffer.alloc(0))).toBe(true);
    }
  });

  it('finds images by the naming rules: host ignored, Docker Hub short names, bare tags, the last name wins', async () => {
    const digestOf = async (path: string) => (await get(path, { method: 'HEAD' })).headers.get('docker-content-digest');
    expect(await digestOf('/v2/library/alpine/manifests/3')).toBe(alpine.digest);
    expect(await digestOf('/v2/alpine/manifests/3')).toBe(alpine.digest);
    expect(await digestOf('/v2/anything/at/all/manifests/v1')).toBe(bare.digest);
    expect(await digestOf('/v2/team/multi/manifests/1.0')).toBe(multi.digest);
    expect(await digestOf('/v2/team/multi/manifests/0.9')).not.toBe(multi.digest);
  });

  it('serves manifests by digest when reachable, index children included, and nothing else', async () => {
    const child = multiChildren[1] as Descriptor;
    const res = await get(`/v2/team/multi/manifests/${child.digest}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('docker-content-digest')).toBe(child.digest);
    const index = await get(`/v2/team/multi/manifests/${multi.digest}`);
    expect(index.headers.get('content-type')).toBe(INDEX_MEDIA_TYPE);
    // A layer is reachable, but it is no manifest.
    const notManifest = await get(`/v2/library/busybox/manifests/${layer.digest}`);
    expect(notManifest.status).toBe(404);
    expect(await errorCode(notManifest)).toBe('MANIFEST_UNKNOWN');
    const unknown = await get(`/v2/library/busybox/manifests/${sha256('nothing')}`);
    expect([unknown.status, await errorCode(unknown)]).toEqual([404, 'MANIFEST_UNKNOWN']);
  });

  it('answers 404 with NAME_UNKNOWN or MANIFEST_UNKNOWN, 400 for malformed references', async () => {
    const layoutWithoutBare = async (path: string) => {
      const res = await get(path);
      return [res.status, await errorCode(res)];
    };
    expect(await layoutWithoutBare('/v2/library/busybox/manifests/nope')).toEqual([404, 'MANIFEST_UNKNOWN']);
    expect(await layoutWithoutBare('/v2/library/busybox/manifests/sha256:abc')).toEqual([400, 'DIGEST_INVALID']);
    expect(await layoutWithoutBare('/v2/library/busybox/manifests/-bad')).toEqual([400, 'MANIFEST_INVALID']);
    expect(await layoutWithoutBare('/v2/Upper/manifests/latest')).toEqual([400, 'NAME_INVALID']);
    expect(await layoutWithoutBare('/v2/library/busybox/blobs/md5:abc')).toEqual([400, 'DIGEST_INVALID']);
    expect(await layoutWithoutBare('/v2/library/busybox/blobs/' + sha256('nothing'))).toEqual([404, 'BLOB_UNKNOWN']);
    expect(await layoutWithoutBare('/v3/')).toEqual([404, 'UNSUPPORTED']);
  });

  it('serves reachable blobs whole (HEAD too) and refuses blobs nothing reaches', async () => {
    const head = await get(`/v2/library/busybox/blobs/${layer.digest}`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe(String(layer.size));
    expect(head.headers.get('docker-content-digest')).toBe(layer.digest);
    expect(head.headers.get('accept-ranges')).toBe('bytes');
    const res = await get(`/v2/library/busybox/blobs/${layer.digest}`);
    const body = Buffer.from(await res.arrayBuffer());
    expect(sha256(body)).toBe(layer.digest);
    // Manifests are blobs too.
    expect((await get(`/v2/x/blobs/${busybox.digest}`)).status).toBe(200);
    const strayRes = await get(`/v2/library/busybox/blobs/${stray}`);
    expect([strayRes.status, await errorCode(strayRes)]).toEqual([404, 'BLOB_UNKNOWN']);
  });

  it('serves byte ranges with 206 and Content-Range, and 416 for ranges it cannot satisfy', async () => {
    const path = `/v2/library/busybox/blobs/${layer.digest}`;
    const size = layer.size;
    const ranged = async (range: string) => {
      const res = await get(path, { headers: { range } });
      return { status: res.status, contentRange: res.headers.get('content-range'), body: Buffer.from(await res.arrayBuffer()) };
    };
    const first = await ranged('bytes=0-9');
    expect(first).toEqual({ status: 206, contentRange: `bytes 0-9/${size}`, body: layerBytes.subarray(0, 10) });
    const rest = await ranged('bytes=10-');
    expect(rest).toEqual({ status: 206, contentRange: `bytes 10-${size - 1}/${size}`, body: layerBytes.subarray(10) });
    const suffix = await ranged('bytes=-7');
    expect(suffix.body).toEqual(layerBytes.subarray(size - 7));
    for (const bad of [`bytes=${size}-`, 'bytes=9-3', 'bytes=abc']) {
      const res = await ranged(bad);
      expect([res.status, res.contentRange]).toEqual([416, `bytes */${size}`]);
    }
    expect((await ranged('bytes=0-1,5-6')).status).toBe(200);
  });

  it('refuses path traversal in any spelling', async () => {
    const marker = await readFile(join(dir, 'oci-layout'), 'utf8');
    for (const path of [
      '/v2/x/blobs/sha256:../../oci-layout',
      '/v2/x/blobs/sha256:..%2F..%2Foci-layout',
      '/v2/x/blobs/sha256%3A..%2F..%2Foci-layout',
      '/v2/x/manifests/..%2F..%2Findex.json',
      '/v2/x/manifests/../../../index.json',
      '/v2/../oci-layout',
      '/v2/../../etc/passwd',
      `/v2/x/blobs/sha256:${'../'.repeat(21)}oci-layout`,
      '/v2/x/blobs/uploads/..%2F..%2Foci-layout',
      '/oci-layout',
    ]) {
      const res = await raw(path);
      expect(res.status, path).toBeGreaterThanOrEqual(400);
      expect(res.status, path).toBeLessThan(500);
      expect(res.body).not.toContain(marker);
    }
  });

  it('lists tags in order with n/last pagination and Link headers', async () => {
    const all = await get('/v2/team/multi/tags/list');
    // The bare tag v1 is in every repository.
    expect(await all.json()).toEqual({ name: 'team/multi', tags: ['0.9', '1.0', 'v1'] });
    const seen: string[] = [];
    let next: string | null = '/v2/team/multi/tags/list?n=2';
    let pages = 0;
    while (next) {
      const res = await get(next);
      expect(res.status).toBe(200);
      seen.push(...((await res.json()) as { tags: string[] }).tags);
      next = /^<([^>]+)>; rel="next"$/.exec(res.headers.get('link') ?? '')?.[1] ?? null;
      pages++;
    }
    expect([seen, pages]).toEqual([['0.9', '1.0', 'v1'], 2]);
    expect(await (await get('/v2/team/multi/tags/list?last=0.9')).json()).toEqual({ name: 'team/multi', tags: ['1.0', 'v1'] });
    const zero = await get('/v2/team/multi/tags/list?n=0');
    expect([await zero.json(), zero.headers.get('link')]).toEqual([{ name: 'team/multi', tags: [] }, null]);
    expect((await get('/v2/team/multi/tags/list?n=-1')).status).toBe(400);
  });

  it('lists repositories in _catalog', async () => {
    const res = await get('/v2/_catalog');
    expect(await res.json()).toEqual({ repositories: ['big', 'library/alpine', 'library/busybox', 'team/multi'] });
    const page = await get('/v2/_catalog?n=1&last=library/alpine');
    expect(await page.json()).toEqual({ repositories: ['library/busybox'] });
    expect(page.headers.get('link')).toBe('</v2/_catalog?n=1&last=library%2Fbusybox>; rel="next"');
  });

  it('lists referrers with artifactType and annotations, and filters by artifactType', async () => {
    const res = await get(`/v2/library/busybox/referrers/${busybox.digest}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe(INDEX_MEDIA_TYPE);
    expect(res.headers.get('oci-filters-applied')).toBeNull();
    const index = (await res.json()) as { schemaVersion: number; manifests: Descriptor[] };
    expect(index.schemaVersion).toBe(2);
    expect(index.manifests.map((d) => [d.digest, (d as { artifactType?: string }).artifactType, d.annotations?.['org.example.kind']]).sort()).toEqual([
      [sbom.digest, SBOM, SBOM], [sig.digest, SIG, SIG],
    ].sort());
    expect(index.manifests.every((d) => d.mediaType === MANIFEST_MEDIA_TYPE && d.size > 0)).toBe(true);

    const filtered = await get(`/v2/library/busybox/referrers/${busybox.digest}?artifactType=${encodeURIComponent(SIG)}`);
    expect(filtered.headers.get('oci-filters-applied')).toBe('artifactType');
    expect(((await filtered.json()) as { manifests: Descriptor[] }).manifests.map((d) => d.digest)).toEqual([sig.digest]);

    const none = await get(`/v2/library/alpine/referrers/${alpine.digest}`);
    expect([none.status, ((await none.json()) as { manifests: unknown[] }).manifests]).toEqual([200, []]);
    expect((await get('/v2/library/alpine/referrers/sha256:nope')).status).toBe(400);
  });

  it('answers writes with 405 UNSUPPORTED while read-only', async () => {
    const attempts: [string, string][] = [
      ['POST', '/v2/newrepo/blobs/uploads/'],
      ['POST', `/v2/newrepo/blobs/uploads/?digest=${sha256('x')}`],
      ['PATCH', '/v2/newrepo/blobs/uploads/00000000-0000-0000-0000-000000000000'],
      ['PUT', '/v2/newrepo/manifests/v1'],
      ['DELETE', `/v2/library/busybox/manifests/${busybox.digest}`],
      ['DELETE', `/v2/library/busybox/blobs/${layer.digest}`],
    ];
    for (const [method, path] of attempts) {
      const res = await get(path, { method, body: method === 'DELETE' ? undefined : 'x' });
      expect([method, path, res.status, await errorCode(res)]).toEqual([method, path, 405, 'UNSUPPORTED']);
    }
    expect(JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')).manifests).toHaveLength(8);
  });

  it('follows index.json as it changes', async () => {
    expect((await get('/v2/later/manifests/v9')).status).toBe(404);
    await layout.setRef('later:v9', alpine);
    const res = await get('/v2/later/manifests/v9', { method: 'HEAD' });
    expect([res.status, res.headers.get('docker-content-digest')]).toEqual([200, alpine.digest]);
  });

  it('reports requests to its listener', async () => {
    events.length = 0;
    await (await get('/v2/library/busybox/manifests/latest')).arrayBuffer();
    await new Promise((r) => setTimeout(r, 20));
    expect(events).toContainEqual(expect.objectContaining({ type: 'request', method: 'GET', path: '/v2/library/busybox/manifests/latest', status: 200, bytes: busybox.size }));
  });

  it('never delivers a corrupt blob complete, and says why', async () => {
    const corrupt = Buffer.from(layerBytes);
    corrupt.writeUInt8(corrupt.readUInt8(corrupt.length - 1) ^ 0xff, corrupt.length - 1);
    await writeFile(blobFile(layer.digest), corrupt);
    try {
      events.length = 0;
      // A small blob is one chunk: the connection is cut before even the headers leave.
      await expect(get(`/v2/library/busybox/blobs/${layer.digest}`).then((res) => res.arrayBuffer())).rejects.toThrow();
      await new Promise((r) => setTimeout(r, 20));
      expect(events.some((e) => e.type === 'problem' && /digest mismatch/.test(e.message))).toBe(true);
    } finally {
      await writeFile(blobFile(layer.digest), layerBytes);
    }
    // A big one starts with 200 and its headers, then stops one chunk short.
    const bigBytes = await readFile(blobFile(big.digest));
    const flipped = Buffer.from(bigBytes);
    flipped.writeUInt8(flipped.readUInt8(0) ^ 0xff, 0);
    await writeFile(blobFile(big.digest), flipped);
    try {
      const res = await get(`/v2/big/blobs/${big.digest}`);
      expect([res.status, res.headers.get('content-length')]).toEqual([200, String(big.size)]);
      await expect(res.arrayBuffer()).rejects.toThrow();
      // Ranges cannot be checked against the digest, so they are served as stored.
      const part = await get(`/v2/big/blobs/${big.digest}`, { headers: { range: 'bytes=0-99' } });
      expect(Buffer.from(await part.arrayBuffer())).toEqual(flipped.subarray(0, 100));
    } finally {
      await writeFile(blobFile(big.digest), bigBytes);
    }
    const whole = Buffer.from(await (await get(`/v2/big/blobs/${big.digest}`)).arrayBuffer());
    expect(sha256(whole)).toBe(big.digest);
  });
});

describe('serveLayout', () => {
  it('refuses a directory that is no layout unless pushing may create one', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'oci-tool-serve-empty-'));
    try {
      await expect(serveLayout({ layout: empty, port: 0 })).rejects.toThrow(/no OCI image layout/);
      const created = await serveLayout({ layout: empty, port: 0, push: true });
      expect((await fetch(`${created.url}/v2/_catalog`).then((r) => r.json()))).toEqual({ repositories: [] });
      await created.close();
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
  });

  it('says which address is taken', async () => {
    await expect(serveLayout({ layout: dir, host: '127.0.0.1', port: server.port })).rejects.toThrow(`cannot listen on 127.0.0.1:${server.port}: address already in use`);
  });
});
