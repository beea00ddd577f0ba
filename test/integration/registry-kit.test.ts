import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { pack } from 'tar-stream';
import { Agent, request, type Dispatcher } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeCertificates, makeTokenSigningCert, type Certificates } from '../support/certs.js';
import { startRegistry, type RunningRegistry } from '../support/docker-registry.js';
import { pushLayout } from '../support/push.js';
import { startTokenServer, type TokenServer } from '../support/token-server.js';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const REPO = 'kit/tiny';
const sha256 = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function tarOf(files: Record<string, string>): Promise<Buffer> {
  const p = pack();
  for (const [name, content] of Object.entries(files)) p.entry({ name, mtime: new Date(0) }, content);
  p.finalize();
  const chunks: Buffer[] = [];
  for await (const c of p) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** A layout with tag "v1" (single manifest) and "multi" (an index wrapping it). */
async function writeTinyLayout(dir: string): Promise<{ manifestDigest: string; indexDigest: string }> {
  await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
  const put = async (json: object | Buffer, mediaType: string, extra: object = {}) => {
    const bytes = Buffer.isBuffer(json) ? json : Buffer.from(JSON.stringify(json));
    const digest = sha256(bytes);
    await writeFile(join(dir, 'blobs', 'sha256', digest.slice(7)), bytes);
    return { mediaType, digest, size: bytes.length, ...extra };
  };
  const tar = await tarOf({ 'hello.txt': 'hello from oci-tool\n' });
  const layer = await put(gzipSync(tar), 'application/vnd.oci.image.layer.v1.tar+gzip');
  const config = await put(
    { architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: [sha256(tar)] } },
    'application/vnd.oci.image.config.v1+json',
  );
  const manifest = await put({ schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers: [layer] }, OCI_MANIFEST);
  const index = await put(
    { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ ...manifest, platform: { architecture: 'amd64', os: 'linux' } }] },
    OCI_INDEX,
  );
  const ref = (name: string) => ({ annotations: { 'org.opencontainers.image.ref.name': name } });
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await writeFile(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ ...manifest, ...ref('v1') }, { ...index, ...ref('multi') }] }));
  return { manifestDigest: manifest.digest, indexDigest: index.digest };
}

async function get(url: string, headers: Record<string, string> = {}, dispatcher?: Dispatcher) {
  const res = await request(url, { headers, dispatcher });
  return { status: res.statusCode, headers: res.headers, body: await res.body.text() };
}

const basic = (user: string, pass: string): string => `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;

describe('registry test kit', () => {
  let dir: string;
  let certs: Certificates;
  let digests: { manifestDigest: string; indexDigest: string };
  let plain: RunningRegistry;
  const cleanups: (() => Promise<void>)[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'oci-tool-kit-'));
    certs = await makeCertificates(join(dir, 'certs'));
    digests = await writeTinyLayout(join(dir, 'layout'));
    plain = await startRegistry();
    cleanups.push(plain.stop);
  });

  afterAll(async () => {
    // Reverse order: the plain instance owns the shared storage.
    for (const c of cleanups.reverse()) await c();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('pushes a layout and reads the manifest back by tag', async () => {
    // Quirk: distribution 2.8 answers 404 for an OCI manifest unless Accept names its media type.
    await pushLayout(join(dir, 'layout'), { url: plain.url, repository: REPO, tag: 'v1' }, 'v1');
    await pushLayout(join(dir, 'layout'), { url: plain.url, repository: REPO, tag: 'multi' }, 'multi');
    const res = await get(`${plain.url}/v2/${REPO}/manifests/v1`, { accept: OCI_MANIFEST });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe(OCI_MANIFEST);
    expect(sha256(Buffer.from(res.body))).toBe(digests.manifestDigest);
    const multi = await get(`${plain.url}/v2/${REPO}/manifests/multi`, { accept: OCI_INDEX });
    expect(multi.headers['docker-content-digest']).toBe(digests.indexDigest);
  });

  it('serves the shared storage over TLS with htpasswd auth', async () => {
    const secure = await startRegistry({
      storageDir: plain.storageDir,
      tls: { certFile: certs.serverCertFile, keyFile: certs.serverKeyFile },
      htpasswd: { username: 'alice', password: 's3cret' },
    });
    cleanups.push(secure.stop);
    const agent = new Agent({ connect: { ca: certs.caCert } });
    cleanups.push(() => agent.close());
    expect(secure.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const anon = await get(`${secure.url}/v2/`, {}, agent);
    expect(anon.status).toBe(401);
    expect(anon.headers['www-authenticate']).toMatch(/^Basic /);
    expect((await get(`${secure.url}/v2/${REPO}/manifests/v1`, { authorization: basic('alice', 'wrong') }, agent)).status).toBe(401);
    const ok = await get(`${secure.url}/v2/${REPO}/manifests/v1`, { authorization: basic('alice', 's3cret'), accept: OCI_MANIFEST }, agent);
    expect(ok.status).toBe(200);
    expect(ok.headers['docker-content-digest']).toBe(digests.manifestDigest);
  });

  it('accepts bearer tokens from the token server', async () => {
    for (const type of ['ec', 'rsa'] as const) {
      const signing = await makeTokenSigningCert(join(dir, 'token'), type);
      const tokens: TokenServer = await startTokenServer({
        signingKey: signing.key, signingCert: signing.cert, issuer: 'oci-tool-test-issuer', users: { bob: 'hunter2' }, anonymous: true,
      });
      cleanups.push(tokens.stop);
      const reg = await startRegistry({
        storageDir: plain.storageDir,
        token: { realm: tokens.realm, service: 'test-registry', issuer: 'oci-tool-test-issuer', rootCertBundle: signing.certFile },
      });
      cleanups.push(reg.stop);
      const manifestUrl = `${reg.url}/v2/${REPO}/manifests/v1`;
      const challenge = await get(manifestUrl);
      expect(challenge.status).toBe(401);
      expect(challenge.headers['www-authenticate']).toBe(`Bearer realm="${tokens.realm}",service="test-registry",scope="repository:${REPO}:pull"`);

      const tokenUrl = `${tokens.realm}?service=test-registry&scope=${encodeURIComponent(`repository:${REPO}:pull,push`)}`;
      const issued = JSON.parse((await get(tokenUrl, { authorization: basic('bob', 'hunter2') })).body) as { token: string; access_token: string };
      expect(issued.access_token).toBe(issued.token);
      const ok = await get(manifestUrl, { authorization: `Bearer ${issued.token}`, accept: OCI_MANIFEST });
      expect(ok.status, `${type} token`).toBe(200);

      // Anonymous requests only get pull, so a push is refused.
      const anon = JSON.parse((await get(tokenUrl)).body) as { token: string };
      const upload = await request(`${reg.url}/v2/${REPO}/blobs/uploads/`, { method: 'POST', headers: { authorization: `Bearer ${anon.token}` } });
      await upload.body.dump();
      expect(upload.statusCode).toBe(401);

      // OAuth2 password grant, then refresh.
      const form = (f: Record<string, string>) => request(tokens.realm, { method: 'POST', body: new URLSearchParams(f).toString(), headers: { 'content-type': 'application/x-www-form-urlencoded' } });
      const pw = (await (await form({ grant_type: 'password', service: 'test-registry', scope: `repository:${REPO}:pull`, client_id: 'kit', username: 'bob', password: 'hunter2' })).body.json()) as { refresh_token: string };
      const refreshed = (await (await form({ grant_type: 'refresh_token', service: 'test-registry', scope: `repository:${REPO}:pull`, client_id: 'kit', refresh_token: pw.refresh_token })).body.json()) as { access_token: string };
      expect((await get(manifestUrl, { authorization: `Bearer ${refreshed.access_token}`, accept: OCI_MANIFEST })).status).toBe(200);

      expect(tokens.requests.map((r) => [r.method, r.hasAuthorization, r.grantType, r.status])).toEqual([
        ['GET', true, undefined, 200], ['GET', false, undefined, 200], ['POST', false, 'password', 200], ['POST', false, 'refresh_token', 200],
      ]);
      expect(tokens.requests[0]?.scopes).toEqual([`repository:${REPO}:pull,push`]);
    }
  });

  it('is a real registry: skopeo can inspect the pushed image', async () => {
    const { stdout } = await promisify(execFile)('skopeo', ['inspect', '--tls-verify=false', `docker://${plain.host}/${REPO}:v1`]);
    expect((JSON.parse(stdout) as { Digest: string }).Digest).toBe(digests.manifestDigest);
  });
});
