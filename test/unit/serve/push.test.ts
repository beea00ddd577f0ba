// The push side (--push) on an in-process server: every upload flavour, manifest PUTs by tag and by
// digest, and what they leave in index.json.
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Layout, REF_NAME_ANNOTATION } from '../../../src/image/layout.js';
import { CONFIG_MEDIA_TYPE, EMPTY_MEDIA_TYPE, INDEX_MEDIA_TYPE, LAYER_MEDIA_TYPE, MANIFEST_MEDIA_TYPE } from '../../../src/image/media-types.js';
import type { Descriptor, ImageIndex } from '../../../src/image/types.js';
import { validateLayout } from '../../../src/image/validate.js';
import { serveLayout, type LayoutServer } from '../../../src/serve/server.js';

const sha256 = (b: Uint8Array | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

let dir: string;
let server: LayoutServer;

beforeAll(async () => {
  dir = join(await mkdtemp(join(tmpdir(), 'oci-tool-serve-push-')), 'layout');
  server = await serveLayout({ layout: dir, port: 0, push: true });
});

afterAll(async () => {
  await server?.close();
  if (dir) await rm(join(dir, '..'), { recursive: true, force: true });
});

const call = (path: string, init?: RequestInit) => fetch(new URL(path, server.url), init);
const errorCode = async (res: Response) => ((await res.json()) as { errors: { code: string }[] }).errors[0]?.code;
const blobFile = (digest: string) => join(dir, 'blobs', 'sha256', digest.slice(7));
const present = (digest: string) => stat(blobFile(digest)).then(() => true, () => false);
const readIndex = async () => JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as ImageIndex;
const uploadFiles = () => readdir(join(dir, '.oci-tool', 'uploads')).catch(() => [] as string[]);

async function startUpload(repo: string): Promise<string> {
  const res = await call(`/v2/${repo}/blobs/uploads/`, { method: 'POST' });
  expect(res.status).toBe(202);
  const location = res.headers.get('location');
  expect(location).toMatch(new RegExp(`^/v2/${repo}/blobs/uploads/[0-9a-f-]{36}$`));
  return location as string;
}

/** Uploads a blob monolithically (single POST) and returns its descriptor. */
async function pushBlob(repo: string, bytes: Buffer, mediaType: string): Promise<Descriptor> {
  const digest = sha256(bytes);
  const res = await call(`/v2/${repo}/blobs/uploads/?digest=${digest}`, { method: 'POST', body: bytes, headers: { 'content-type': 'application/octet-stream' } });
  expect(res.status).toBe(201);
  return { mediaType, digest, size: bytes.length };
}

async function putManifest(repo: string, reference: string, doc: object, mediaType = MANIFEST_MEDIA_TYPE): Promise<Response> {
  return call(`/v2/${repo}/manifests/${reference}`, { method: 'PUT', body: JSON.stringify(doc), headers: { 'content-type': mediaType } });
}

async function image(repo: string, seed: string): Promise<{ doc: object; bytes: Buffer; digest: string }> {
  const config = await pushBlob(repo, Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha256(seed)] } })), CONFIG_MEDIA_TYPE);
  const layer = await pushBlob(repo, Buffer.from(seed), LAYER_MEDIA_TYPE);
  const doc = { schemaVersion: 2, mediaType: MANIFEST_MEDIA_TYPE, config, layers: [layer] };
  const bytes = Buffer.from(JSON.stringify(doc));
  return { doc, bytes, digest: sha256(bytes) };
}

describe('serve --push: blobs', () => {
  it('takes a single-POST upload, verifies it and serves it at once', async () => {
    const bytes = Buffer.from('monolithic blob');
    const digest = sha256(bytes);
    const res = await call(`/v2/newrepo/blobs/uploads/?digest=${digest}`, { method: 'POST', body: bytes });
    expect(res.status).toBe(201);
    expect(res.headers.get('location')).toBe(`/v2/newrepo/blobs/${digest}`);
    expect(res.headers.get('docker-content-digest')).toBe(digest);
    expect(await readFile(blobFile(digest))).toEqual(bytes);
    const head = await call(`/v2/newrepo/blobs/${digest}`, { method: 'HEAD' });
    expect([head.status, head.headers.get('content-length')]).toEqual([200, String(bytes.length)]);
  });

  it('takes chunks in order (PATCH with Content-Range), refuses one out of order with 416, closes with PUT ?digest=', async () => {
    const bytes = Buffer.from('0123456789abcdefghij');
    const digest = sha256(bytes);
    const location = await startUpload('chunked');
    const patch = (from: number, to: number) => call(location, {
      method: 'PATCH', body: bytes.subarray(from, to + 1), headers: { 'content-range': `${from}-${to}`, 'content-type': 'application/octet-stream' },
    });
    const first = await patch(0, 9);
    expect([first.status, first.headers.get('range'), first.headers.get('location')]).toEqual([202, '0-9', location]);
    const skipped = await patch(15, 19);
    expect([skipped.status, skipped.headers.get('range')]).toEqual([416, '0-9']);
    const status = await call(location);
    expect([status.status, status.headers.get('range')]).toEqual([204, '0-9']);
    expect((await patch(10, 19)).headers.get('range')).toBe('0-19');
    expect(await present(digest)).toBe(false);
    const done = await call(`${location}?digest=${digest}`, { method: 'PUT' });
    expect([done.status, done.headers.get('docker-content-digest')]).toEqual([201, digest]);
    expect(await readFile(blobFile(digest))).toEqual(bytes);
    expect(await uploadFiles()).toEqual([]);
    // The session is over.
    expect((await call(location)).status).toBe(404);
  });

  it('takes a streamed PATCH without Content-Range, and a final chunk in the closing PUT', async () => {
    const bytes = Buffer.from('streamed part + final part');
    const digest = sha256(bytes);
    const location = await startUpload('streamed');
    expect((await call(location, { method: 'PATCH', body: bytes.subarray(0, 15) })).status).toBe(202);
    const done = await call(`${location}?digest=${digest}`, { method: 'PUT', body: bytes.subarray(15), headers: { 'content-range': `15-${bytes.length - 1}` } });
    expect(done.status).toBe(201);
    expect(await readFile(blobFile(digest))).toEqual(bytes);
  });

  it('takes a whole blob in the closing PUT (POST then PUT)', async () => {
    const bytes = Buffer.from('post then put');
    const digest = sha256(bytes);
    const location = await startUpload('postput');
    const done = await call(`${location}?digest=${digest}`, { method: 'PUT', body: bytes });
    expect(done.status).toBe(201);
    expect(await readFile(blobFile(digest))).toEqual(bytes);
  });

  it('refuses content that does not match its digest, keeping nothing', async () => {
    const bytes = Buffer.from('the real bytes');
    const claimed = sha256('other bytes');
    const mono = await call(`/v2/bad/blobs/uploads/?digest=${claimed}`, { method: 'POST', body: bytes });
    expect([mono.status, await errorCode(mono)]).toEqual([400, 'DIGEST_INVALID']);
    const location = await startUpload('bad');
    await call(location, { method: 'PATCH', body: bytes });
    const done = await call(`${location}?digest=${claimed}`, { method: 'PUT' });
    expect([done.status, await errorCode(done)]).toEqual([400, 'DIGEST_INVALID']);
    expect(await present(claimed)).toBe(false);
    expect(await present(sha256(bytes))).toBe(false);
    expect(await uploadFiles()).toEqual([]);
    const badDigest = await call(`${await startUpload('bad')}?digest=sha256:../../oci-layout`, { method: 'PUT', body: bytes });
    expect([badDigest.status, await errorCode(badDigest)]).toEqual([400, 'DIGEST_INVALID']);
  });

  it('answers a mount request with a fresh session (202), and cancels sessions with DELETE', async () => {
    const res = await call(`/v2/mounted/blobs/uploads/?mount=${sha256('x')}&from=newrepo`, { method: 'POST' });
    expect(res.status).toBe(202);
    const location = res.headers.get('location') as string;
    expect((await call(location, { method: 'DELETE' })).status).toBe(204);
    const gone = await call(location);
    expect([gone.status, await errorCode(gone)]).toEqual([404, 'BLOB_UPLOAD_UNKNOWN']);
    // Sessions belong to their repository, and ids are never used as paths unchecked.
    const other = await startUpload('one');
    expect((await call(other.replace('/one/', '/two/'))).status).toBe(404);
    expect((await call('/v2/one/blobs/uploads/..%2F..%2Findex.json')).status).toBe(404);
  });
});

describe('serve --push: manifests', () => {
  it('stores a manifest PUT by tag as "<repo>:<tag>" and serves it back', async () => {
    const img = await image('team/app', 'layer one');
    const res = await putManifest('team/app', 'v1', img.doc);
    expect(res.status).toBe(201);
    expect(res.headers.get('docker-content-digest')).toBe(img.digest);
    expect(res.headers.get('location')).toBe(`/v2/team/app/manifests/${img.digest}`);
    expect(res.headers.get('oci-subject')).toBeNull();
    const named = (await readIndex()).manifests.find((d) => d.annotations?.[REF_NAME_ANNOTATION] === 'team/app:v1');
    expect(named).toEqual({ mediaType: MANIFEST_MEDIA_TYPE, digest: img.digest, size: img.bytes.length, annotations: { [REF_NAME_ANNOTATION]: 'team/app:v1' } });
    const back = await call('/v2/team/app/manifests/v1');
    expect(Buffer.from(await back.arrayBuffer())).toEqual(img.bytes);
    expect(await (await call('/v2/team/app/tags/list')).json()).toEqual({ name: 'team/app', tags: ['v1'] });
    // A new push of the tag replaces the name.
    const img2 = await image('team/app', 'layer two');
    expect((await putManifest('team/app', 'v1', img2.doc)).status).toBe(201);
    expect((await readIndex()).manifests.filter((d) => d.annotations?.[REF_NAME_ANNOTATION] === 'team/app:v1').map((d) => d.digest)).toEqual([img2.digest]);
  });

  it('refuses manifests with missing blobs, bad JSON, a wrong digest or too many bytes', async () => {
    const img = await image('strict', 'strict layer');
    const missing = { ...img.doc, layers: [{ mediaType: LAYER_MEDIA_TYPE, digest: sha256('absent'), size: 6 }] };
    const noBlob = await putManifest('strict', 'v1', missing);
    expect([noBlob.status, await errorCode(noBlob)]).toEqual([400, 'MANIFEST_BLOB_UNKNOWN']);
    const notJson = await call('/v2/strict/manifests/v1', { method: 'PUT', body: '{', headers: { 'content-type': MANIFEST_MEDIA_TYPE } });
    expect([notJson.status, await errorCode(notJson)]).toEqual([400, 'MANIFEST_INVALID']);
    const wrongType = await putManifest('strict', 'v1', img.doc, INDEX_MEDIA_TYPE);
    expect([wrongType.status, await errorCode(wrongType)]).toEqual([400, 'MANIFEST_INVALID']);
    const wrongDigest = await putManifest('strict', sha256('something else'), img.doc);
    expect([wrongDigest.status, await errorCode(wrongDigest)]).toEqual([400, 'DIGEST_INVALID']);
    const huge = await call('/v2/strict/manifests/v1', { method: 'PUT', body: Buffer.alloc(4 * 1024 * 1024 + 1, 32), headers: { 'content-type': MANIFEST_MEDIA_TYPE } });
    expect([huge.status, await errorCode(huge)]).toEqual([413, 'SIZE_INVALID']);
    expect((await readIndex()).manifests.some((d) => d.annotations?.[REF_NAME_ANNOTATION] === 'strict:v1')).toBe(false);
  });

  it('answers OCI-Subject for a referrer pushed by digest, keeps it in index.json and lists it as a referrer', async () => {
    const img = await image('signed', 'signed layer');
    expect((await putManifest('signed', 'v1', img.doc)).status).toBe(201);
    const empty = await pushBlob('signed', Buffer.from('{}'), EMPTY_MEDIA_TYPE);
    const payload = await pushBlob('signed', Buffer.from('sbom'), 'application/spdx+json');
    const referrer = {
      schemaVersion: 2, mediaType: MANIFEST_MEDIA_TYPE, artifactType: 'application/vnd.example.sbom.v1',
      config: empty, layers: [payload], subject: { mediaType: MANIFEST_MEDIA_TYPE, digest: img.digest, size: img.bytes.length },
      annotations: { 'org.example': 'yes' },
    };
    const bytes = Buffer.from(JSON.stringify(referrer));
    const res = await putManifest('signed', sha256(bytes), referrer);
    expect([res.status, res.headers.get('oci-subject')]).toEqual([201, img.digest]);
    const unnamed = (await readIndex()).manifests.filter((d) => d.digest === sha256(bytes));
    expect(unnamed).toEqual([{ mediaType: MANIFEST_MEDIA_TYPE, digest: sha256(bytes), size: bytes.length }]);
    const list = (await (await call(`/v2/signed/referrers/${img.digest}`)).json()) as ImageIndex;
    expect(list.manifests).toEqual([{
      mediaType: MANIFEST_MEDIA_TYPE, digest: sha256(bytes), size: bytes.length,
      artifactType: 'application/vnd.example.sbom.v1', annotations: { 'org.example': 'yes' },
    }]);
  });

  it('keeps index children pushed by digest listed until the index names them, and the layout validates', async () => {
    const a = await image('multi', 'amd64 layer');
    const b = await image('multi', 'arm64 layer');
    for (const child of [a, b]) expect((await putManifest('multi', child.digest, child.doc)).status).toBe(201);
    const unnamed = (await readIndex()).manifests.filter((d) => [a.digest, b.digest].includes(d.digest));
    expect(unnamed.map((d) => d.annotations)).toEqual([undefined, undefined]);
    // Reachable, so HEAD by digest works before the index arrives.
    expect((await call(`/v2/multi/manifests/${a.digest}`, { method: 'HEAD' })).status).toBe(200);

    const missingChild = { schemaVersion: 2, mediaType: INDEX_MEDIA_TYPE, manifests: [{ mediaType: MANIFEST_MEDIA_TYPE, digest: sha256('none'), size: 4 }] };
    const refused = await putManifest('multi', 'broken', missingChild, INDEX_MEDIA_TYPE);
    expect([refused.status, await errorCode(refused)]).toEqual([400, 'MANIFEST_BLOB_UNKNOWN']);

    const index = {
      schemaVersion: 2, mediaType: INDEX_MEDIA_TYPE, manifests: [
        { mediaType: MANIFEST_MEDIA_TYPE, digest: a.digest, size: a.bytes.length, platform: { os: 'linux', architecture: 'amd64' } },
        { mediaType: MANIFEST_MEDIA_TYPE, digest: b.digest, size: b.bytes.length, platform: { os: 'linux', architecture: 'arm64' } },
      ],
    };
    const res = await putManifest('multi', 'latest', index, INDEX_MEDIA_TYPE);
    expect(res.status).toBe(201);
    const after = await readIndex();
    expect(after.manifests.filter((d) => [a.digest, b.digest].includes(d.digest))).toEqual([]);
    expect((await call(`/v2/multi/manifests/${b.digest}`, { method: 'HEAD' })).status).toBe(200);

    const report = await validateLayout(dir);
    expect(report.problems).toEqual([]);
    expect(report.ok).toBe(true);
  });

  it('refuses a tag that is not a tag', async () => {
    const img = await image('tags', 'tag layer');
    const res = await putManifest('tags', '-v1', img.doc);
    expect([res.status, await errorCode(res)]).toEqual([400, 'MANIFEST_INVALID']);
  });
});

describe('serve --push: closing', () => {
  it('drops unfinished uploads when the server closes', async () => {
    const before = await uploadFiles();
    const other = await serveLayout({ layout: await Layout.open(dir), port: 0, push: true });
    const res = await fetch(`${other.url}/v2/left/blobs/uploads/`, { method: 'POST' });
    await fetch(new URL(res.headers.get('location') as string, other.url), { method: 'PATCH', body: 'partial' });
    expect((await uploadFiles()).length).toBe(before.length + 1);
    await other.close();
    expect(await uploadFiles()).toEqual(before);
  });
});
