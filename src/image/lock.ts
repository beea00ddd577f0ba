// Cross-process exclusive locks as files created with O_EXCL, holding "pid hostname".
// A lock whose process is gone on this host is stale and taken over.
import { open, readFile, unlink, stat } from 'node:fs/promises';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { OciToolError } from '../errors.js';

export type Release = () => Promise<void>;

export interface LockOptions {
  signal?: AbortSignal;
  /** Give up after this long; default: wait as long as the holder lives. */
  timeoutMs?: number;
  /** Called once when the lock is busy, so a caller can report that it waits. */
  onWait?: () => void;
}

const owner = () => `${process.pid} ${hostname()}\n`;

export async function tryLock(path: string): Promise<Release | undefined> {
  try {
    const fh = await open(path, 'wx');
    try {
      await fh.writeFile(owner());
    } finally {
      await fh.close();
    }
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return undefined;
    throw e;
  }
  let released = false;
  return async () => {
    if (released) return;
    released = true;
    await unlink(path).catch(() => {});
  };
}

export async function acquireLock(path: string, opts: LockOptions = {}): Promise<Release> {
  const started = Date.now();
  let delay = 10;
  let told = false;
  for (;;) {
    opts.signal?.throwIfAborted();
    const release = await tryLock(path);
    if (release) return release;
    if ((await isStale(path)) && (await breakStale(path))) continue;
    if (opts.timeoutMs !== undefined && Date.now() - started > opts.timeoutMs) {
      throw new OciToolError('OCI_ERR_LAYOUT', `timed out waiting for lock ${path}`);
    }
    if (!told) {
      told = true;
      opts.onWait?.();
    }
    await sleep(delay, undefined, { signal: opts.signal });
    delay = Math.min(delay * 2, 250);
  }
}

/**
 * Removes a stale lock file. Only the waiter holding `<path>.break` may, and it looks again while
 * it holds it: a waiter that judged the lock stale a moment ago must not remove the lock that
 * another waiter has taken since.
 */
async function breakStale(path: string): Promise<boolean> {
  const guard = `${path}.break`;
  const release = await tryLock(guard);
  if (!release) {
    // A breaker that died before releasing leaves its guard behind.
    if (await isStale(guard)) await unlink(guard).catch(() => {});
    return false;
  }
  try {
    if (!(await isStale(path))) return false;
    await unlink(path).catch(() => {});
    return true;
  } finally {
    await release();
  }
}

async function isStale(path: string): Promise<boolean> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return false; // vanished: the next try takes it
  }
  const [pidText, host] = text.trim().split(' ');
  const pid = Number(pidText);
  if (!Number.isInteger(pid) || pid <= 0) {
    // Being written right now, or garbage: only stale when old.
    const st = await stat(path).catch(() => undefined);
    return st !== undefined && Date.now() - st.mtimeMs > 10_000;
  }
  if (host !== hostname()) return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ESRCH';
  }
}
