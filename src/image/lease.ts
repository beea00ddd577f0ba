// Leases: a writer (pull; any later layout sink) holds one in .oci-tool/leases/ for as long as it
// may name blobs in index.json that index.json does not name yet. gc reads them to keep those blobs.
//
// A lease file is "<pid> <host> <start>\n" then the digests the writer retained, one a line.
// <start> is the file's own mtime at creation, so that it and the blobs' mtimes come from one
// clock (the filesystem's). A lease whose process is gone from this host is stale; a lease of
// another host is taken as live, since its process cannot be checked from here.
import { appendFile, mkdir, open, readdir, readFile, rm, stat } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Layout } from './layout.js';
import type { LockOptions } from './lock.js';

export interface LeaseInfo {
  /** The lease file. */
  path: string;
  pid: number;
  host: string;
  /** Filesystem time (ms) at which the writer began. */
  startMs: number;
  /** Blobs the writer said it will name, whether it found them present or writes them. */
  digests: Set<string>;
  live: boolean;
}

/** A lease file without a readable header is being written right now, or garbage once this old. */
const UNREADABLE_STALE_MS = 60_000;

export class Lease {
  private released = false;

  private constructor(private readonly layout: Layout, readonly path: string, readonly startMs: number) {}

  /** Takes a lease on the layout; release it in a finally. */
  static async begin(layout: Layout): Promise<Lease> {
    const dir = layout.statePath('leases');
    await mkdir(dir, { recursive: true });
    const path = join(dir, `${process.pid}-${randomBytes(6).toString('hex')}`);
    const fh = await open(path, 'wx');
    try {
      const { mtimeMs } = await fh.stat();
      await fh.writeFile(`${process.pid} ${hostname()} ${mtimeMs}\n`);
      return new Lease(layout, path, mtimeMs);
    } finally {
      await fh.close();
    }
  }

  /**
   * Records blobs this writer will name, before it looks whether they are present: a present blob
   * is then kept by gc even when it is old. A gc that read the leases before these lines may be
   * deleting right now; waiting for the index lock (which gc holds throughout) means every presence
   * check after this sees what that gc left.
   */
  async retain(digests: Iterable<string>, opts: LockOptions = {}): Promise<void> {
    const lines = [...new Set(digests)].map((d) => `${d}\n`).join('');
    if (lines === '') return;
    await appendFile(this.path, lines);
    await this.layout.withIndexLock(async () => {}, opts);
  }

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    await rm(this.path, { force: true });
  }
}

/** Every lease of the layout, live or stale. */
export async function readLeases(layout: Layout): Promise<LeaseInfo[]> {
  const dir = layout.statePath('leases');
  const out: LeaseInfo[] = [];
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    const path = join(dir, name);
    const [text, st] = await Promise.all([readFile(path, 'utf8').catch(() => undefined), stat(path).catch(() => undefined)]);
    if (text === undefined || st === undefined) continue; // released meanwhile
    const [header = '', ...rest] = text.split('\n');
    const [pidText, host = '', startText] = header.split(' ');
    const pid = Number(pidText);
    const startMs = Number(startText);
    const digests = new Set(rest.filter((l) => l !== ''));
    if (!Number.isInteger(pid) || pid <= 0 || !Number.isFinite(startMs) || !text.includes('\n')) {
      const live = Date.now() - st.mtimeMs < UNREADABLE_STALE_MS;
      out.push({ path, pid: 0, host: '', startMs: st.mtimeMs, digests, live });
      continue;
    }
    out.push({ path, pid, host, startMs, digests, live: processAlive(pid, host) });
  }
  return out;
}

/** Whether a process of this host (or of another, which cannot be checked) may still run. */
export function processAlive(pid: number, host: string): boolean {
  if (host !== hostname()) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}
