// Leases: what gc keeps for a live writer (blobs younger than its lease, blobs it retained),
// what it does with leases of processes that are gone, and the ordering retain relies on.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { mkdir, mkdtemp, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { collectGarbage } from '../../../src/image/gc.js';
import { Layout } from '../../../src/image/layout.js';
import { Lease, readLeases } from '../../../src/image/lease.js';

let dir: string;
let layout: Layout;

const sha256 = (b: Uint8Array) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const blobFile = (digest: string) => join(dir, 'blobs', 'sha256', digest.slice(7));
const present = (digest: string) => stat(blobFile(digest)).then(() => true, () => false);
const HOUR_AGO = new Date(Date.now() - 3_600_000);
const leasesDir = () => join(dir, '.oci-tool', 'leases');

async function put(text: string, opts: { old?: boolean } = {}): Promise<string> {
  const bytes = Buffer.from(text);
  const digest = sha256(bytes);
  await layout.putBlob(bytes, { digest, size: bytes.length });
  if (opts.old) await utimes(blobFile(digest), HOUR_AGO, HOUR_AGO);
  return digest;
}

async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  await once(child, 'exit');
  return child.pid as number;
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'oci-tool-lease-'));
  layout = await Layout.open(dir);
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('leases', () => {
  it('records the start as filesystem time, and blobs written under it are not older', async () => {
    const lease = await Lease.begin(layout);
    const [info] = await readLeases(layout);
    expect(info).toMatchObject({ pid: process.pid, host: hostname(), startMs: lease.startMs, live: true });
    // Both ways a blob arrives: an ingest renamed into blobs/ and a temporary renamed by putBlob.
    const bytes = Buffer.from('ingested while leased');
    const target = { digest: sha256(bytes), size: bytes.length };
    const ingest = await layout.ingest(target);
    await ingest?.append(Readable.from([bytes]));
    await ingest?.commit();
    const put1 = await put('put while leased');
    for (const d of [target.digest, put1]) expect((await stat(blobFile(d))).mtimeMs).toBeGreaterThanOrEqual(lease.startMs);
    await lease.release();
    expect(await readdir(leasesDir())).toEqual([]);
  });

  it('keeps unreferenced blobs younger than a live lease and removes older ones', async () => {
    const old = await put('from an earlier, forgotten pull', { old: true });
    const lease = await Lease.begin(layout);
    const fresh = await put('written by the running pull');
    const during = await collectGarbage({ layout: dir });
    expect(during.liveLeases).toBe(1);
    expect(during.blobs.map((b) => b.digest)).toEqual([old]);
    expect(during.kept.map((b) => b.digest)).toEqual([fresh]);
    expect(await present(fresh)).toBe(true);
    await lease.release();
    const after = await collectGarbage({ layout: dir });
    expect(after.blobs.map((b) => b.digest)).toEqual([fresh]);
  });

  it('keeps an old blob a live lease retained (a pull reusing what it found present)', async () => {
    const reused = await put('present before the pull', { old: true });
    const other = await put('also old, not reused', { old: true });
    const lease = await Lease.begin(layout);
    await lease.retain([reused]);
    const result = await collectGarbage({ layout: dir });
    expect(result.blobs.map((b) => b.digest)).toEqual([other]);
    expect(result.kept.map((b) => b.digest)).toEqual([reused]);
    await lease.release();
  });

  it('ignores and removes the lease of a dead process', async () => {
    const retained = await put('retained by a dead pull', { old: true });
    const fresh = await put('written by a dead pull');
    await mkdir(leasesDir(), { recursive: true });
    const path = join(leasesDir(), 'dead-lease');
    await writeFile(path, `${await deadPid()} ${hostname()} ${Date.now() - 60_000}\n${retained}\n`);
    expect((await readLeases(layout))[0]?.live).toBe(false);
    const dry = await collectGarbage({ layout: dir, dryRun: true });
    expect(dry.staleLeases).toEqual([path]);
    expect(await readdir(leasesDir())).toEqual(['dead-lease']);
    const result = await collectGarbage({ layout: dir });
    expect(result.liveLeases).toBe(0);
    expect(new Set(result.blobs.map((b) => b.digest))).toEqual(new Set([retained, fresh]));
    expect(result.staleLeases).toEqual([path]);
    expect(await readdir(leasesDir())).toEqual([]);
  });

  it("counts another host's lease as live, and an unreadable one as live only while fresh", async () => {
    await mkdir(leasesDir(), { recursive: true });
    await writeFile(join(leasesDir(), 'remote'), `1 some-other-host ${Date.now()}\n`);
    await writeFile(join(leasesDir(), 'fresh-garbage'), '');
    await writeFile(join(leasesDir(), 'old-garbage'), 'not a lease');
    await utimes(join(leasesDir(), 'old-garbage'), HOUR_AGO, HOUR_AGO);
    const byName = Object.fromEntries((await readLeases(layout)).map((l) => [l.path.slice(leasesDir().length + 1), l.live]));
    expect(byName).toEqual({ remote: true, 'fresh-garbage': true, 'old-garbage': false });
  });

  it('retain waits for a gc holding the index lock, so presence checks after it see what gc left', async () => {
    const lease = await Lease.begin(layout);
    let releaseGc!: () => void;
    const gcRunning = layout.withIndexLock(() => new Promise<void>((r) => { releaseGc = r; }));
    await sleep(20);
    let retained = false;
    const retaining = lease.retain([sha256(Buffer.from('x'))]).then(() => { retained = true; });
    await sleep(100);
    expect(retained).toBe(false);
    releaseGc();
    await gcRunning;
    await retaining;
    expect(retained).toBe(true);
    await lease.release();
  });
});
