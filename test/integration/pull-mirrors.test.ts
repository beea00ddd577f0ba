// Mirrors and re-runs against real docker-registry instances: a mirror serves a pull, a mirror
// that lacks the image falls back to the origin, a re-pull spends no manifest GET, and an
// interrupted run leaves a valid layout that the next run resumes with Range.
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
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
