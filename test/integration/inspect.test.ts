// oci-tool inspect and tags against Debian's docker-registry, checked against what skopeo reads
// from the same registry: raw manifests byte for byte, configs as JSON, the digests it reports.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeImage, writeIndex } from '../../fixtures/build-image.js';
import { busybox, multiArch } from '../../fixtures/images.js';
import { run, runCli } from '../support/cli.js';
import { startRegistry, type RunningRegistry } from '../support/docker-registry.js';
import { pushLayout } from '../support/push.js';

let work: string;
let reg: RunningRegistry;
let app: string;
let multi: string;

const config = { Entrypoint: ['/bin/sh', '-c'], Cmd: ['echo hi'], Env: ['PATH=/bin', 'MODE=test'], WorkingDir: '/tmp', User: 'nobody', Labels: { 'org.opencontainers.image.title': 'app' } };

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'oci-tool-inspect-'));
  reg = await startRegistry();
  const src = join(work, 'src');
  await writeImage(src, { ...busybox(), config }, 'app');
  for (const tag of ['1.0', '1.1', '2.0', 'latest']) await pushLayout(src, { url: reg.url, repository: 'team/app', tag }, 'app');
  await writeIndex(src, multiArch(), 'multi');
  await pushLayout(src, { url: reg.url, repository: 'team/multi', tag: '1.0' }, 'multi');
  app = `${reg.host}/team/app:1.0`;
  multi = `${reg.host}/team/multi:1.0`;
});

afterAll(async () => {
  await reg?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

const skopeo = async (...args: string[]) => {
  const r = await run('skopeo', ['inspect', '--tls-verify=false', ...args]);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return r.stdout;
};
const cli = async (...args: string[]) => {
  const r = await runCli(args);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return r.stdout;
};
const INSECURE = '--tls-verify=false';

describe('oci-tool inspect against docker-registry, as skopeo sees it', () => {
  it('an image: the raw manifest byte for byte, the config as JSON, the digest', async () => {
    expect(await cli('inspect', INSECURE, '--raw', app)).toBe(await skopeo('--raw', `docker://${app}`));
    expect(JSON.parse(await cli('inspect', INSECURE, '--config', app))).toEqual(JSON.parse(await skopeo('--config', '--raw', `docker://${app}`)));
    const theirs = JSON.parse(await skopeo(`docker://${app}`)) as { Digest: string; Layers: string[]; Env: string[]; Labels: Record<string, string>; Architecture: string; Os: string };
    const ours = JSON.parse(await cli('inspect', INSECURE, '--json', app)) as { digest: string; image: { layers: { digest: string }[]; env: string[]; labels: Record<string, string>; platform: string } };
    expect(ours.digest).toBe(theirs.Digest);
    expect(ours.image.layers.map((l) => l.digest)).toEqual(theirs.Layers);
    expect(ours.image.env).toEqual(theirs.Env);
    expect(ours.image.labels).toEqual(theirs.Labels);
    expect(ours.image.platform).toBe(`${theirs.Os}/${theirs.Architecture}`);
  });

  it('an index: its raw bytes, the digest, and each platform picked as skopeo picks it', async () => {
    expect(await cli('inspect', INSECURE, '--raw', multi)).toBe(await skopeo('--raw', `docker://${multi}`));
    const theirs = JSON.parse(await skopeo(`docker://${multi}`)) as { Digest: string };
    const ours = JSON.parse(await cli('inspect', INSECURE, '--json', multi)) as { digest: string; hostDigest: string; manifests: { digest: string; platform: string }[] };
    expect(ours.digest).toBe(theirs.Digest);
    expect(ours.manifests.map((m) => m.platform)).toEqual(['linux/amd64', 'linux/arm64/v8', 'linux/arm/v7']);
    for (const [platform, arch, variant] of [['linux/arm64', 'arm64', 'v8'], ['linux/arm/v7', 'arm', 'v7'], ['linux/amd64', 'amd64', '']] as const) {
      const child = ours.manifests.find((m) => m.platform.startsWith(platform)) as { digest: string };
      const override = ['--override-os', 'linux', '--override-arch', arch, ...(variant ? ['--override-variant', variant] : [])];
      expect(await cli('inspect', INSECURE, '--platform', platform, '--raw', multi)).toBe(await skopeo('--raw', `docker://${reg.host}/team/multi@${child.digest}`));
      expect(JSON.parse(await cli('inspect', INSECURE, '--platform', platform, '--config', multi)))
        .toEqual(JSON.parse(await skopeo(...override, '--config', '--raw', `docker://${multi}`)));
    }
  });

  it('prints a readable description', async () => {
    const out = await cli('inspect', INSECURE, '--platform', 'linux/amd64', multi);
    const digest = JSON.parse(await skopeo(`docker://${multi}`)) as { Digest: string };
    expect(out).toContain(`Name:         ${multi}\nDigest:       ${digest.Digest}\n`);
    expect(out).toMatch(/^Platforms:\n {2}linux\/amd64 +sha256:[0-9a-f]{64}.*\n {2}linux\/arm64\/v8 +sha256:/m);
    expect(out).toMatch(/\n\nImage: +sha256:[0-9a-f]{64}\nMedia type: +application\/vnd\.oci\.image\.manifest\.v1\+json\n/);
    expect(out).toContain('Platform:     linux/amd64\n');
    expect(out).toMatch(/^Layers:\n {2}sha256:[0-9a-f]{64} +[\d.]+ [kM]B {2}application\/vnd\.oci\.image\.layer\.v1\.tar\+gzip\n {2}sha256:/m);
    const image = await cli('inspect', INSECURE, app);
    expect(image).toContain('Labels:\n  org.opencontainers.image.title=app\nEnv:\n  PATH=/bin\n  MODE=test\n');
    expect(image).toContain('Entrypoint:   ["/bin/sh","-c"]\nCmd:          ["echo hi"]\nWorkdir:      /tmp\nUser:         nobody\n');
  });

  it('reads a pulled image from the layout the same way, without the registry', async () => {
    const layout = join(work, 'pulled');
    await cli('pull', INSECURE, '--layout', layout, '--all-platforms', '-q', multi);
    const remote = JSON.parse(await cli('inspect', INSECURE, '--json', multi)) as object;
    const local = JSON.parse(await cli('inspect', '--layout', layout, '--json', multi)) as object;
    expect(local).toEqual({ ...remote, source: `${multi} in ${layout}` });
    expect(await cli('inspect', '--layout', layout, '--raw', '--platform', 'linux/arm/v7', multi))
      .toBe(await cli('inspect', INSECURE, '--raw', '--platform', 'linux/arm/v7', multi));
  });

  it('exits 3 for an unknown tag and 3 for a platform the index lacks', async () => {
    const missing = await runCli(['inspect', INSECURE, `${reg.host}/team/app:nope`]);
    expect(missing.code).toBe(3);
    const platform = await runCli(['inspect', INSECURE, '--platform', 'linux/ppc64le', multi]);
    expect(platform).toMatchObject({ code: 3, stdout: '' });
    expect(platform.stderr).toBe(`oci-tool: no image for linux/ppc64le in ${multi}; available: linux/amd64, linux/arm64/v8, linux/arm/v7\n`);
  });
});

// docker-registry 2.8 answers every tag in one page whatever `n` asks; Link paging is covered
// against the in-memory server (test/unit/registry/inspect.test.ts).
describe('oci-tool tags against docker-registry', () => {
  it('lists every pushed tag, as skopeo list-tags does', async () => {
    const listed = await run('skopeo', ['list-tags', '--tls-verify=false', `docker://${reg.host}/team/app`]);
    const theirs = (JSON.parse(listed.stdout) as { Tags: string[] }).Tags;
    expect((await cli('tags', INSECURE, `${reg.host}/team/app`)).split('\n').filter(Boolean).sort()).toEqual(['1.0', '1.1', '2.0', 'latest']);
    expect([...theirs].sort()).toEqual(['1.0', '1.1', '2.0', 'latest']);
    expect(JSON.parse(await cli('tags', INSECURE, '--json', `${reg.host}/team/multi`))).toEqual({ repository: `${reg.host}/team/multi`, tags: ['1.0'] });
  });

  it('exits 3 for a repository the registry does not have', async () => {
    const r = await runCli(['tags', INSECURE, `${reg.host}/team/none`]);
    expect(r.code).toBe(3);
  });
});

