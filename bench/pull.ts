// oci-tool pull against skopeo copy, from one local docker-registry, in one run: wall time
// (median of the runs, alternating tools) and peak RSS per image.
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeImage } from '../fixtures/build-image.js';
import { busybox, largeImage, manyFiles } from '../fixtures/images.js';
import { startRegistry } from '../test/support/docker-registry.js';
import { pushLayout } from '../test/support/push.js';
import { measure, median, type Measurement } from './measure.js';

const CLI = fileURLToPath(new URL('../../bin/oci-tool.js', import.meta.url));
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const LARGE_BYTES = Number(process.env.BENCH_LARGE_BYTES ?? 1_000_000_000);
const FILES = Number(process.env.BENCH_FILES ?? 60_000);

export async function benchPull(): Promise<void> {
  const haveSkopeo = spawnSync('skopeo', ['--version']).status === 0;
  const work = await mkdtemp(join(tmpdir(), 'oci-tool-bench-pull-'));
  const reg = await startRegistry({ storageDir: join(work, 'registry') });
  try {
    const images = [
      { name: 'busybox', spec: busybox() },
      { name: `large-${Math.round(LARGE_BYTES / 1e6)}mb-6-layers`, spec: largeImage({ totalBytes: LARGE_BYTES, layers: 6 }) },
      { name: `files-${FILES}`, spec: manyFiles(FILES) },
    ];
    console.log(`pull benchmark: ${RUNS} runs each, median wall time; registry ${reg.host}`);
    for (const image of images) {
      const src = join(work, `src-${image.name}`);
      await writeImage(src, image.spec, image.name);
      await pushLayout(src, { url: reg.url, repository: `bench/${image.name}`, tag: 'latest' }, image.name);
      await rm(src, { recursive: true, force: true });
    }
    // "verified" is the default (digests, sizes and diff_ids); "digests" skips the diff_id
    // decompression, which is the work skopeo copy does.
    const rows: string[][] = [['image', 'verified s', 'MB', 'digests s', 'MB', 'skopeo s', 'MB', 'ratio verified', 'ratio digests']];
    for (const image of images) {
      const ref = `${reg.host}/bench/${image.name}:latest`;
      const ours: Measurement[] = [];
      const light: Measurement[] = [];
      const theirs: Measurement[] = [];
      for (let i = 0; i < RUNS; i++) {
        const a = join(work, `ours-${image.name}-${i}`);
        ours.push(await measure(process.execPath, [CLI, 'pull', ref, '--layout', a, '-q']));
        await rm(a, { recursive: true, force: true });
        light.push(await measure(process.execPath, [CLI, 'pull', ref, '--layout', a, '-q', '--no-verify-diff-ids']));
        await rm(a, { recursive: true, force: true });
        if (haveSkopeo) {
          const b = join(work, `skopeo-${image.name}-${i}`);
          theirs.push(await measure('skopeo', ['copy', '-q', '--src-tls-verify=false', `docker://${ref}`, `oci:${b}:latest`]));
          await rm(b, { recursive: true, force: true });
        }
      }
      const ow = median(ours.map((m) => m.wallMs)) / 1000;
      const or = Math.max(...ours.map((m) => m.peakRssMb));
      const lw = median(light.map((m) => m.wallMs)) / 1000;
      const lr = Math.max(...light.map((m) => m.peakRssMb));
      const tw = theirs.length ? median(theirs.map((m) => m.wallMs)) / 1000 : NaN;
      const tr = theirs.length ? Math.max(...theirs.map((m) => m.peakRssMb)) : NaN;
      const na = (v: string) => (haveSkopeo ? v : 'n/a');
      rows.push([image.name, ow.toFixed(2), or.toFixed(0), lw.toFixed(2), lr.toFixed(0), na(tw.toFixed(2)), na(tr.toFixed(0)), na((ow / tw).toFixed(2)), na((lw / tw).toFixed(2))]);
    }
    printTable(rows);
    if (!haveSkopeo) console.log('skopeo is not installed: no comparison (apt-get install skopeo)');
  } finally {
    await reg.stop();
    await rm(work, { recursive: true, force: true });
  }
}

export function printTable(rows: string[][]): void {
  const widths = (rows[0] ?? []).map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  for (const r of rows) console.log(r.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  '));
}
