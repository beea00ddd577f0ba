// Faults injected by an in-process proxy in front of the real docker-registry: wrong bytes,
// a dropped connection (resumed with Range), 429 with Retry-After, cross-host redirects.
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeImage, type Descriptor } from '../../fixtures/build-image.js';
import { busybox } from '../../fixtures/images.js';
import { runCli } from '../support/cli.js';
import { startRegistry, type RunningRegistry } from '../support/docker-registry.js';
import { startBlobHost, startFaultProxy } from '../support/fault-proxy.js';
import { pushLayout } from '../support/push.js';

let work: string;
let reg: RunningRegistry;
let layer: Descriptor;
let layerBytes: Buffer;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'oci-tool-faults-'));
  reg = await startRegistry();
  const src = join(work, 'src');
  const top = await writeImage(src, busybox(), 'busybox');
  await pushLayout(src, { url: reg.url, repository: 'library/busybox', tag: 'latest' }, 'busybox');
  const manifest = JSON.parse(await readFile(join(src, 'blobs', 'sha256', top.digest.slice(7)), 'utf8')) as { layers: Descriptor[] };
  layer = manifest.layers[0] as Descriptor;
  layerBytes = await readFile(join(src, 'blobs', 'sha256', layer.digest.slice(7)));
});

afterAll(async () => {
  await reg?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

const isLayerGet = (method: string, path: string) => method === 'GET' && path.endsWith(`/blobs/${layer.digest}`);

describe('pull under faults', () => {
  it('refuses a blob with wrong bytes, naming the digest and storing nothing for it', async () => {
    const proxy = await startFaultProxy(reg.url, (req) => (isLayerGet(req.method, req.path) ? { corrupt: true } : undefined));
    try {
      const layout = join(work, 'corrupt');
      const res = await runCli(['pull', `${proxy.host}/library/busybox:latest`, '--layout', layout, '--retries', '2']);
      expect(res.code).toBe(5);
      expect(res.stderr).toContain(layer.digest);
      expect(res.stderr.trim().split('\n')).toHaveLength(1);
      await expect(stat(join(layout, 'blobs', 'sha256', layer.digest.slice(7)))).rejects.toThrow();
      expect(await readdir(join(layout, '.oci-tool', 'ingest'))).toEqual([]);
      const index = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8')) as { manifests: unknown[] };
      expect(index.manifests).toEqual([]);
    } finally {
      await proxy.close();
    }
  });

  it('resumes a blob with Range after the connection drops mid-body, in the same run', async () => {
    const cut = Math.floor(layer.size / 3);
    const proxy = await startFaultProxy(reg.url, (req, n) => (isLayerGet(req.method, req.path) && n === 1 ? { resetAfterBytes: cut } : undefined));
    try {
      const layout = join(work, 'resume');
      const res = await runCli(['pull', `${proxy.host}/library/busybox:latest`, '--layout', layout, '--json']);
      expect(res.stderr).toBe('');
      expect(res.code).toBe(0);
      const gets = proxy.requests.filter((r) => isLayerGet(r.method, r.path));
      expect(gets).toHaveLength(2);
      expect(gets[0]?.headers.range).toBeUndefined();
      const resumedAt = Number(/^bytes=(\d+)-$/.exec(String(gets[1]?.headers.range))?.[1]);
      expect(resumedAt).toBeGreaterThan(0);
      expect(resumedAt).toBeLessThanOrEqual(cut);
      expect(await readFile(join(layout, 'blobs', 'sha256', layer.digest.slice(7)))).toEqual(layerBytes);
      // Bytes received over the network: the part before the cut plus the rest, not the blob twice.
      const result = JSON.parse(res.stdout) as { bytes: number };
      expect(result.bytes).toBeLessThan(layer.size + 64 * 1024);
    } finally {
      await proxy.close();
    }
  });

  it('waits as Retry-After says on 429 and then succeeds', async () => {
    const proxy = await startFaultProxy(reg.url, (req, n) =>
      req.method === 'GET' && req.path.includes('/manifests/') && n === 1
        ? { status: 429, headers: { 'retry-after': '1', 'ratelimit-limit': '100;w=21600', 'ratelimit-remaining': '0;w=21600' }, body: '{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}' }
        : undefined);
    try {
      const layout = join(work, 'ratelimit');
      const res = await runCli(['pull', `${proxy.host}/library/busybox:latest`, '--layout', layout, '--verbose']);
      expect(res.code).toBe(0);
      expect(res.stderr).toMatch(/HTTP 429 \(rate limit 100;w=21600, remaining 0;w=21600\)/);
      const manifestGets = proxy.requests.filter((r) => r.method === 'GET' && r.path.includes('/manifests/'));
      expect(manifestGets).toHaveLength(2);
      const times = manifestGets.map((r) => (r as { at?: number }).at ?? 0);
      if (times[0] && times[1]) expect(times[1] - times[0]).toBeGreaterThanOrEqual(950);
    } finally {
      await proxy.close();
    }
  });

  it('gives up on 429 when Retry-After is beyond what it waits for, with exit code 6', async () => {
    const proxy = await startFaultProxy(reg.url, (req) =>
      req.method === 'GET' && req.path.includes('/manifests/') ? { status: 429, headers: { 'retry-after': '3600' } } : undefined);
    try {
      const res = await runCli(['pull', `${proxy.host}/library/busybox:latest`, '--layout', join(work, 'ratelimit2')]);
      expect(res.code).toBe(6);
      expect(res.stderr).toMatch(/rate limited/);
    } finally {
      await proxy.close();
    }
  });

  it('retries 503s and fails with exit code 6 when they persist', async () => {
    const proxy = await startFaultProxy(reg.url, (req) => (isLayerGet(req.method, req.path) ? { status: 503 } : undefined));
    try {
      const res = await runCli(['pull', `${proxy.host}/library/busybox:latest`, '--layout', join(work, 'unavailable'), '--retries', '3']);
      expect(res.code).toBe(6);
      expect(proxy.requests.filter((r) => isLayerGet(r.method, r.path))).toHaveLength(3);
      expect(res.stderr).toMatch(/HTTP 503/);
    } finally {
      await proxy.close();
    }
  });

  it('follows a blob redirect to another host without sending Authorization there', async () => {
    const blobHost = await startBlobHost(layerBytes);
    // The proxy demands Basic auth from the client, as an authenticating registry would.
    const proxy = await startFaultProxy(reg.url, (req) => {
      if (!req.headers.authorization) return { status: 401, headers: { 'www-authenticate': 'Basic realm="test"' } };
      if (isLayerGet(req.method, req.path)) return { redirectTo: `${blobHost.url}/storage/${layer.digest.slice(7)}?sig=abc` };
      return undefined;
    });
    try {
      const res = await runCli(['pull', `${proxy.host}/library/busybox:latest`, '--layout', join(work, 'redirect'), '-q', '--username', 'alice', '--password-stdin'], { input: 's3cret\n' });
      expect(res.stderr).toBe('');
      expect(res.code).toBe(0);
      const layerReq = proxy.requests.find((r) => isLayerGet(r.method, r.path) && r.headers.authorization);
      expect(layerReq?.headers.authorization).toBe(`Basic ${Buffer.from('alice:s3cret').toString('base64')}`);
      expect(blobHost.requests.length).toBeGreaterThan(0);
      for (const r of blobHost.requests) expect(r.headers.authorization).toBeUndefined();
    } finally {
      await proxy.close();
      await blobHost.close();
    }
  });
});
