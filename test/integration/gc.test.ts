// gc during a concurrent pull loses no blob the pull needs: a slowed pull of a several-MB,
// six-layer image from docker-registry runs while `oci-tool gc` runs again and again on the
// same layout. The pull reuses two old unreferenced layers it finds present, writes the rest,
// and has its connections cut mid-body (live partial downloads); gc meanwhile removes an old
// stray blob and a dead partial download. Afterwards the layout validates and gc removes nothing.
import { createHash } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeImage, type Descriptor } from '../../fixtures/build-image.js';
import { largeImage } from '../../fixtures/images.js';
import { runCli, type CliResult } from '../support/cli.js';
import { startRegistry, type RunningRegistry } from '../support/docker-registry.js';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.js';
import { pushLayout } from '../support/push.js';

let work: string;
let src: string;
let reg: RunningRegistry;
let proxy: FaultProxy;
let top: Descriptor;
let manifest: { config: Descriptor; layers: Descriptor[] };

interface GcJson {
  blobs: { digest: string }[];
  partials: { path: string }[];
  kept: { digest: string }[];
  liveLeases: number;
  bytesFreed: number;
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'oci-tool-gc-'));
  reg = await startRegistry();
  src = join(work, 'src');
  top = await writeImage(src, largeImage({ totalBytes: 12_000_000, layers: 6 }), 'big');
  await pushLayout(src, { url: reg.url, repository: 'team/big', tag: '1.0' }, 'big');
  manifest = JSON.parse(await readFile(join(src, 'blobs', 'sha256', top.digest.slice(7)), 'utf8')) as typeof manifest;
  // Every blob request waits, and each layer's first response is cut a third of the way in, so the
  // pull spends seconds with blobs written but not yet named and with partial downloads open.
  proxy = await startFaultProxy(reg.url, (req, n) => {
    if (req.method !== 'GET' || !req.path.includes('/blobs/sha256:')) return undefined;
    const layer = manifest.layers.find((l) => req.path.endsWith(l.digest));
    if (layer && n === 1) return { resetAfterBytes: Math.floor(layer.size / 3) };
    return { delayMs: 600 };
  });
});

afterAll(async () => {
  await proxy?.close();
  await reg?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

const HOUR_AGO = new Date(Date.now() - 3_600_000);
const blobPath = (dir: string, digest: string) => join(dir, 'blobs', 'sha256', digest.slice(7));
const exists = (p: string) => stat(p).then(() => true, () => false);

/** Resolves once a lease in the layout has retained `digest`: the pull has resolved the image. */
async function leaseRetains(layout: string, digest: string, pull: { done: boolean }): Promise<void> {
  const dir = join(layout, '.oci-tool', 'leases');
  while (!pull.done) {
    for (const name of await readdir(dir).catch(() => [] as string[])) {
      if ((await readFile(join(dir, name), 'utf8').catch(() => '')).includes(digest)) return;
    }
    await sleep(10);
  }
  throw new Error('the pull ended before it retained anything');
}

describe('gc during a concurrent pull', () => {
  it('loses no blob the pull needs', async () => {
    const layout = join(work, 'layout');
    const ref = `${proxy.host}/team/big:1.0`;
    const image = [top.digest, manifest.config.digest, ...manifest.layers.map((l) => l.digest)];
    const reused = manifest.layers.slice(0, 2);

    // An earlier, forgotten pull left two of the layers (old and unreferenced), a stray blob and a
    // partial download whose process is gone.
    await mkdir(join(layout, 'blobs', 'sha256'), { recursive: true });
    await writeFile(join(layout, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    await writeFile(join(layout, 'index.json'), '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}');
    for (const l of reused) await copyFile(blobPath(src, l.digest), blobPath(layout, l.digest));
    const strayBytes = Buffer.from('stray blob of a forgotten image\n');
    const stray = `sha256:${createHash('sha256').update(strayBytes).digest('hex')}`;
    await writeFile(blobPath(layout, stray), strayBytes);
    for (const d of [...reused.map((l) => l.digest), stray]) await utimes(blobPath(layout, d), HOUR_AGO, HOUR_AGO);
    await mkdir(join(layout, '.oci-tool', 'ingest'), { recursive: true });
    const deadPartial = join(layout, '.oci-tool', 'ingest', `sha256-${'e'.repeat(64)}.data`);
    await writeFile(deadPartial, 'left by a killed pull');

    const state = { done: false };
    const pulling: Promise<CliResult> = runCli(['pull', ref, '--layout', layout, '--jobs', '2', '--json'])
      .finally(() => { state.done = true; });
    await leaseRetains(layout, manifest.layers[5]!.digest, state);

    const runs: GcJson[] = [];
    while (!state.done) {
      const gc = await runCli(['gc', '--layout', layout, '--json']);
      expect(gc.stderr).toBe('');
      expect(gc.code).toBe(0);
      runs.push(JSON.parse(gc.stdout) as GcJson);
    }
    const pulled = await pulling;
    expect(pulled.stderr).toBe('');
    expect(pulled.code).toBe(0);
    const result = JSON.parse(pulled.stdout) as { digest: string; blobs: { fetched: number; skipped: number } };
    expect(result.digest).toBe(top.digest);
    // The two layers found present were used, not fetched again: no gc took them away.
    expect(result.blobs).toEqual({ fetched: image.length - 2, skipped: 2 });

    const during = runs.filter((r) => r.liveLeases > 0);
    expect(during.length).toBeGreaterThanOrEqual(3);
    const removed = new Set(runs.flatMap((r) => r.blobs.map((b) => b.digest)));
    expect([...removed].filter((d) => image.includes(d))).toEqual([]);
    // The old stray blob and the dead partial download went while the pull ran.
    expect(removed.has(stray)).toBe(true);
    expect(during.some((r) => r.blobs.some((b) => b.digest === stray))).toBe(true);
    expect(runs.flatMap((r) => r.partials.map((p) => p.path))).toEqual([deadPartial]);
    // gc saw the pull's blobs written and not yet named, and kept them: the reused ones and fresh ones.
    const kept = new Set(during.flatMap((r) => r.kept.map((k) => k.digest)));
    for (const l of reused) expect(kept.has(l.digest)).toBe(true);
    expect(manifest.layers.slice(2).some((l) => kept.has(l.digest))).toBe(true);

    const validate = await runCli(['validate', '--layout', layout]);
    expect(validate).toMatchObject({ code: 0, stdout: '' });
    for (const d of image) expect(await exists(blobPath(layout, d)), d).toBe(true);
    // Nothing is left for a gc after the pull: it removes nothing the image references.
    const after = await runCli(['gc', '--layout', layout, '--json']);
    expect(after.code).toBe(0);
    expect(JSON.parse(after.stdout)).toMatchObject({ blobs: [], partials: [], kept: [], liveLeases: 0, bytesFreed: 0 });
    expect((await runCli(['validate', '--layout', layout])).code).toBe(0);
    expect(await readdir(join(layout, '.oci-tool', 'leases'))).toEqual([]);
  });
});

