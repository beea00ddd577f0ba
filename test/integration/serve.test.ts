// `oci-tool serve` as a child process (the built CLI), read by Debian's skopeo and by oci-tool pull,
// and pushed to by skopeo with --push; the result is a layout that validates.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeImage, writeIndex, type Descriptor } from '../../fixtures/build-image.js';
import { busybox, multiArch } from '../../fixtures/images.js';
import { CLI, run, runCli } from '../support/cli.js';

interface Served {
  child: ChildProcess;
  host: string;
  stderr: () => string;
  stop: (signal?: NodeJS.Signals) => Promise<number | null>;
}

/** Starts `oci-tool serve` on a free port and waits for the line naming its address. */
async function serve(layout: string, ...flags: string[]): Promise<Served> {
  const child = spawn(process.execPath, [CLI, 'serve', '--addr', '127.0.0.1:0', ...flags, layout], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  let stdout = '';
  child.stdout?.on('data', (d: Buffer) => { stdout += d.toString(); });
  const host = await new Promise<string>((resolve, reject) => {
    child.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString();
      const m = new RegExp(`^serving ${layout.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} on http://(127\\.0\\.0\\.1:\\d+)$`, 'm').exec(stderr);
      if (m) resolve(m[1] as string);
    });
    child.once('exit', (code) => reject(new Error(`serve exited with ${code}: ${stderr}`)));
  });
  return {
    child, host, stderr: () => stderr,
    stop: async (signal = 'SIGTERM') => {
      const exited = once(child, 'exit');
      child.kill(signal);
      const [code] = (await exited) as [number | null];
      expect(stdout).toBe('');
      return code;
    },
  };
}

let work: string;
let src: string;
let image: Descriptor;
let index: Descriptor;
let readOnly: Served;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'oci-tool-serve-it-'));
  src = join(work, 'src');
  // Named as oci-tool pull names images, and as skopeo names them.
  image = await writeImage(src, busybox(), '127.0.0.1:5000/library/busybox:latest');
  index = await writeIndex(src, multiArch(), 'multi');
  readOnly = await serve(src, '-v');
});

afterAll(async () => {
  if (readOnly && readOnly.child.exitCode === null) await readOnly.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

const manifestDigest = async (layout: string, ref: string) => {
  const raw = await run('skopeo', ['inspect', '--raw', `oci:${layout}:${ref}`]);
  expect(raw.code, raw.stderr).toBe(0);
  const { createHash } = await import('node:crypto');
  return `sha256:${createHash('sha256').update(raw.stdout).digest('hex')}`;
};

describe('oci-tool serve (read-only)', () => {
  it('lets skopeo inspect an image by its repository and tag', async () => {
    const res = await run('skopeo', ['inspect', '--tls-verify=false', `docker://${readOnly.host}/library/busybox:latest`]);
    expect(res.code, res.stderr).toBe(0);
    const info = JSON.parse(res.stdout) as { Digest: string; RepoTags: string[]; Architecture: string };
    expect(info.Digest).toBe(image.digest);
    expect(info.RepoTags).toContain('latest');
    expect(info.Architecture).toBe('amd64');
  });

  it('lets skopeo copy an image, and a whole index with --all, keeping the digests', async () => {
    const out = join(work, 'copied');
    const one = await run('skopeo', ['copy', '--src-tls-verify=false', `docker://${readOnly.host}/library/busybox:latest`, `oci:${out}:one`]);
    expect(one.code, one.stderr).toBe(0);
    expect(await manifestDigest(out, 'one')).toBe(image.digest);
    // A bare ref name ("multi") is a tag in every repository.
    const all = await run('skopeo', ['copy', '--all', '--src-tls-verify=false', `docker://${readOnly.host}/any/repo:multi`, `oci:${out}:all`]);
    expect(all.code, all.stderr).toBe(0);
    expect(await manifestDigest(out, 'all')).toBe(index.digest);
    const valid = await runCli(['validate', '--layout', out]);
    expect(valid.code, valid.stderr).toBe(0);
  });

  it('lets oci-tool pull from it into another layout', async () => {
    const dest = join(work, 'pulled');
    const ref = `${readOnly.host}/library/busybox:latest`;
    const res = await runCli(['pull', ref, '--layout', dest, '--json']);
    expect(res.code, res.stderr).toBe(0);
    expect((JSON.parse(res.stdout) as { digest: string }).digest).toBe(image.digest);
    const valid = await runCli(['validate', '--layout', dest]);
    expect(valid.code, valid.stderr).toBe(0);
  });

  it('refuses pushes while read-only, logs requests with -v', async () => {
    const res = await run('skopeo', ['copy', '--dest-tls-verify=false', `oci:${src}:multi`, `docker://${readOnly.host}/newrepo:v1`]);
    expect(res.code).not.toBe(0);
    // Blobs are not scoped to repositories, so skopeo finds them present and fails at the manifest.
    // The log line may trail skopeo's exit a little.
    for (let i = 0; i < 50 && !/^PUT \/v2\/newrepo\/manifests\/v1 405 /m.test(readOnly.stderr()); i++) await sleep(20);
    expect(readOnly.stderr()).toMatch(/^PUT \/v2\/newrepo\/manifests\/v1 405 /m);
    expect(readOnly.stderr()).toMatch(/^GET \/v2\/library\/busybox\/manifests\/latest 200 \d+B \d+ms$/m);
    expect(JSON.parse(await readFile(join(src, 'index.json'), 'utf8')).manifests).toHaveLength(2);
  });

  it('refuses a bad --addr (exit 2) and a directory without a layout (exit 3)', async () => {
    const bad = await runCli(['serve', '--addr', 'nowhere', src]);
    expect([bad.code, bad.stderr]).toEqual([2, 'oci-tool: invalid --addr "nowhere": expected HOST:PORT, e.g. 127.0.0.1:5000\n']);
    const missing = await runCli(['serve', '--addr', '127.0.0.1:0', join(work, 'none')]);
    expect([missing.code, missing.stderr]).toEqual([3, `oci-tool: no OCI image layout at ${join(work, 'none')}\n`]);
    const taken = await runCli(['serve', '--addr', readOnly.host, src]);
    expect([taken.code, taken.stderr]).toEqual([2, `oci-tool: cannot listen on ${readOnly.host}: address already in use\n`]);
  });

  it('stops cleanly on SIGINT', async () => {
    const quiet = await serve(src);
    expect(await quiet.stop('SIGINT')).toBe(0);
    expect(quiet.stderr()).toBe(`serving ${src} on http://${quiet.host}\n`);
  });
});

describe('oci-tool serve --push', () => {
  it('takes a skopeo push of an image and of an index into a layout that names and validates them', async () => {
    const dest = join(work, 'pushed');
    const server = await serve(dest, '--push');
    try {
      const one = await run('skopeo', ['copy', '--dest-tls-verify=false', `oci:${src}:127.0.0.1:5000/library/busybox:latest`, `docker://${server.host}/newrepo:v1`]);
      expect(one.code, one.stderr).toBe(0);
      const all = await run('skopeo', ['copy', '--all', '--dest-tls-verify=false', `oci:${src}:multi`, `docker://${server.host}/team/multi:2`]);
      expect(all.code, all.stderr).toBe(0);

      const names = (JSON.parse(await readFile(join(dest, 'index.json'), 'utf8')) as { manifests: Descriptor[] }).manifests
        .map((d) => [d.annotations?.['org.opencontainers.image.ref.name'], d.digest]);
      expect(names).toEqual([['newrepo:v1', image.digest], ['team/multi:2', index.digest]]);
      const valid = await runCli(['validate', '--layout', dest]);
      expect(valid.code, valid.stderr).toBe(0);

      const inspect = await run('skopeo', ['inspect', '--tls-verify=false', `docker://${server.host}/newrepo:v1`]);
      expect(inspect.code, inspect.stderr).toBe(0);
      expect((JSON.parse(inspect.stdout) as { Digest: string }).Digest).toBe(image.digest);
      // skopeo reads the pushed layout directly too.
      expect(await manifestDigest(dest, 'newrepo:v1')).toBe(image.digest);
    } finally {
      expect(await server.stop()).toBe(0);
    }
  });
});
