// Configs from oci-tool generate run under a real runtime (runc): args as a whole argv, and a
// memory limit that the kernel enforces.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run, runCli } from '../support/cli.js';
import { makeBusyboxRootfs } from '../support/rootfs.js';

let work: string;
let bundle: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'oci-tool-runc-'));
  bundle = join(work, 'bundle');
  await makeBusyboxRootfs(join(bundle, 'rootfs'));
});

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

const runc = (id: string) => run('runc', ['run', '--bundle', bundle, `oci-tool-test-${process.pid}-${id}`]);

describe('generate under runc', () => {
  it('runs `--args sleep 1` with both arguments, and validate accepts the bundle', async () => {
    const gen = await runCli(['generate', '--args', 'sleep', '1', '--output', join(bundle, 'config.json')]);
    expect(gen.stderr).toBe('');
    expect(gen.code).toBe(0);
    const started = Date.now();
    const res = await runc('sleep');
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    // `sleep` without its operand would fail at once; with it, the container lives about a second.
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    const valid = await runCli(['validate', bundle]);
    expect(valid.code).toBe(0);
  });

  it('passes a whole argv after --, and prints what the container prints', async () => {
    const gen = await runCli(['generate', '--output', join(bundle, 'config.json'), '--', 'sh', '-c', 'echo hello from $(id -u)']);
    expect(gen.code).toBe(0);
    const res = await runc('echo');
    expect(res.code).toBe(0);
    expect(res.stdout).toBe('hello from 0\n');
  });

  it('enforces --linux-mem-limit: a memory-hungry command is killed', async () => {
    const hungry = 'x=$(head -c 20000000 /dev/zero | tr "\\0" a); echo ${#x}';
    const limited = await runCli(['generate', '--linux-mem-limit', '3000000', '--output', join(bundle, 'config.json'), '--', 'sh', '-c', hungry]);
    expect(limited.code).toBe(0);
    const killed = await runc('oom');
    expect(killed.code).not.toBe(0);
    expect(killed.stdout).not.toContain('20000000');

    const free = await runCli(['generate', '--output', join(bundle, 'config.json'), '--', 'sh', '-c', hungry]);
    expect(free.code).toBe(0);
    const ok = await runc('no-limit');
    expect(ok.code).toBe(0);
    expect(ok.stdout).toBe('20000000\n');
  });
});
