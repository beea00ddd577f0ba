// The push path (uploads, manifests, tags, referrers) against the in-memory distribution server:
// what the spec asks of a client on the wire, and what it must refuse.
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { isOciToolError } from '../../../src/errors.js';
import { digestOf } from '../../../src/image/digest.js';
import { Connections } from '../../../src/registry/connections.js';
import { staticCredentials } from '../../../src/registry/credentials.js';
import { referrersTag } from '../../../src/registry/referrers.js';
import { RemoteRepository, type RepositoryOptions } from '../../../src/registry/remote.js';
import { RegistryTransport } from '../../../src/registry/transport.js';
import { newStore, startDistributionServer, type DistributionOptions, type DistributionServer } from '../../support/distribution-server.js';

const MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const INDEX = 'application/vnd.oci.image.index.v1+json';
const EMPTY = 'application/vnd.oci.empty.v1+json';
const SBOM = 'application/vnd.example.sbom.v1';
const SIG = 'application/vnd.example.signature.v1';

const connections = new Connections();
const servers: DistributionServer[] = [];

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});
afterAll(() => connections.close());

async function server(opts: DistributionOptions = {}, store = newStore()): Promise<DistributionServer> {
  const s = await startDistributionServer(opts, store);
  servers.push(s);
  return s;
}

function repoOn(s: DistributionServer, name: string, opts: Partial<RepositoryOptions> = {}): RemoteRepository {
  return new RemoteRepository({ registry: s.host, repository: name }, { connections, push: true, retry: { baseDelayMs: 1, maxDelayMs: 5 }, ...opts });
}

const blob = (bytes: Buffer) => ({ digest: digestOf(bytes), size: bytes.length, bytes });

/** A stream of `bytes` in small pieces, so that chunks must be gathered across reads. */
const trickle = (bytes: Buffer, piece = 97) => Readable.from((function* () {
  for (let at = 0; at < bytes.length; at += piece) yield bytes.subarray(at, at + piece);
})());

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    return isOciToolError(e) ? `${e.code}: ${e.message}` : `not ours: ${String(e)}`;
  }
  return 'no error';
}

/** An image (empty config, one layer) pushed as name:tag; returns its manifest descriptor. */
async function pushImage(repo: RemoteRepository, tag: string) {
  const config = blob(Buffer.from('{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'));
  const layer = blob(randomBytes(300));
  for (const b of [config, layer]) await repo.uploadBlob(b, () => b.bytes);
  const bytes = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: MANIFEST,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config.digest, size: config.size },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: layer.digest, size: layer.size }],
  }));
  const pushed = await repo.putManifest(tag, bytes, MANIFEST);
  return { mediaType: MANIFEST, digest: pushed.digest, size: bytes.length };
}

/** An artifact manifest (empty config, one blob) whose subject is `subject`. */
async function pushArtifact(repo: RemoteRepository, subject: { mediaType: string; digest: string; size: number }, artifactType: string, note: string) {
  const empty = blob(Buffer.from('{}'));
  const payload = blob(Buffer.from(note));
  for (const b of [empty, payload]) await repo.uploadBlob(b, () => b.bytes);
  const bytes = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: MANIFEST, artifactType,
    config: { mediaType: EMPTY, digest: empty.digest, size: 2 },
    layers: [{ mediaType: 'text/plain', digest: payload.digest, size: payload.size }],
    subject, annotations: { 'org.example.note': note },
  }));
  return { bytes, ...(await repo.putManifest(digestOf(bytes), bytes, MANIFEST)) };
}

describe('blob uploads', () => {
  it('uploads monolithically by default: one streamed PUT, then finds the blob present', async () => {
    const s = await server();
    const repo = repoOn(s, 'app/one');
    const b = blob(randomBytes(5000));
    expect(await repo.uploadBlob(b, () => trickle(b.bytes))).toBe('uploaded');
    expect(s.store.blobs.get(b.digest)).toEqual(b.bytes);
    const puts = s.requests.filter((r) => r.method === 'PUT');
    expect(puts).toHaveLength(1);
    expect(puts[0]?.bodyLength).toBe(5000);
    expect(puts[0]?.headers['content-type']).toBe('application/octet-stream');
    expect(puts[0]?.headers['content-length']).toBe('5000');
    expect(s.requests.some((r) => r.method === 'PATCH')).toBe(false);

    expect(await repo.blobExists(b.digest)).toEqual({ size: 5000 });
    expect(await repo.uploadBlob(b, () => trickle(b.bytes))).toBe('exists');
    expect(s.requests.filter((r) => r.method === 'POST')).toHaveLength(1);
    expect(await repo.blobExists(digestOf(Buffer.from('absent')))).toBeUndefined();
  });

  it('uploads in chunks no shorter than OCI-Chunk-Min-Length, following the Location of every answer', async () => {
    const s = await server({ chunkMinLength: 1000 });
    const repo = repoOn(s, 'app/chunks');
    const b = blob(randomBytes(3500));
    expect(await repo.uploadBlob(b, () => trickle(b.bytes), { chunkSize: 100 })).toBe('uploaded');
    const patches = s.requests.filter((r) => r.method === 'PATCH');
    expect(patches.map((r) => r.bodyLength)).toEqual([1000, 1000, 1000, 500]);
    expect(patches.map((r) => r.headers['content-range'])).toEqual(['0-999', '1000-1999', '2000-2999', '3000-3499']);
    // The server changes the upload's state with each answer and refuses a stale one.
    expect(new Set(patches.map((r) => r.path)).size).toBe(4);
    const close = s.requests.filter((r) => r.method === 'PUT');
    expect(close).toHaveLength(1);
    expect(close[0]?.bodyLength).toBe(0);
    expect(close[0]?.path).toContain(`digest=${b.digest}`);
    expect(s.store.blobs.get(b.digest)).toEqual(b.bytes);
  });

  it('chunks bytes in hand at the requested size when the registry sets no minimum', async () => {
    const s = await server();
    const b = blob(randomBytes(250));
    expect(await repoOn(s, 'app/small').uploadBlob(b, () => b.bytes, { chunkSize: 100 })).toBe('uploaded');
    expect(s.requests.filter((r) => r.method === 'PATCH').map((r) => r.bodyLength)).toEqual([100, 100, 50]);
    expect(s.store.blobs.get(b.digest)).toEqual(b.bytes);
  });

  it('asks where the upload stands after a 416 and sends the chunk again', async () => {
    const s = await server();
    let patches = 0;
    s.setHook((r) => (r.method === 'PATCH' && ++patches === 2 ? { status: 416 } : undefined));
    const b = blob(randomBytes(300));
    expect(await repoOn(s, 'app/resync').uploadBlob(b, () => trickle(b.bytes), { chunkSize: 100 })).toBe('uploaded');
    const methods = s.requests.filter((r) => r.path.includes('/uploads/')).map((r) => r.method);
    expect(methods).toEqual(['POST', 'PATCH', 'PATCH', 'GET', 'PATCH', 'PATCH', 'PUT']);
    expect(s.store.blobs.get(b.digest)).toEqual(b.bytes);
  });

  it('opens the source again when a PUT is retried', async () => {
    const s = await server();
    let puts = 0;
    s.setHook((r) => (r.method === 'PUT' && ++puts === 1 ? { status: 503 } : undefined));
    const b = blob(randomBytes(2000));
    let opened = 0;
    expect(await repoOn(s, 'app/retry').uploadBlob(b, () => (opened++, trickle(b.bytes)))).toBe('uploaded');
    expect(opened).toBe(2);
    expect(s.store.blobs.get(b.digest)).toEqual(b.bytes);
  });

  it('finds the blob committed when the answer to the closing PUT was lost', async () => {
    const s = await server();
    let closes = 0;
    s.setHook((r) => (r.method === 'PUT' && ++closes === 1 ? 'drop' : undefined));
    const b = blob(randomBytes(700));
    expect(await repoOn(s, 'app/lost').uploadBlob(b, () => trickle(b.bytes), { chunkSize: 300 })).toBe('uploaded');
    const tail = s.requests.slice(-3).map((r) => r.method);
    expect(tail).toEqual(['PUT', 'PUT', 'HEAD']); // the retry finds no upload; the HEAD finds the blob
    expect(s.store.blobs.get(b.digest)).toEqual(b.bytes);
  });

  it('mounts from another repository (no upload at all), and uploads when the registry will not mount', async () => {
    const s = await server();
    const b = blob(randomBytes(400));
    await repoOn(s, 'team/base').uploadBlob(b, () => b.bytes);
    const before = s.requests.length;
    expect(await repoOn(s, 'team/app').uploadBlob(b, () => b.bytes, { mountFrom: 'team/base' })).toBe('mounted');
    const mount = s.requests.slice(before);
    expect(mount.map((r) => r.method)).toEqual(['HEAD', 'POST']);
    expect(mount[1]?.path).toBe(`/v2/team/app/blobs/uploads/?mount=${b.digest}&from=team/base`);

    const other = blob(randomBytes(10));
    expect(await repoOn(s, 'team/app').uploadBlob(other, () => other.bytes, { mountFrom: 'team/base' })).toBe('uploaded');
    expect(s.store.repos.get('team/app')?.blobs.has(other.digest)).toBe(true);
  });

  it("refuses a registry answer naming another digest, and cancels the upload", async () => {
    const s = await server();
    const wrong = digestOf(Buffer.from('something else'));
    s.setHook((r) => (r.method === 'PUT' ? { status: 201, headers: { 'docker-content-digest': wrong } } : undefined));
    const b = blob(randomBytes(100));
    const err = await codeOf(repoOn(s, 'app/lie').uploadBlob(b, () => b.bytes));
    expect(err).toMatch(/^OCI_ERR_DIGEST_MISMATCH: digest mismatch for blob sha256:[0-9a-f]{64} to 127\.0\.0\.1:\d+\/app\/lie: registry stored sha256:/);
    expect(err).not.toContain('\n');
    expect(s.requests.at(-1)?.method).toBe('DELETE');
    expect(s.store.uploads.size).toBe(0);
  });

  it('refuses a source whose bytes do not match the descriptor, before closing the upload', async () => {
    const s = await server();
    const b = blob(randomBytes(1000));
    const tampered = Buffer.from(b.bytes);
    tampered[500] = (tampered[500] ?? 0) ^ 1;
    expect(await codeOf(repoOn(s, 'app/bad').uploadBlob(b, () => trickle(tampered)))).toMatch(/^OCI_ERR_DIGEST_MISMATCH: .*blob sha256:/);
    expect(await codeOf(repoOn(s, 'app/bad').uploadBlob(b, () => trickle(tampered), { chunkSize: 300 }))).toMatch(/^OCI_ERR_DIGEST_MISMATCH/);
    expect(await codeOf(repoOn(s, 'app/bad').uploadBlob(b, () => trickle(b.bytes.subarray(0, 900))))).toMatch(/^OCI_ERR_SIZE_MISMATCH/);
    expect(s.store.blobs.has(b.digest)).toBe(false);
    // Chunked: the mismatch shows at the end of the stream, so the closing PUT is never sent.
    expect(s.requests.filter((r) => r.method === 'PUT' && r.bodyLength === 0)).toHaveLength(0);
  });

  it("reports a source that cannot be read as the source's failure, not the network's, and does not retry it", async () => {
    const s = await server();
    const b = blob(randomBytes(100));
    for (const chunkSize of [undefined, 50]) {
      let opened = 0;
      const err = await codeOf(repoOn(s, 'app/gone').uploadBlob(b, () => (opened++, createReadStream('/nonexistent/oci-tool-blob')), { chunkSize }));
      expect(err).toMatch(/^OCI_ERR_LAYOUT: blob sha256:[0-9a-f]{64} to 127\.0\.0\.1:\d+\/app\/gone: cannot read the blob to upload: ENOENT/);
      expect(opened).toBe(1);
    }
    expect(s.store.uploads.size).toBe(0); // both sessions cancelled
  });

  it('sends credentials to the registry but not to an upload Location on another origin', async () => {
    const store = newStore();
    const storage = await server({}, store);
    const s = await server({ auth: { username: 'alice', password: 's3cret' }, uploadOrigin: storage.url }, store);
    const repo = repoOn(s, 'app/split', { credentials: staticCredentials({ username: 'alice', password: 's3cret' }) });
    const b = blob(randomBytes(3000));
    expect(await repo.uploadBlob(b, () => trickle(b.bytes))).toBe('uploaded');
    const c = blob(randomBytes(300));
    expect(await repo.uploadBlob(c, () => trickle(c.bytes), { chunkSize: 100 })).toBe('uploaded');
    expect(store.repos.get('app/split')?.blobs.has(b.digest)).toBe(true);
    expect(store.blobs.get(c.digest)).toEqual(c.bytes);
    expect(storage.requests.map((r) => r.method)).toEqual(['PUT', 'PATCH', 'PATCH', 'PATCH', 'PUT']);
    expect(storage.requests.every((r) => r.headers.authorization === undefined)).toBe(true);
    const authed = s.requests.filter((r) => r.headers.authorization !== undefined);
    expect(authed.length).toBeGreaterThanOrEqual(4); // HEAD and POST, for each blob
  });
});

describe('manifests and referrers', () => {
  it('records a subject through the referrers API when the registry answers OCI-Subject', async () => {
    const s = await server();
    const repo = repoOn(s, 'app/api');
    const image = await pushImage(repo, 'v1');
    const sbom = await pushArtifact(repo, image, SBOM, 'sbom');
    expect(sbom.referrers).toBe('api');
    const sig = await pushArtifact(repo, image, SIG, 'sig');
    expect(sig.referrers).toBe('api');
    expect(await repo.listTags()).toEqual(['v1']); // no referrers tag written

    const all = await repo.referrers(image.digest);
    expect(all.via).toBe('api');
    expect(all.manifests.map((d) => d.artifactType).sort()).toEqual([SBOM, SIG]);
    const one = await repo.referrers(image.digest, { artifactType: SIG });
    expect(one).toEqual({ via: 'api', manifests: [{ mediaType: MANIFEST, digest: sig.digest, size: sig.bytes.length, artifactType: SIG, annotations: { 'org.example.note': 'sig' } }] });
    expect(s.requests.at(-1)?.path).toBe(`/v2/app/api/referrers/${image.digest}?artifactType=${encodeURIComponent(SIG)}`);
  });

  it('filters by artifactType itself when the registry did not, and follows referrer pages', async () => {
    const s = await server({ applyFilters: false, referrersPageSize: 1 });
    const repo = repoOn(s, 'app/nofilter');
    const image = await pushImage(repo, 'v1');
    await pushArtifact(repo, image, SBOM, 'a');
    await pushArtifact(repo, image, SIG, 'b');
    await pushArtifact(repo, image, SBOM, 'c');
    const sboms = await repo.referrers(image.digest, { artifactType: SBOM });
    expect(sboms.manifests.map((d) => d.annotations?.['org.example.note']).sort()).toEqual(['a', 'c']);
    expect(s.requests.filter((r) => r.path.includes('/referrers/'))).toHaveLength(3);
  });

  it('keeps the referrers tag when the registry has no referrers API, and reads it back', async () => {
    const s = await server({ referrersApi: false });
    const repo = repoOn(s, 'app/tagged');
    const image = await pushImage(repo, 'v1');
    const tag = referrersTag(image.digest);
    expect(tag).toBe(`sha256-${image.digest.slice(7)}`);

    const sbom = await pushArtifact(repo, image, SBOM, 'sbom');
    expect(sbom.referrers).toBe('tag');
    const sig = await pushArtifact(repo, image, SIG, 'sig');
    expect(sig.referrers).toBe('tag');
    const index = JSON.parse((await repo.getManifest(tag)).bytes.toString('utf8')) as { mediaType: string; manifests: { digest: string; artifactType: string }[] };
    expect(index.mediaType).toBe(INDEX);
    expect(index.manifests.map((d) => [d.digest, d.artifactType])).toEqual([[sbom.digest, SBOM], [sig.digest, SIG]]);

    // Pushing the same artifact again neither duplicates the entry nor rewrites the tag.
    const tagPuts = () => s.requests.filter((r) => r.method === 'PUT' && r.path.endsWith(`/manifests/${tag}`)).length;
    const before = tagPuts();
    expect((await repo.putManifest(sbom.digest, sbom.bytes, MANIFEST)).referrers).toBe('tag');
    expect(tagPuts()).toBe(before);

    const found = await repo.referrers(image.digest);
    expect(found.via).toBe('tag');
    expect(found.manifests.map((d) => d.digest)).toEqual([sbom.digest, sig.digest]);
    expect(found.manifests[0]?.annotations).toEqual({ 'org.example.note': 'sbom' });
    expect((await repo.referrers(image.digest, { artifactType: SIG })).manifests.map((d) => d.digest)).toEqual([sig.digest]);
    expect(await repo.referrers(digestOf(Buffer.from('no such subject')))).toEqual({ manifests: [], via: 'tag' });
  });

  it('will not write over a referrers tag holding something other than an index, and reads no referrers from it', async () => {
    const s = await server({ referrersApi: false });
    const repo = repoOn(s, 'app/occupied');
    const image = await pushImage(repo, 'v1');
    await repo.putManifest(referrersTag(image.digest), (await repo.getManifest(image.digest)).bytes, MANIFEST);
    const err = await codeOf(pushArtifact(repo, image, SBOM, 'sbom'));
    expect(err).toMatch(/^OCI_ERR_INVALID_CONTENT: referrers tag 127\.0\.0\.1:\d+\/app\/occupied:sha256-[0-9a-f]{64} holds an image manifest, not an image index$/);
    expect(await repo.referrers(image.digest)).toEqual({ manifests: [], via: 'tag' });
  });

  it('refuses a manifest digest the registry did not compute from the bytes', async () => {
    const s = await server();
    const repo = repoOn(s, 'app/lie');
    const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: INDEX, manifests: [] }));
    s.setHook((r) => (r.method === 'PUT' ? { status: 201, headers: { 'docker-content-digest': digestOf(Buffer.from('x')) } } : undefined));
    expect(await codeOf(repo.putManifest('v1', bytes, INDEX))).toMatch(/^OCI_ERR_DIGEST_MISMATCH: digest mismatch for manifest 127\.0\.0\.1:\d+\/app\/lie:v1: registry says sha256:/);
    s.setHook(undefined);
    expect(await codeOf(repo.putManifest(digestOf(Buffer.from('x')), bytes, INDEX))).toMatch(/^OCI_ERR_DIGEST_MISMATCH/);
    expect(await codeOf(repo.putManifest('v1', bytes, MANIFEST))).toMatch(/^OCI_ERR_INVALID_CONTENT: .*declares mediaType/);
    expect(await repo.putManifest('v1', bytes, INDEX)).toEqual({ digest: digestOf(bytes) });
  });
});

describe('tags', () => {
  it('follows Link pages to the end', async () => {
    const s = await server();
    const repo = repoOn(s, 'app/tags');
    const image = await pushImage(repo, 'a');
    const bytes = (await repo.getManifest(image.digest)).bytes;
    for (const t of ['b', 'c', 'd', 'e']) await repo.putManifest(t, bytes, MANIFEST);
    const before = s.requests.length;
    expect(await repo.listTags({ pageSize: 2 })).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(s.requests.slice(before).map((r) => r.path)).toEqual(['/v2/app/tags/tags/list?n=2', '/v2/app/tags/tags/list?n=2&last=b', '/v2/app/tags/tags/list?n=2&last=d']);
  });

  it('refuses a next-page link to another origin', async () => {
    const s = await server();
    s.setHook((r) => (r.path.includes('/tags/list')
      ? { status: 200, headers: { 'content-type': 'application/json', link: '<http://127.0.0.2:9/v2/x/tags/list?last=a>; rel="next"' }, body: '{"name":"x","tags":["a"]}' }
      : undefined));
    expect(await codeOf(repoOn(s, 'x').listTags())).toMatch(/^OCI_ERR_REGISTRY: tags of 127\.0\.0\.1:\d+\/x: refusing a next-page link to another origin \(127\.0\.0\.2:9\)$/);
  });
});

describe('transport', () => {
  it('refuses an upload location that leaves HTTPS for plain HTTP, or names another scheme, before sending anything', async () => {
    const transport = new RegistryTransport('registry.example.com', { connections });
    const put = (path: string) => transport.request({ method: 'PUT', path, scope: 'repository:a:pull,push', body: Buffer.from('x'), what: 'blob upload' });
    expect(await codeOf(put('http://storage.example.com/upload/1'))).toBe('OCI_ERR_REGISTRY: blob upload: refusing a location from HTTPS to plain HTTP (storage.example.com)');
    expect(await codeOf(put('ftp://storage.example.com/upload/1'))).toBe('OCI_ERR_REGISTRY: blob upload: the registry named an unsupported URL scheme (ftp:)');
  });
});
