// oci-tool pull against Debian's docker-registry: the result is a layout skopeo and umoci accept,
// platforms are chosen right, re-pulls fetch nothing, concurrent pulls share one layout.
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { busybox, multiArch } from '../../fixtures/images.js';
import { writeImage, writeIndex, type Descriptor } from '../../fixtures/build-image.js';
import { runCli, run } from '../support/cli.js';
import { startRegistry, type RunningRegistry } from '../support/docker-registry.js';
import { pushLayout } from '../support/push.js';

let work: string;
let reg: RunningRegistry;
let multi: Descriptor;
let multiIndex: { manifests: Descriptor[] };

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'oci-tool-pull-'));
  reg = await startRegistry();
  const src = join(work, 'src');
  await writeImage(src, busybox(), 'busybox');
  await pushLayout(src, { url: reg.url, repository: 'library/busybox', tag: 'latest' }, 'busybox');
  await writeImage(src, { ...busybox(), format: 'docker' }, 'docker-busybox');
  await pushLayout(src, { url: reg.url, repository: 'library/dbusybox', tag: 'v1' }, 'docker-busybox');
  multi = await writeIndex(src, multiArch(), 'multi');
  await pushLayout(src, { url: reg.url, repository: 'team/multi', tag: '1.0' }, 'multi');
  multiIndex = JSON.parse(await readFile(join(src, 'blobs', 'sha256', multi.digest.slice(7)), 'utf8')) as { manifests: Descriptor[] };
});

afterAll(async () => {
  await reg?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

const layoutIndex = async (dir: string) =>
  JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as { manifests: (Descriptor & { annotations: Record<string, string> })[] };

describe('pull', () => {
  it('pulls into a layout that skopeo and umoci read, and a second pull fetches nothing', async () => {
    const layout = join(work, 'l1');
    const ref = `${reg.host}/library/busybox:latest`;
    const first = await runCli(['pull', ref, '--layout', layout, '--json']);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    const result = JSON.parse(first.stdout) as { refName: string; digest: string; blobs: { fetched: number; skipped: number }; platform: string };
    expect(result.refName).toBe(ref);
    expect(result.blobs.fetched).toBe(3); // manifest, config, layer
    expect(result.platform).toBe('linux/amd64');
    const index = await layoutIndex(layout);
    expect(index.manifests).toHaveLength(1);
    expect(index.manifests[0]?.annotations['org.opencontainers.image.ref.name']).toBe(ref);
    expect(index.manifests[0]?.digest).toBe(result.digest);

    const inspect = await run('skopeo', ['inspect', `oci:${layout}:${ref}`]);
    expect(inspect.stderr).toBe('');
    expect((JSON.parse(inspect.stdout) as { Digest: string }).Digest).toBe(result.digest);

    const bundle = join(work, 'umoci-bundle');
    const umoci = await run('umoci', ['unpack', '--rootless', '--image', `${layout}:${ref}`, bundle]);
    expect(umoci.stderr).not.toMatch(/error|fatal/i);
    expect(umoci.code).toBe(0);
    expect((await stat(join(bundle, 'rootfs', 'bin', 'busybox'))).size).toBeGreaterThan(100_000);

    const second = await runCli(['pull', ref, '--layout', layout, '--json']);
    expect(second.code).toBe(0);
    const again = JSON.parse(second.stdout) as { blobs: { fetched: number; skipped: number }; bytes: number; digest: string };
    expect(again.blobs).toEqual({ fetched: 0, skipped: 3 });
    expect(again.bytes).toBe(0);
    expect(again.digest).toBe(result.digest);
  });

  it('picks the requested platform from an index and lists what exists when nothing matches', async () => {
    const layout = join(work, 'l2');
    const arm64 = multiIndex.manifests.find((d) => d.platform?.architecture === 'arm64');
    const got = await runCli(['pull', `${reg.host}/team/multi:1.0`, '--layout', layout, '--platform', 'linux/arm64', '--json']);
    expect(got.code).toBe(0);
    const result = JSON.parse(got.stdout) as { digest: string; platform: string };
    expect(result.digest).toBe(arm64?.digest);
    expect(result.platform).toBe('linux/arm64/v8');

    const none = await runCli(['pull', `${reg.host}/team/multi:1.0`, '--layout', layout, '--platform', 'linux/s390x']);
    expect(none.code).toBe(3);
    expect(none.stderr).toMatch(/linux\/s390x/);
    expect(none.stderr).toMatch(/available: linux\/amd64, linux\/arm64\/v8, linux\/arm\/v7/);
    expect(none.stderr.trim().split('\n')).toHaveLength(1);

    const all = await runCli(['pull', `${reg.host}/team/multi:1.0`, '--layout', layout, '--all-platforms', '--json']);
    expect(all.code).toBe(0);
    const allResult = JSON.parse(all.stdout) as { digest: string; platforms: string[] };
    expect(allResult.digest).toBe(multi.digest);
    expect(allResult.platforms).toEqual(['linux/amd64', 'linux/arm64/v8', 'linux/arm/v7']);
    const inspect = await run('skopeo', ['inspect', '--raw', `oci:${layout}:${reg.host}/team/multi:1.0`]);
    expect(inspect.code).toBe(0);
  });

  it('keeps Docker manifests by default and converts them with --format oci', async () => {
    const layout = join(work, 'l3');
    const keep = await runCli(['pull', `${reg.host}/library/dbusybox:v1`, '--layout', layout, '--json']);
    expect(keep.code).toBe(0);
    expect((JSON.parse(keep.stdout) as { mediaType: string }).mediaType).toBe('application/vnd.docker.distribution.manifest.v2+json');
    const oci = await runCli(['pull', `${reg.host}/library/dbusybox:v1`, '--layout', layout, '--format', 'oci', '--ref-name', 'converted', '--json']);
    expect(oci.code).toBe(0);
    const converted = JSON.parse(oci.stdout) as { mediaType: string; digest: string; blobs: { fetched: number } };
    expect(converted.mediaType).toBe('application/vnd.oci.image.manifest.v1+json');
    expect(converted.blobs.fetched).toBe(0);
    const manifest = JSON.parse(await readFile(join(layout, 'blobs', 'sha256', converted.digest.slice(7)), 'utf8')) as { config: Descriptor; layers: Descriptor[] };
    expect(manifest.config.mediaType).toBe('application/vnd.oci.image.config.v1+json');
    expect(manifest.layers[0]?.mediaType).toBe('application/vnd.oci.image.layer.v1.tar+gzip');
    const inspect = await run('skopeo', ['inspect', 'oci:' + layout + ':converted']);
    expect(inspect.code).toBe(0);
  });

  it('lets four concurrent pulls write one layout', async () => {
    const layout = join(work, 'l4');
    const refs = [
      `${reg.host}/library/busybox:latest`, `${reg.host}/team/multi:1.0`,
      `${reg.host}/library/dbusybox:v1`, `${reg.host}/library/busybox:latest`,
    ];
    const results = await Promise.all(refs.map((r) => runCli(['pull', r, '--layout', layout, '--platform', 'linux/amd64', '-q'])));
    for (const r of results) expect(r.stderr).toBe('');
    expect(results.map((r) => r.code)).toEqual([0, 0, 0, 0]);
    const names = (await layoutIndex(layout)).manifests.map((d) => d.annotations['org.opencontainers.image.ref.name']).sort();
    expect(names).toEqual([...new Set(refs)].sort());
    const verify = await run('skopeo', ['inspect', `oci:${layout}:${refs[1]}`]);
    expect(verify.code).toBe(0);
  });

  it('reports bad input on one line with its exit code', async () => {
    const bad = await runCli(['pull', 'Busybox/Foo', '--layout', join(work, 'l5')]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^oci-tool: invalid reference "Busybox\/Foo"/);
    const missing = await runCli(['pull', `${reg.host}/library/nothing:here`, '--layout', join(work, 'l5')]);
    expect(missing.code).toBe(3);
    expect(missing.stderr.trim().split('\n')).toHaveLength(1);
    const platform = await runCli(['pull', 'busybox', '--platform', 'linux', '--layout', join(work, 'l5')]);
    expect(platform.code).toBe(2);
  });
});
