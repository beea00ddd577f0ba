// oci-tool unpack against umoci unpack on the same layouts, in one run: wall time (median of the
// runs, alternating tools) and peak RSS. Layouts: a layered Debian-like rootfs, a 60,000-file
// layer, a ~1 GB image.
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { busyboxEntries, writeImage, type Entry, type ImageSpec } from '../fixtures/build-image.js';
import { largeImage, manyFiles } from '../fixtures/images.js';
import { measure, median, type Measurement } from './measure.js';
import { printTable } from './pull.js';

const CLI = fileURLToPath(new URL('../../bin/oci-tool.js', import.meta.url));
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const LARGE_BYTES = Number(process.env.BENCH_LARGE_BYTES ?? 1_000_000_000);
const FILES = Number(process.env.BENCH_FILES ?? 60_000);

/** Eight layers shaped like a distribution: many small files in deep trees, some large, some removed later. */
function debianLike(): ImageSpec {
  const layers = Array.from({ length: 8 }, (_, l) => ({
    entries: function* (): Generator<Entry> {
      if (l === 0) yield* busyboxEntries();
      for (let d = 0; d < 40; d++) {
        yield { path: `usr/share/pkg${l}-${d}`, type: 'dir' };
        for (let f = 0; f < 60; f++) {
          const size = f % 20 === 0 ? 200_000 : 1_000 + ((f * 7919) % 8_000);
          yield { path: `usr/share/pkg${l}-${d}/file${f}`, content: { size, seed: l * 100_000 + d * 100 + f } };
        }
      }
      if (l > 0) yield { path: `usr/share/pkg${l - 1}-0/.wh.file1`, content: '' };
    },
  }));
  return { layers, config: { Cmd: ['sh'] } };
}

export async function benchUnpack(): Promise<void> {
  const haveUmoci = spawnSync('umoci', ['--version']).status === 0;
  const work = await mkdtemp(join(tmpdir(), 'oci-tool-bench-unpack-'));
  try {
    const images = [
      { name: 'debian-like-8-layers', spec: debianLike() },
      { name: `files-${FILES}`, spec: manyFiles(FILES) },
      { name: `large-${Math.round(LARGE_BYTES / 1e6)}mb-6-layers`, spec: largeImage({ totalBytes: LARGE_BYTES, layers: 6 }) },
    ];
    const layout = join(work, 'layout');
    for (const image of images) await writeImage(layout, image.spec, image.name);
    console.log(`unpack benchmark: ${RUNS} runs each, median wall time; ${process.getuid?.() === 0 ? 'as root' : 'rootless'}`);
    const rows: string[][] = [['image', 'oci-tool s', 'MB', 'umoci s', 'MB', 'ratio']];
    const rootless = process.getuid?.() === 0 ? [] : ['--rootless'];
    for (const image of images) {
      const ours: Measurement[] = [];
      const theirs: Measurement[] = [];
      for (let i = 0; i < RUNS; i++) {
        const a = join(work, `ours-${i}`);
        ours.push(await measure(process.execPath, [CLI, 'unpack', image.name, a, '--layout', layout, '--pull', 'never', '-q']));
        await rm(a, { recursive: true, force: true });
        if (haveUmoci) {
          const b = join(work, `umoci-${i}`);
          theirs.push(await measure('umoci', ['unpack', ...rootless, '--image', `${layout}:${image.name}`, b]));
          await rm(b, { recursive: true, force: true });
        }
      }
      const ow = median(ours.map((m) => m.wallMs)) / 1000;
      const tw = theirs.length ? median(theirs.map((m) => m.wallMs)) / 1000 : NaN;
      const na = (v: string) => (haveUmoci ? v : 'n/a');
      rows.push([image.name, ow.toFixed(2), Math.max(...ours.map((m) => m.peakRssMb)).toFixed(0),
        na(tw.toFixed(2)), na(Math.max(...theirs.map((m) => m.peakRssMb)).toFixed(0)), na((ow / tw).toFixed(2))]);
    }
    printTable(rows);
    if (!haveUmoci) console.log('umoci is not installed: no comparison (apt-get install umoci)');
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
