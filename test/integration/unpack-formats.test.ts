// unpack beyond gzip and root: zstd layers (and a zstd layer declared as gzip), a decompression
// bomb stopped by --max-bytes, and an unpack by an unprivileged user whose rootless bundle runc runs
// as that user.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, chown, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeImage, type Descriptor } from '../../fixtures/build-image.js';
import { busybox } from '../../fixtures/images.js';
import { CLI, run, runCli } from '../support/cli.js';
import { file, tarBuffer } from '../support/tar.js';

const exec = promisify(execFile);
let work: string;
let layout: string;

async function putBlob(bytes: Buffer): Promise<{ digest: string; size: number }> {
  const hex = createHash('sha256').update(bytes).digest('hex');
  await writeFile(join(layout, 'blobs', 'sha256', hex), bytes);
  return { digest: `sha256:${hex}`, size: bytes.length };
}

/** An image of one layer, given as stored bytes with a declared media type and its diff_id. */
async function imageOf(name: string, layer: Buffer, mediaType: string, diffId: string): Promise<void> {
  const config = await putBlob(Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [diffId] }, config: { Cmd: ['sh'] } })));
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
    layers: [{ mediaType, ...(await putBlob(layer)) }],
  }));
  const m = await putBlob(manifest);
  const index = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8')) as { manifests: Descriptor[] };
  index.manifests.push({ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...m, annotations: { 'org.opencontainers.image.ref.name': name } });
  await writeFile(join(layout, 'index.json'), JSON.stringify(index));
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'oci-tool-formats-'));
  layout = join(work, 'layout');
  await writeImage(layout, busybox(), 'busybox');
  const tar = await tarBuffer([file('hello.txt', 'hello from zstd\n')]);
  const tarPath = join(work, 'layer.tar');
  await writeFile(tarPath, tar);
  await exec('zstd', ['-q', '-f', tarPath, '-o', `${tarPath}.zst`]);
  const zst = await readFile(`${tarPath}.zst`);
  const diffId = `sha256:${createHash('sha256').update(tar).digest('hex')}`;
  await imageOf('zstd', zst, 'application/vnd.oci.image.layer.v1.tar+zstd', diffId);
  await imageOf('zstd-as-gzip', zst, 'application/vnd.oci.image.layer.v1.tar+gzip', diffId);
  await imageOf('wrong-diff-id', zst, 'application/vnd.oci.image.layer.v1.tar+zstd', `sha256:${'0'.repeat(64)}`);
  // 64 MiB of zeros in one file: a few kB compressed.
  const bomb = await tarBuffer([file('zeros', Buffer.alloc(64 * 1024 * 1024))]);
  await imageOf('bomb', gzipSync(bomb), 'application/vnd.oci.image.layer.v1.tar+gzip', `sha256:${createHash('sha256').update(bomb).digest('hex')}`);
});

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe('unpack formats and limits', () => {
  it('applies a zstd layer and refuses one whose bytes contradict its media type', async () => {
    const ok = await runCli(['unpack', 'zstd', join(work, 'z1'), '--layout', layout, '--pull', 'never', '-q']);
    expect(ok.stderr).toBe('');
    expect(ok.code).toBe(0);
    expect(await readFile(join(work, 'z1', 'rootfs', 'hello.txt'), 'utf8')).toBe('hello from zstd\n');

    const bad = await runCli(['unpack', 'zstd-as-gzip', join(work, 'z2'), '--layout', layout, '--pull', 'never']);
    expect(bad.code).toBe(5);
    expect(bad.stderr).toMatch(/declared as gzip .* but its bytes are zstd/);
    await expect(stat(join(work, 'z2', 'rootfs'))).rejects.toThrow();
  });

  it('refuses a layer whose tar does not match the config diff_id, leaving no rootfs', async () => {
    const res = await runCli(['unpack', 'wrong-diff-id', join(work, 'd1'), '--layout', layout, '--pull', 'never']);
    expect(res.code).toBe(5);
    expect(res.stderr).toMatch(/diff_id\) of layer sha256:[0-9a-f]{64}: expected sha256:0{64}/);
    await expect(stat(join(work, 'd1', 'rootfs'))).rejects.toThrow();
    await expect(stat(join(work, 'd1', 'config.json'))).rejects.toThrow();
  });

  it('stops a decompression bomb at --max-bytes', async () => {
    const res = await runCli(['unpack', 'bomb', join(work, 'b1'), '--layout', layout, '--pull', 'never', '--max-bytes', '16m']);
    expect(res.code).toBe(5);
    expect(res.stderr).toMatch(/limit of 16777216 uncompressed bytes/);
    await expect(stat(join(work, 'b1', 'rootfs'))).rejects.toThrow();
  });

  it('unpacks as an unprivileged user into a rootless bundle that runc runs as that user', async () => {
    const home = join(work, 'nobody');
    await mkdir(join(home, 'runc'), { recursive: true });
    await chown(home, 65534, 65534);
    await chown(join(home, 'runc'), 65534, 65534);
    await chmod(work, 0o755);
    const asNobody = ['--reuid', '65534', '--regid', '65534', '--clear-groups', 'env', `HOME=${home}`, `PATH=${process.env.PATH}`];
    const bundle = join(home, 'bundle');
    const res = await run('setpriv', [...asNobody, process.execPath, CLI, 'unpack', 'busybox', bundle, '--layout', layout, '--pull', 'never', '-q', '--', 'sh', '-c', 'echo rootless as $(id -u) in a namespace']);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    const config = JSON.parse(await readFile(join(bundle, 'config.json'), 'utf8')) as { linux: { uidMappings: unknown[]; namespaces: { type: string }[]; resources?: unknown } };
    expect(config.linux.uidMappings).toEqual([{ containerID: 0, hostID: 65534, size: 1 }]);
    expect(config.linux.namespaces.map((n) => n.type)).toContain('user');
    expect((await stat(join(bundle, 'rootfs', 'bin', 'busybox'))).uid).toBe(65534);
    const out = await run('setpriv', [...asNobody, `XDG_RUNTIME_DIR=${join(home, 'runc')}`, 'runc', '--root', join(home, 'runc'), 'run', '--bundle', bundle, `oci-tool-rootless-${process.pid}`]);
    expect(out.stdout).toBe('rootless as 0 in a namespace\n');
    expect(out.code).toBe(0);
  });
});
