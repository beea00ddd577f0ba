// pull → unpack → runc run, against docker-registry: the bundle runs and prints what the image
// (or the command given) should print; config conversion under a real runtime; refusals.
import { chmod, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { busyboxEntries, writeImage, type Descriptor } from '../../fixtures/build-image.js';
import { busybox } from '../../fixtures/images.js';
import { run, runCli } from '../support/cli.js';
import { startRegistry, type RunningRegistry } from '../support/docker-registry.js';
import { pushLayout } from '../support/push.js';

let work: string;
let reg: RunningRegistry;
let src: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'oci-tool-unpack-'));
  reg = await startRegistry();
  src = join(work, 'src');
  await writeImage(src, busybox(), 'busybox');
  await pushLayout(src, { url: reg.url, repository: 'library/busybox', tag: 'latest' }, 'busybox');
  await writeImage(src, {
    layers: [{ entries: busyboxEntries() }, { entries: [{ path: 'srv', type: 'dir', mode: 0o755 }, { path: 'srv/motd', content: 'from the image\n' }] }],
    config: {
      Entrypoint: ['sh', '-c'],
      Cmd: ['echo "$GREETING from $(id -u):$(id -g) in $(pwd): $(cat motd)"'],
      WorkingDir: '/srv', User: 'nobody', Env: ['GREETING=hi', 'PATH=/bin'],
    },
  }, 'configured');
  await pushLayout(src, { url: reg.url, repository: 'team/configured', tag: 'v1' }, 'configured');
});

afterAll(async () => {
  await reg?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

const runc = (bundle: string, id: string) => run('runc', ['run', '--bundle', bundle, `oci-tool-unpack-${process.pid}-${id}`]);

describe('unpack', () => {
  it('pulls what is missing, unpacks, and runc runs the command given after --', async () => {
    const bundle = join(work, 'bb');
    const res = await runCli(['unpack', `${reg.host}/library/busybox:latest`, bundle, '--layout', join(work, 'layout'), '--json', '--', 'sh', '-c', 'echo hello']);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    const result = JSON.parse(res.stdout) as { pulled: boolean; layers: number };
    expect(result).toMatchObject({ pulled: true, layers: 1 });
    const out = await runc(bundle, 'hello');
    expect(out.stderr).toBe('');
    expect(out.stdout).toBe('hello\n');
    expect(out.code).toBe(0);
    expect((await runCli(['validate', bundle])).code).toBe(0);
  });

  it('converts Entrypoint, Cmd, WorkingDir, a named User and Env, and runc runs it as that user', async () => {
    const bundle = join(work, 'configured');
    const res = await runCli(['unpack', `${reg.host}/team/configured:v1`, bundle, '--layout', join(work, 'layout'), '-q']);
    expect(res.code).toBe(0);
    const config = JSON.parse(await readFile(join(bundle, 'config.json'), 'utf8')) as { process: { args: string[]; cwd: string; user: { uid: number; gid: number }; env: string[] } };
    expect(config.process.args).toEqual(['sh', '-c', 'echo "$GREETING from $(id -u):$(id -g) in $(pwd): $(cat motd)"']);
    expect(config.process.cwd).toBe('/srv');
    expect(config.process.user).toMatchObject({ uid: 65534, gid: 65534 });
    expect(config.process.env).toContain('GREETING=hi');
    expect(config.process.env).toContain('PATH=/bin');
    const out = await runc(bundle, 'configured');
    expect(out.stdout).toBe('hi from 65534:65534 in /srv: from the image\n');
    expect(out.code).toBe(0);
  });

  it('finds images in the layout by short name, and refuses what it cannot do', async () => {
    const layout = join(work, 'layout');
    const again = await runCli(['unpack', `${reg.host}/library/busybox:latest`, join(work, 'bb2'), '--layout', layout, '--pull', 'never', '--json', '--args', 'true']);
    expect(again.code).toBe(0);
    expect((JSON.parse(again.stdout) as { pulled: boolean }).pulled).toBe(false);

    const missing = await runCli(['unpack', 'nothing:here', join(work, 'bb3'), '--layout', layout, '--pull', 'never']);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toMatch(/no image "nothing:here".*holds:/);

    const notEmpty = await runCli(['unpack', `${reg.host}/library/busybox:latest`, join(work, 'bb'), '--layout', layout, '--pull', 'never']);
    expect(notEmpty.code).toBe(2);
    expect(notEmpty.stderr).toMatch(/not empty \(use --force/);
    const forced = await runCli(['unpack', `${reg.host}/library/busybox:latest`, join(work, 'bb'), '--layout', layout, '--pull', 'never', '--force', '-q', '--', 'echo', 'forced']);
    expect(forced.code).toBe(0);
    expect((await runc(join(work, 'bb'), 'forced')).stdout).toBe('forced\n');
  });

  it('leaves no bundle that looks complete when a layer is corrupt', async () => {
    const layout = join(work, 'layout');
    const index = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8')) as { manifests: Descriptor[] };
    const manifestDesc = index.manifests.find((d) => d.annotations?.['org.opencontainers.image.ref.name']?.endsWith('team/configured:v1'));
    const manifest = JSON.parse(await readFile(join(layout, 'blobs', 'sha256', String(manifestDesc?.digest).slice(7)), 'utf8')) as { layers: Descriptor[] };
    const blob = join(layout, 'blobs', 'sha256', String(manifest.layers[1]?.digest).slice(7));
    const bytes = await readFile(blob);
    bytes[bytes.length - 20] = (bytes[bytes.length - 20] ?? 0) ^ 0xff;
    await chmod(blob, 0o644);
    const { writeFile } = await import('node:fs/promises');
    await writeFile(blob, bytes);
    const bundle = join(work, 'corrupt');
    const res = await runCli(['unpack', `${reg.host}/team/configured:v1`, bundle, '--layout', layout, '--pull', 'never']);
    expect(res.code).toBe(5);
    expect(res.stderr).toContain(String(manifest.layers[1]?.digest));
    expect(res.stderr.trim().split('\n')).toHaveLength(1);
    await expect(stat(join(bundle, 'config.json'))).rejects.toThrow();
    await expect(stat(join(bundle, 'rootfs'))).rejects.toThrow();
  });
});
