import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isOciToolError } from '../../../src/errors.js';
import { acquireLock, tryLock } from '../../../src/image/lock.js';

let dir: string;
let lockPath: string;
const children: ChildProcess[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'oci-tool-lock-'));
  lockPath = join(dir, 'x.lock');
});

afterEach(async () => {
  for (const c of children.splice(0)) {
    if (c.exitCode === null && c.signalCode === null) {
      c.kill('SIGKILL');
      await once(c, 'exit');
    }
  }
  await rm(dir, { recursive: true, force: true });
});

/** The pid of a process that has exited (and been reaped), so no live process holds it. */
async function deadPid(): Promise<number> {
  const child = spawn('true', { stdio: 'ignore' });
  const [code] = (await once(child, 'exit')) as [number];
  expect(code).toBe(0);
  const pid = child.pid as number;
  expect(() => process.kill(pid, 0)).toThrow(expect.objectContaining({ code: 'ESRCH' }));
  return pid;
}

/** A live process of our own that is not this one. */
async function livePid(): Promise<number> {
  const child = spawn('sleep', ['5'], { stdio: 'ignore' });
  children.push(child);
  await once(child, 'spawn');
  return child.pid as number;
}

const ownerText = () => `${process.pid} ${hostname()}\n`;

/** Runs holders that each note how many hold the lock at once. */
async function contend(n: number, acquire: () => Promise<() => Promise<void>>): Promise<{ max: number; order: number[] }> {
  let holding = 0;
  let max = 0;
  const order: number[] = [];
  await Promise.all(Array.from({ length: n }, async (_v, i) => {
    const release = await acquire();
    holding++;
    max = Math.max(max, holding);
    order.push(i);
    await sleep(5);
    holding--;
    await release();
  }));
  return { max, order };
}

describe('tryLock', () => {
  it('creates the lock file with our pid and host, and removes it on release', async () => {
    const release = await tryLock(lockPath);
    expect(release).toBeTypeOf('function');
    expect(await readFile(lockPath, 'utf8')).toBe(ownerText());
    expect(await tryLock(lockPath)).toBeUndefined();
    await release?.();
    await expect(stat(lockPath)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('releases only once: a second release does not remove a later holder', async () => {
    const first = await tryLock(lockPath);
    await first?.();
    const second = await tryLock(lockPath);
    expect(second).toBeTypeOf('function');
    await first?.();
    expect(await readFile(lockPath, 'utf8')).toBe(ownerText());
    await second?.();
  });

  it('reports errors other than an existing lock', async () => {
    await expect(tryLock(join(dir, 'missing-dir', 'x.lock'))).rejects.toMatchObject({ code: 'ENOENT' });
  });
});

describe('acquireLock', () => {
  it('is exclusive between concurrent acquirers in one process', async () => {
    const { max, order } = await contend(8, () => acquireLock(lockPath));
    expect(max).toBe(1);
    expect(order.sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    await expect(stat(lockPath)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('waits for a holder in this process to release, and tells onWait once', async () => {
    const held = await acquireLock(lockPath);
    let waits = 0;
    let acquired = false;
    const next = acquireLock(lockPath, { onWait: () => waits++ }).then((r) => {
      acquired = true;
      return r;
    });
    await sleep(150);
    expect(acquired).toBe(false);
    expect(waits).toBe(1);
    await held();
    const release = await next;
    expect(acquired).toBe(true);
    expect(waits).toBe(1);
    await release();
  });

  it('takes over a stale lock whose process is gone', async () => {
    const pid = await deadPid();
    await writeFile(lockPath, `${pid} ${hostname()}\n`);
    let waited = false;
    const started = Date.now();
    const release = await acquireLock(lockPath, { timeoutMs: 2000, onWait: () => { waited = true; } });
    expect(Date.now() - started).toBeLessThan(1000);
    expect(waited).toBe(false);
    expect(await readFile(lockPath, 'utf8')).toBe(ownerText());
    await release();
    // Nothing is left beside it (the stale file is renamed aside and removed).
    expect(await readdir(dir)).toEqual([]);
  });

  it('stays exclusive when several waiters find the same stale lock', async () => {
    for (let round = 0; round < 20; round++) {
      await writeFile(lockPath, `${await deadPid()} ${hostname()}\n`);
      const { max } = await contend(6, () => acquireLock(lockPath, { timeoutMs: 5000 }));
      expect(max, `round ${round}`).toBe(1);
      expect(await readdir(dir)).toEqual([]);
    }
  });

  it('waits for a live holder in another process until timeoutMs, then fails with OCI_ERR_LAYOUT', async () => {
    const pid = await livePid();
    await writeFile(lockPath, `${pid} ${hostname()}\n`);
    let waits = 0;
    const started = Date.now();
    const e = await acquireLock(lockPath, { timeoutMs: 400, onWait: () => waits++ }).then(() => undefined, (err: unknown) => err);
    const elapsed = Date.now() - started;
    expect(isOciToolError(e) && e.code).toBe('OCI_ERR_LAYOUT');
    expect((e as Error).message).toContain(lockPath);
    expect(elapsed).toBeGreaterThanOrEqual(390);
    expect(elapsed).toBeLessThan(3000);
    expect(waits).toBe(1);
    // The holder's lock is left alone.
    expect(await readFile(lockPath, 'utf8')).toBe(`${pid} ${hostname()}\n`);
  });

  it('takes the lock once the other process holding it dies', async () => {
    const pid = await livePid();
    await writeFile(lockPath, `${pid} ${hostname()}\n`);
    const pending = acquireLock(lockPath, { timeoutMs: 5000 });
    await sleep(100);
    const child = children.find((c) => c.pid === pid) as ChildProcess;
    child.kill('SIGKILL');
    await once(child, 'exit');
    const release = await pending;
    expect(await readFile(lockPath, 'utf8')).toBe(ownerText());
    await release();
  });

  it('never takes over a lock held on another host', async () => {
    const pid = await deadPid(); // dead here, but the pid belongs to another machine
    await writeFile(lockPath, `${pid} not-${hostname()}\n`);
    const e = await acquireLock(lockPath, { timeoutMs: 200 }).then(() => undefined, (err: unknown) => err);
    expect(isOciToolError(e) && e.code).toBe('OCI_ERR_LAYOUT');
    expect(await readFile(lockPath, 'utf8')).toBe(`${pid} not-${hostname()}\n`);
  });

  it('treats an unreadable owner as busy while fresh and as stale once old', async () => {
    await writeFile(lockPath, '');
    const e = await acquireLock(lockPath, { timeoutMs: 200 }).then(() => undefined, (err: unknown) => err);
    expect(isOciToolError(e) && e.code).toBe('OCI_ERR_LAYOUT');
    const old = new Date(Date.now() - 60_000);
    await utimes(lockPath, old, old);
    const release = await acquireLock(lockPath, { timeoutMs: 2000 });
    expect(await readFile(lockPath, 'utf8')).toBe(ownerText());
    await release();
  });

  it('stops waiting when its signal aborts', async () => {
    const pid = await livePid();
    await writeFile(lockPath, `${pid} ${hostname()}\n`);
    const ac = new AbortController();
    const started = Date.now();
    const pending = acquireLock(lockPath, { signal: ac.signal }).then(() => undefined, (err: unknown) => err);
    setTimeout(() => ac.abort(), 100);
    const e = await pending;
    expect((e as Error).name).toBe('AbortError');
    expect(Date.now() - started).toBeLessThan(2000);
    expect(await readFile(lockPath, 'utf8')).toBe(`${pid} ${hostname()}\n`);
  });

  it('does not take a free lock with a signal that has already aborted', async () => {
    const ac = new AbortController();
    ac.abort();
    const e = await acquireLock(lockPath, { signal: ac.signal }).then(() => undefined, (err: unknown) => err);
    expect((e as Error).name).toBe('AbortError');
    await expect(stat(lockPath)).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
