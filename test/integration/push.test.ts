// The push path against Debian's docker-registry (2.8): monolithic and chunked uploads that skopeo
// reads back, blobs found or mounted instead of sent again, tag listing, the referrers tag
// fallback (this registry has no referrers API), and one token covering a mount's two repositories.
import { createReadStream } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeImage, type Descriptor } from '../../fixtures/build-image.js';
import { busybox } from '../../fixtures/images.js';
import { digestOf } from '../../src/image/digest.js';
import { Connections } from '../../src/registry/connections.js';
import { staticCredentials } from '../../src/registry/credentials.js';
import { RemoteRepository } from '../../src/registry/remote.js';
import { makeTokenSigningCert } from '../support/certs.js';
import { run } from '../support/cli.js';
import { startRegistry, type RunningRegistry } from '../support/docker-registry.js';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.js';
import { startTokenServer } from '../support/token-server.js';

const MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const SBOM = 'application/vnd.example.sbom.v1';
const SIG = 'application/vnd.example.signature.v1';

let work: string;
let reg: RunningRegistry;
let proxy: FaultProxy;
let layout: string;
let top: Descriptor;
let manifestBytes: Buffer;
let blobs: Descriptor[];
const connections = new Connections();

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'oci-tool-push-'));
  reg = await startRegistry();
  // Requests go through a proxy only to be counted.
  proxy = await startFaultProxy(reg.url);
  layout = join(work, 'src');
  top = await writeImage(layout, busybox(), 'busybox');
  manifestBytes = await readFile(blobFile(top.digest));
  const manifest = JSON.parse(manifestBytes.toString('utf8')) as { config: Descriptor; layers: Descriptor[] };
  blobs = [manifest.config, ...manifest.layers];
});

afterAll(async () => {
  await connections.close();
  await proxy?.close();
  await reg?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

const blobFile = (digest: string) => join(layout, 'blobs', 'sha256', digest.slice(7));
const repoNamed = (name: string) => new RemoteRepository({ registry: proxy.host, repository: name }, { connections, push: true });
const requestsOf = (name: string) => proxy.requests.filter((r) => r.path.startsWith(`/v2/${name}/`));
const blobUploads = (name: string) => requestsOf(name).filter((r) => (r.method === 'PATCH' || r.method === 'PUT') && r.path.includes('/blobs/uploads/'));

async function push(repo: RemoteRepository, tag: string, opts: { chunkSize?: number; mountFrom?: string } = {}): Promise<string[]> {
  const results: string[] = [];
  for (const b of blobs) results.push(await repo.uploadBlob(b, () => createReadStream(blobFile(b.digest)), opts));
  const pushed = await repo.putManifest(tag, manifestBytes, top.mediaType);
  expect(pushed).toEqual({ digest: top.digest });
  return results;
}

async function skopeoDigest(ref: string): Promise<string> {
  const res = await run('skopeo', ['inspect', '--tls-verify=false', `docker://${reg.host}/${ref}`]);
  expect(res.stderr).toBe('');
  expect(res.code).toBe(0);
  return (JSON.parse(res.stdout) as { Digest: string }).Digest;
}

describe('push to docker-registry', () => {
  it('uploads each blob in one streamed PUT; skopeo reads the image back; a second push sends nothing', async () => {
    expect(await push(repoNamed('push/mono'), 'v1')).toEqual(['uploaded', 'uploaded']);
    const uploads = blobUploads('push/mono');
    expect(uploads.map((r) => r.method)).toEqual(['PUT', 'PUT']);
    expect(uploads.map((r) => Number(r.headers['content-length']))).toEqual(blobs.map((b) => b.size));
    expect(await skopeoDigest('push/mono:v1')).toBe(top.digest);

    const before = proxy.requests.length;
    expect(await push(repoNamed('push/mono'), 'v1')).toEqual(['exists', 'exists']);
    const again = proxy.requests.slice(before);
    expect(again.map((r) => r.method)).toEqual(['HEAD', 'HEAD', 'PUT']); // the manifest PUT only
  });

  it('uploads in chunks that skopeo copies and verifies', async () => {
    const chunkSize = 64 * 1024;
    expect(await push(repoNamed('push/chunked'), 'v1', { chunkSize })).toEqual(['uploaded', 'uploaded']);
    const patches = requestsOf('push/chunked').filter((r) => r.method === 'PATCH');
    const expected = blobs.reduce((n, b) => n + Math.ceil(b.size / chunkSize), 0);
    expect(expected).toBeGreaterThan(5); // the layer really is cut into many chunks
    expect(patches).toHaveLength(expected);
    expect(patches.every((r) => Number(r.headers['content-length']) <= chunkSize)).toBe(true);
    expect(await skopeoDigest('push/chunked:v1')).toBe(top.digest);
    // skopeo copy checks every blob's digest as it downloads.
    const copy = await run('skopeo', ['copy', '--src-tls-verify=false', `docker://${reg.host}/push/chunked:v1`, `oci:${join(work, 'copy')}:v1`]);
    expect(copy.code).toBe(0);
    const copied = await readFile(join(work, 'copy', 'blobs', 'sha256', blobs[1]!.digest.slice(7)));
    expect(copied.equals(await readFile(blobFile(blobs[1]!.digest)))).toBe(true);
  });

  it('mounts every blob from another repository of the registry, uploading nothing', async () => {
    expect(await push(repoNamed('push/mounted'), 'v1', { mountFrom: 'push/mono' })).toEqual(['mounted', 'mounted']);
    expect(blobUploads('push/mounted')).toEqual([]);
    const posts = requestsOf('push/mounted').filter((r) => r.method === 'POST');
    expect(posts.map((r) => r.path)).toEqual(blobs.map((b) => `/v2/push/mounted/blobs/uploads/?mount=${b.digest}&from=push/mono`));
    expect(await skopeoDigest('push/mounted:v1')).toBe(top.digest);
  });

  it('lists every tag when asked for pages of two', async () => {
    const repo = repoNamed('push/tags');
    await push(repo, 't1');
    for (const t of ['t2', 't3', 't4', 't5']) await repo.putManifest(t, manifestBytes, top.mediaType);
    // docker-registry 2.8 ignores n (one unsorted page, no Link); paging by Link is covered by the unit tests.
    expect((await repo.listTags({ pageSize: 2 })).sort()).toEqual(['t1', 't2', 't3', 't4', 't5']);
    expect(requestsOf('push/tags').filter((r) => r.path.includes('/tags/list'))[0]?.path).toBe('/v2/push/tags/tags/list?n=2');
  });

  it('writes the referrers tag when the registry has no referrers API, and finds referrers through it', async () => {
    const repo = repoNamed('push/mono');
    const subject = { mediaType: MANIFEST, digest: top.digest, size: top.size };
    const empty = Buffer.from('{}');
    const pushArtifact = async (artifactType: string, note: string) => {
      const payload = Buffer.from(`${note}\n`);
      for (const bytes of [empty, payload]) await repo.uploadBlob({ digest: digestOf(bytes), size: bytes.length }, () => bytes);
      const bytes = Buffer.from(JSON.stringify({
        schemaVersion: 2, mediaType: MANIFEST, artifactType,
        config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: digestOf(empty), size: 2 },
        layers: [{ mediaType: 'text/plain', digest: digestOf(payload), size: payload.length }],
        subject, annotations: { 'org.example.note': note },
      }));
      const pushed = await repo.putManifest(digestOf(bytes), bytes, MANIFEST);
      return { ...pushed, size: bytes.length };
    };
    const sbom = await pushArtifact(SBOM, 'sbom');
    expect(sbom.referrers).toBe('tag');
    const sig = await pushArtifact(SIG, 'sig');
    expect(sig.referrers).toBe('tag');

    // The tag is there for any client to read, with the descriptors the spec asks for.
    const tag = `sha256-${top.digest.slice(7)}`;
    const raw = await run('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${reg.host}/push/mono:${tag}`]);
    expect(raw.code).toBe(0);
    const index = JSON.parse(raw.stdout) as { mediaType: string; manifests: Descriptor[] };
    expect(index.mediaType).toBe('application/vnd.oci.image.index.v1+json');
    expect(index.manifests).toEqual([
      { mediaType: MANIFEST, digest: sbom.digest, size: sbom.size, artifactType: SBOM, annotations: { 'org.example.note': 'sbom' } },
      { mediaType: MANIFEST, digest: sig.digest, size: sig.size, artifactType: SIG, annotations: { 'org.example.note': 'sig' } },
    ]);

    const all = await repo.referrers(top.digest);
    expect(all.via).toBe('tag');
    expect(all.manifests.map((d) => d.digest)).toEqual([sbom.digest, sig.digest]);
    const sigs = await repo.referrers(top.digest, { artifactType: SIG });
    expect(sigs).toEqual({ via: 'tag', manifests: [index.manifests[1]] });
    expect(proxy.requests.filter((r) => r.path.startsWith(`/v2/push/mono/referrers/${top.digest}`)).length).toBeGreaterThanOrEqual(2);
  });
});

describe('push with token auth', () => {
  it('asks one token for both repositories of a mount', async () => {
    const signing = await makeTokenSigningCert(join(work, 'signing'));
    const tokens = await startTokenServer({ signingKey: signing.key, signingCert: signing.cert, issuer: 'test-issuer', users: { alice: 'pw' } });
    const tokenReg = await startRegistry({ token: { realm: tokens.realm, service: 'test-registry', issuer: 'test-issuer', rootCertBundle: signing.certFile } });
    try {
      const at = (name: string) => new RemoteRepository({ registry: tokenReg.host, repository: name }, {
        connections, push: true, credentials: staticCredentials({ username: 'alice', password: 'pw' }),
      });
      const layer = blobs[1]!;
      const open = () => createReadStream(blobFile(layer.digest));
      expect(await at('team/base').uploadBlob(layer, open)).toBe('uploaded');
      // The HEAD's challenge names only pull; the token asked for then covers the push too.
      expect(tokens.requests).toHaveLength(1);
      expect(tokens.requests[0]?.scopes).toEqual(['repository:team/base:pull,push']);
      expect(await at('team/app').uploadBlob(layer, open, { mountFrom: 'team/base' })).toBe('mounted');
      const mount = tokens.requests.at(-1);
      expect(mount?.status).toBe(200);
      expect(mount?.account).toBe('alice');
      expect(mount?.scopes.sort()).toEqual(['repository:team/app:pull,push', 'repository:team/base:pull']);
      // One `scope` parameter per resource, as the token spec asks (not one space-separated value).
      expect(mount?.query.scope).not.toContain(' ');
    } finally {
      await tokenReg.stop();
      await tokens.stop();
    }
  });
});
