// Mirrors and re-runs against real docker-registry instances: a mirror serves a pull, a mirror
// that lacks the image falls back to the origin, a re-pull spends no manifest GET, and an
// interrupted run leaves a valid layout that the next run resumes with Range.
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { createServer, request as httpRequest } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeImage, type Descriptor } from '../../fixtures/build-image.js';
import { busybox, layered } from '../../fixtures/images.js';
import { runCli } from '../support/cli.js';
import { startRegistry, type RunningRegistry } from '../support/docker-registry.js';
import { startFaultProxy } from '../support/fault-proxy.js';
import { pushLayout } from '../support/push.js';

let work: string;
let origin: RunningRegistry;
let mirror: RunningRegistry;
let layer: Descriptor;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'oci-tool-mirrors-'));
  [origin, mirror] = await Promise.all([startRegistry(), startRegistry()]);
  const src = join(work, 'src');
  const top = await writeImage(src, busybox(), 'busybox');
  await writeImage(src, layered(3), 'layered');
  await pushLayout(src, { url: origin.url, repository: 'library/busybox', tag: 'latest' }, 'busybox');
  await pushLayout(src, { url: origin.url, repository: 'library/layered', tag: 'latest' }, 'layered');
  // The mirror keeps Docker Hub-style paths under a prefix and holds only busybox.
  await pushLayout(src, { url: mirror.url, repository: 'hub/library/busybox', tag: 'latest' }, 'busybox');
  const manifest = JSON.parse(await readFile(join(src, 'blobs', 'sha256', top.digest.slice(7)), 'utf8')) as { layers: Descriptor[] };
  layer = manifest.layers[0] as Descriptor;
});

afterAll(async () => {
  await Promise.all([origin?.stop(), mirror?.stop()]);
  if (work) await rm(work, { recursive: true, force: true });
});

describe('mirrors', () => {
  it('serves a pull from a --mirror and falls back to the origin for what the mirror lacks', async () => {
    const layout = join(work, 'm1');
    const hit = await runCli(['pull', `${origin.host}/library/busybox:latest`, '--layout', layout, '--mirror', `${mirror.host}/hub`, '--json']);
    expect(hit.code).toBe(0);
    const r1 = JSON.parse(hit.stdout) as { source: string; refName: string };
    expect(r1.source).toBe(`${mirror.host}/hub/library/busybox`);
    expect(r1.refName).toBe(`${origin.host}/library/busybox:latest`);

    const miss = await runCli(['pull', `${origin.host}/library/layered:latest`, '--layout', layout, '--mirror', `${mirror.host}/hub`, '--json']);
    expect(miss.code).toBe(0);
    expect((JSON.parse(miss.stdout) as { source: string }).source).toBe(`${origin.host}/library/layered`);
  });

  it('reads mirrors from a registries config file, and names a broken file', async () => {
    const conf = join(work, 'registries.json');
    await writeFile(conf, JSON.stringify({ registry: [{ prefix: origin.host, mirror: [{ location: `${mirror.host}/hub` }] }] }));
    const res = await runCli(['pull', `${origin.host}/library/busybox:latest`, '--layout', join(work, 'm2'), '--registries-conf', conf, '--json']);
    expect(res.code).toBe(0);
    expect((JSON.parse(res.stdout) as { source: string }).source).toBe(`${mirror.host}/hub/library/busybox`);

    await writeFile(conf, '{ not json');
    const bad = await runCli(['pull', `${origin.host}/library/busybox:latest`, '--layout', join(work, 'm2'), '--registries-conf', conf]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain(conf);
  });
});

describe('proxies', () => {
  it('sends registry traffic through HTTP_PROXY, and around it for NO_PROXY hosts', async () => {
    const seen: string[] = [];
    const proxy = createServer((req, res) => {
      seen.push(`${req.method} ${req.url}`);
      const up = httpRequest(String(req.url), { method: req.method, headers: req.headers }, (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      });
      up.on('error', () => res.destroy());
      req.pipe(up);
    });
    // HTTPS attempts arrive as CONNECT tunnels (the loopback registry then answers in plain HTTP).
    proxy.on('connect', (req, socket: Socket, head) => {
      seen.push(`CONNECT ${req.url}`);
      const [host, port] = String(req.url).split(':');
      const up = connect(Number(port), host, () => {
        socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        up.write(head);
        up.pipe(socket).pipe(up);
      });
      up.on('error', () => socket.destroy());
      socket.on('error', () => up.destroy());
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
    try {
      const env = { ...process.env, HTTP_PROXY: proxyUrl, HTTPS_PROXY: proxyUrl, NO_PROXY: '' };
      const res = await runCli(['pull', `${origin.host}/library/busybox:latest`, '--layout', join(work, 'p1'), '-q'], { env });
      expect(res.stderr).toBe('');
      expect(res.code).toBe(0);
      // undici tunnels through the proxy with CONNECT, for http targets too.
      expect(seen).toContain(`CONNECT ${origin.host}`);
      const count = seen.length;
      const bypass = await runCli(['pull', `${origin.host}/library/busybox:latest`, '--layout', join(work, 'p2'), '-q'], { env: { ...env, NO_PROXY: '127.0.0.1' } });
      expect(bypass.code).toBe(0);
      expect(seen.length).toBe(count);
    } finally {
      await new Promise((resolve) => proxy.close(resolve));
    }
  });
});

describe('re-runs', () => {
  it('resolves a known tag with HEAD only and fetches nothing', async () => {
    const proxy = await startFaultProxy(origin.url);
    try {
      const layout = join(work, 'r1');
      const ref = `${proxy.host}/library/busybox:latest`;
      expect((await runCli(['pull', ref, '--layout', layout, '-q'])).code).toBe(0);
      const before = proxy.requests.length;
      expect((await runCli(['pull', ref, '--layout', layout, '-q'])).code).toBe(0);
      const second = proxy.requests.slice(before).filter((r) => r.path !== '/v2/');
      expect(second.map((r) => `${r.method} ${r.path.replace(/sha256:\w+/, 'DIGEST')}`)).toEqual(['HEAD /v2/library/busybox/manifests/latest']);
    } finally {
      await proxy.close();
    }
  });

  it('leaves a valid layout when a run fails mid-blob, and the next run resumes with Range', async () => {
    const cut = Math.floor(layer.size / 2);
    const proxy = await startFaultProxy(origin.url, (req) =>
      req.method === 'GET' && req.path.endsWith(`/blobs/${layer.digest}`) && !req.headers.range ? { resetAfterBytes: cut } : undefined);
    try {
      const layout = join(work, 'r2');
      const ref = `${proxy.host}/library/busybox:latest`;
      const failed = await runCli(['pull', ref, '--layout', layout, '--retries', '1']);
      expect(failed.code).toBe(6);
      expect(failed.stderr.trim().split('\n')).toHaveLength(1);
      expect(JSON.parse(await readFile(join(layout, 'index.json'), 'utf8'))).toMatchObject({ schemaVersion: 2, manifests: [] });
      expect(await readdir(join(layout, 'blobs', 'sha256'))).not.toContain(layer.digest.slice(7));
      expect(await readdir(join(layout, '.oci-tool', 'ingest'))).toContain(`sha256-${layer.digest.slice(7)}.data`);

      const resumed = await runCli(['pull', ref, '--layout', layout, '--json']);
      expect(resumed.code).toBe(0);
      const ranged = proxy.requests.filter((r) => r.path.endsWith(`/blobs/${layer.digest}`) && r.headers.range);
      expect(ranged).toHaveLength(1);
      const from = Number(/^bytes=(\d+)-$/.exec(String(ranged[0]?.headers.range))?.[1]);
      expect(from).toBeGreaterThan(0);
      expect((JSON.parse(resumed.stdout) as { bytes: number }).bytes).toBeLessThan(layer.size);
      expect(await readdir(join(layout, '.oci-tool', 'ingest'))).toEqual([]);
    } finally {
      await proxy.close();
    }
  });
});
