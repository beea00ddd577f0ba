// oci-tool push and copy against Debian's docker-registry, checked with skopeo: a pulled image pushed
// back keeps its digest, a copy within one registry mounts every blob (no upload at all), and
// registry → layout → registry round trips keep the digest of an image and of a whole index.
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeImage, writeIndex, type Descriptor } from '../../fixtures/build-image.js';
import { busybox, multiArch } from '../../fixtures/images.js';
import { run, runCli, type CliResult } from '../support/cli.js';
import { startRegistry, type RunningRegistry } from '../support/docker-registry.js';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.js';
import { pushLayout } from '../support/push.js';
import type { CopyResult } from '../../src/transport/copy.js';

type CopyJson = CopyResult;

let work: string;
let reg: RunningRegistry;
let proxy: FaultProxy;
let single: Descriptor;
let multi: Descriptor;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'oci-tool-copy-it-'));
  reg = await startRegistry();
  // Requests go through the proxy only to be counted.
  proxy = await startFaultProxy(reg.url);
  const src = join(work, 'src');
  single = await writeImage(src, busybox(), 'busybox');
  await pushLayout(src, { url: reg.url, repository: 'library/busybox', tag: 'latest' }, 'busybox');
  multi = await writeIndex(src, multiArch(), 'multi');
  await pushLayout(src, { url: reg.url, repository: 'team/multi', tag: '1.0' }, 'multi');
});

afterAll(async () => {
  await proxy?.close();
  await reg?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

function ok(res: CliResult): CliResult {
  expect(res.stderr).toBe('');
  expect(res.code).toBe(0);
  return res;
}

async function cli(args: string[]): Promise<CopyJson> {
  return JSON.parse(ok(await runCli([...args, '--json'])).stdout) as CopyJson;
}

/** skopeo's digest of what a registry tag names: the raw manifest's sha256, index or not. */
async function skopeoDigest(ref: string): Promise<string> {
  const raw = ok(await run('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${ref}`])).stdout;
  return `sha256:${createHash('sha256').update(raw).digest('hex')}`;
}

const layoutIndex = async (dir: string) => JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as { manifests: Descriptor[] };

describe('push', () => {
  it('pushes a pulled image to another repository: skopeo inspects and copies it, digests equal', async () => {
    const layout = join(work, 'pulled');
    const pulled = JSON.parse(ok(await runCli(['pull', `${reg.host}/library/busybox:latest`, '--layout', layout, '--json'])).stdout) as { digest: string };
    expect(pulled.digest).toBe(single.digest);

    const pushed = await cli(['push', `${reg.host}/library/busybox:latest`, `${reg.host}/pushed/busybox:v1`, '--layout', layout]);
    expect(pushed).toMatchObject({ digest: single.digest, destination: `docker://${reg.host}/pushed/busybox:v1`, manifests: 1 });
    // A layout is not a registry repository: nothing to mount from, so both blobs go up.
    expect(pushed.blobs).toEqual({ copied: 2, skipped: 0, mounted: 0 });

    const inspect = ok(await run('skopeo', ['inspect', '--tls-verify=false', `docker://${reg.host}/pushed/busybox:v1`]));
    expect((JSON.parse(inspect.stdout) as { Digest: string }).Digest).toBe(single.digest);
    const out = join(work, 'skopeo-out');
    const copied = await run('skopeo', ['copy', '--src-tls-verify=false', `docker://${reg.host}/pushed/busybox:v1`, `oci:${out}:ref`]);
    expect(copied.code).toBe(0);
    expect((await layoutIndex(out)).manifests.map((d) => d.digest)).toEqual([single.digest]);

    // Pushing again sends nothing.
    const again = await cli(['push', `${reg.host}/library/busybox:latest`, `docker://${reg.host}/pushed/busybox:v1`, '--layout', layout]);
    expect(again.blobs).toEqual({ copied: 0, skipped: 2, mounted: 0 });
  });
});

describe('copy', () => {
  it('mounts every blob within one registry: no upload request at all', async () => {
    const before = proxy.requests.length;
    const result = await cli(['copy', `docker://${proxy.host}/library/busybox:latest`, `docker://${proxy.host}/copied/busybox:1`]);
    expect(result).toMatchObject({ digest: single.digest, blobs: { copied: 0, skipped: 0, mounted: 2 }, bytes: 0 });
    const requests = proxy.requests.slice(before).filter((r) => r.path.startsWith('/v2/copied/busybox/blobs/uploads/'));
    const uploads = requests.filter((r) => (r.method === 'POST' && !r.path.includes('mount=')) || r.method === 'PATCH' || r.method === 'PUT');
    expect(uploads).toEqual([]);
    expect(requests.filter((r) => r.method === 'POST')).toHaveLength(2);
    expect(await skopeoDigest(`${reg.host}/copied/busybox:1`)).toBe(single.digest);
  });

  it('round-trips an image docker:// → oci: → docker:// keeping its digest', async () => {
    const dir = join(work, 'round-single');
    const down = await cli(['copy', `docker://${reg.host}/library/busybox:latest`, `oci:${dir}:bb`]);
    expect(down.digest).toBe(single.digest);
    expect(ok(await run('skopeo', ['inspect', `oci:${dir}:bb`])).code).toBe(0);
    const up = await cli(['copy', `oci:${dir}:bb`, `docker://${reg.host}/round/busybox:2`]);
    expect(up.digest).toBe(single.digest);
    expect(await skopeoDigest(`${reg.host}/round/busybox:2`)).toBe(single.digest);
  });

  it('round-trips an index with --all-platforms keeping the index digest', async () => {
    const dir = join(work, 'round-multi');
    const down = await cli(['copy', '--all-platforms', `docker://${reg.host}/team/multi:1.0`, `oci:${dir}:multi`]);
    expect(down).toMatchObject({ digest: multi.digest, manifests: 4, platforms: ['linux/amd64', 'linux/arm64/v8', 'linux/arm/v7'] });
    expect((await layoutIndex(dir)).manifests.map((d) => d.digest)).toEqual([multi.digest]);
    const up = await cli(['copy', '--all-platforms', `oci:${dir}:multi`, `docker://${reg.host}/round/multi:2`]);
    expect(up.digest).toBe(multi.digest);
    expect(await skopeoDigest(`${reg.host}/round/multi:2`)).toBe(multi.digest);
    // skopeo copies the whole index back out of it, every platform there.
    const out = join(work, 'skopeo-multi');
    expect((await run('skopeo', ['copy', '--all', '--src-tls-verify=false', `docker://${reg.host}/round/multi:2`, `oci:${out}:m`])).code).toBe(0);
    expect((await layoutIndex(out)).manifests.map((d) => d.digest)).toEqual([multi.digest]);
  });

  it('narrows an index to one platform without --all-platforms, as skopeo does', async () => {
    const result = await cli(['copy', '--platform', 'linux/arm/v7', `docker://${reg.host}/team/multi:1.0`, `docker://${reg.host}/narrow/multi:arm`]);
    expect(result).toMatchObject({ platform: 'linux/arm/v7', manifests: 1 });
    expect(result.digest).not.toBe(multi.digest);
    expect(await skopeoDigest(`${reg.host}/narrow/multi:arm`)).toBe(result.digest);
  });

  it('fails with a usage error on bad names and exclusive flags', async () => {
    const bad = await runCli(['copy', 'busybox', `oci:${join(work, 'x')}`]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^oci-tool: invalid image name "busybox": expected TRANSPORT:NAME/);
    const both = await runCli(['copy', '--all-platforms', '--platform', 'linux/amd64', 'docker://a/b', 'docker://c/d']);
    expect(both.code).toBe(2);
  });
});
