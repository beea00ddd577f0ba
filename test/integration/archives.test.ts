// oci-archive and docker-archive against Debian's skopeo: archives skopeo writes from a fixture
// layout are read by our sources, and archives our sinks write are inspected and copied by skopeo.
// Digests are compared with the layout's: manifest (oci-archive only; docker-archive has no
// manifest of its own), config, and the layers' diff_ids.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeImage, writeIndex, type Descriptor as FixtureDescriptor, type ImageSpec } from '../../fixtures/build-image.js';
import type { Descriptor, ImageConfig, ImageManifest } from '../../src/image/types.js';
import { openDockerArchiveSink, openDockerArchiveSource } from '../../src/transport/docker-archive.js';
import { openOciArchiveSink, openOciArchiveSource } from '../../src/transport/oci-archive.js';
import { run, runCli } from '../support/cli.js';
import { driveSink, layoutSource, readAll, resolveManifest } from '../support/image-source.js';

const sha256 = (b: Uint8Array) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

let dir: string;
let layoutDir: string;
let top: FixtureDescriptor;
let manifest: ImageManifest;
let config: ImageConfig;

// Gzip and plain layers: skopeo must keep both as they are for the manifest digest to survive.
const spec: ImageSpec = {
  layers: [
    { entries: [{ path: 'etc/hello', content: 'hello\n' }, { path: 'bin', type: 'dir' }] },
    { entries: [{ path: 'data.bin', content: { size: 500_000, seed: 42 } }], compression: 'none' },
    { entries: [{ path: 'etc/hello', content: 'hello again\n' }] },
  ],
  config: { Cmd: ['/bin/sh'], Env: ['A=b'] },
};

async function skopeo(...args: string[]): Promise<string> {
  const r = await run('skopeo', ['--insecure-policy', ...args]);
  if (r.code !== 0) throw new Error(`skopeo ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}

const blobPath = (layout: string, digest: string) => join(layout, 'blobs', 'sha256', digest.slice(7));

async function manifestOfLayout(layout: string, ref: string): Promise<{ desc: Descriptor; manifest: ImageManifest; config: ImageConfig; configBytes: Buffer }> {
  const index = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8')) as { manifests: Descriptor[] };
  const desc = index.manifests.find((d) => d.annotations?.['org.opencontainers.image.ref.name'] === ref);
  if (!desc) throw new Error(`${ref} not in ${layout}`);
  const m = JSON.parse(await readFile(blobPath(layout, desc.digest), 'utf8')) as ImageManifest;
  const configBytes = await readFile(blobPath(layout, m.config.digest));
  return { desc, manifest: m, config: JSON.parse(configBytes.toString()) as ImageConfig, configBytes };
}





describe('archives and skopeo', () => {
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'oci-tool-archives-'));
    layoutDir = join(dir, 'layout');
    top = await writeImage(layoutDir, spec, 'v1');
    manifest = JSON.parse(await readFile(blobPath(layoutDir, top.digest), 'utf8')) as ImageManifest;
    config = JSON.parse(await readFile(blobPath(layoutDir, manifest.config.digest), 'utf8')) as ImageConfig;
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads the oci-archive skopeo writes, with the layout\'s manifest digest', async () => {
    const file = join(dir, 'skopeo-oci.tar');
    await skopeo('copy', '--quiet', '--preserve-digests', '--dest-oci-accept-uncompressed-layers', `oci:${layoutDir}:v1`, `oci-archive:${file}:app-ref`);
    const source = await openOciArchiveSource(file, 'app-ref');
    const { manifest: m, descriptor } = await resolveManifest(source);
    expect(descriptor.digest).toBe(top.digest);
    expect(m.config.digest).toBe(manifest.config.digest);
    const cfg = JSON.parse((await readAll(await source.blob(m.config))).toString()) as ImageConfig;
    expect(cfg.rootfs.diff_ids).toEqual(config.rootfs.diff_ids);
    for (const layer of m.layers) expect(sha256(await readAll(await source.blob(layer)))).toBe(layer.digest);
    // The only image needs no name.
    expect((await (await openOciArchiveSource(file)).resolve()).descriptor.digest).toBe(top.digest);
  });

  it('reads the docker-archive skopeo writes: same config, layers uncompressed with the diff_ids', async () => {
    const file = join(dir, 'skopeo-docker.tar');
    await skopeo('copy', '--quiet', `oci:${layoutDir}:v1`, `docker-archive:${file}:busybox:v1`);
    for (const ref of ['busybox:v1', 'docker.io/library/busybox:v1', '@0', undefined]) {
      const source = await openDockerArchiveSource(file, ref);
      const { manifest: m } = await resolveManifest(source);
      expect(m.config.digest).toBe(manifest.config.digest);
      expect(m.layers.map((l) => l.digest)).toEqual(config.rootfs.diff_ids);
      expect(m.layers.every((l) => l.mediaType === 'application/vnd.docker.image.rootfs.diff.tar')).toBe(true);
      const cfg = JSON.parse((await readAll(await source.blob(m.config))).toString()) as ImageConfig;
      expect(cfg.rootfs.diff_ids).toEqual(config.rootfs.diff_ids);
    }
    await expect(openDockerArchiveSource(file, 'busybox:v2')).rejects.toMatchObject({
      code: 'OCI_ERR_NOT_FOUND',
      message: expect.stringContaining('it holds @0 docker.io/library/busybox:v1'),
    });
  });

  it('writes an oci-archive that skopeo inspects and copies with the same digests', async () => {
    const file = join(dir, 'ours-oci.tar');
    await driveSink(await layoutSource(layoutDir, top), await openOciArchiveSink(file, 'app-ref'));
    const inspected = JSON.parse(await skopeo('inspect', `oci-archive:${file}:app-ref`)) as { Digest: string; Layers: string[] };
    expect(inspected.Digest).toBe(top.digest);
    expect(inspected.Layers).toEqual(manifest.layers.map((l) => l.digest));
    expect(sha256(Buffer.from(await skopeo('inspect', '--raw', '--config', `oci-archive:${file}`), 'utf8'))).toBe(manifest.config.digest);

    const out = join(dir, 'from-ours-oci');
    await skopeo('copy', '--quiet', '--preserve-digests', '--dest-oci-accept-uncompressed-layers', `oci-archive:${file}:app-ref`, `oci:${out}:copied`);
    const copied = await manifestOfLayout(out, 'copied');
    expect(copied.desc.digest).toBe(top.digest);
    expect(sha256(copied.configBytes)).toBe(manifest.config.digest);
  });

  it('writes a docker-archive that skopeo inspects and copies with the same config and diff_ids', async () => {
    const file = join(dir, 'ours-docker.tar');
    await driveSink(await layoutSource(layoutDir, top), await openDockerArchiveSink(file, 'example.com/app:v1'));
    const inspected = JSON.parse(await skopeo('inspect', `docker-archive:${file}`)) as { Layers: string[] };
    expect(inspected.Layers).toEqual(config.rootfs.diff_ids);
    expect(sha256(Buffer.from(await skopeo('inspect', '--raw', '--config', `docker-archive:${file}`), 'utf8'))).toBe(manifest.config.digest);

    // Into oci: skopeo converts to an OCI manifest, re-encoding the config; the diff_ids stay.
    const out = join(dir, 'from-ours-docker');
    await skopeo('copy', '--quiet', `docker-archive:${file}:example.com/app:v1`, `oci:${out}:copied`);
    const copied = await manifestOfLayout(out, 'copied');
    expect(copied.config.rootfs.diff_ids).toEqual(config.rootfs.diff_ids);
    // Into dir: the schema 2 manifest and the config bytes are kept as they are.
    const kept = join(dir, 'from-ours-docker-dir');
    await skopeo('copy', '--quiet', `docker-archive:${file}`, `dir:${kept}`);
    const keptManifest = JSON.parse(await readFile(join(kept, 'manifest.json'), 'utf8')) as ImageManifest;
    expect(keptManifest.config.digest).toBe(manifest.config.digest);
    expect(keptManifest.layers.map((l) => l.digest)).toEqual(config.rootfs.diff_ids);
  });

  // Through the built CLI (npm test builds dist/ first), once it has the copy command and these transports.
  it('oci-tool copy moves images into and out of both archive formats', async () => {
    const ociFile = join(dir, 'cli.oci.tar');
    const dockerFile = join(dir, 'cli.docker.tar');
    let r = await runCli(['copy', `oci:${layoutDir}:v1`, `oci-archive:${ociFile}:cli-ref`]);
    expect(r.code, r.stderr).toBe(0);
    expect((await resolveManifest(await openOciArchiveSource(ociFile, 'cli-ref'))).descriptor.digest).toBe(top.digest);
    r = await runCli(['copy', `oci-archive:${ociFile}:cli-ref`, `docker-archive:${dockerFile}:example.com/cli:v1`]);
    expect(r.code, r.stderr).toBe(0);
    const fromDocker = await resolveManifest(await openDockerArchiveSource(dockerFile, 'example.com/cli:v1'));
    expect(fromDocker.manifest.config.digest).toBe(manifest.config.digest);
    expect(fromDocker.manifest.layers.map((l) => l.digest)).toEqual(config.rootfs.diff_ids);
    const out = join(dir, 'cli-out');
    r = await runCli(['copy', `docker-archive:${dockerFile}`, `oci:${out}:back`]);
    expect(r.code, r.stderr).toBe(0);
    const back = await manifestOfLayout(out, 'back');
    expect(sha256(back.configBytes)).toBe(manifest.config.digest);
    expect(back.config.rootfs.diff_ids).toEqual(config.rootfs.diff_ids);

    // An index goes into a docker-archive one platform at a time; whole, it is refused and nothing is written.
    const multi = join(dir, 'multi-layout');
    await writeIndex(multi, [spec, { ...spec, config: { Cmd: ['arm'] }, platform: { os: 'linux', architecture: 'arm64' } }], 'multi');
    const refused = join(dir, 'all.docker.tar');
    r = await runCli(['copy', '--all-platforms', `oci:${multi}:multi`, `docker-archive:${refused}`]);
    expect(r.code).toBe(7);
    expect(r.stderr).toContain('holds a single image');
    expect(existsSync(refused)).toBe(false);
    const arm = join(dir, 'arm.docker.tar');
    r = await runCli(['copy', '--platform', 'linux/arm64', `oci:${multi}:multi`, `docker-archive:${arm}:example.com/arm:1`]);
    expect(r.code, r.stderr).toBe(0);
    const armConfig = JSON.parse((await readAll(await (await openDockerArchiveSource(arm)).blob((await resolveManifest(await openDockerArchiveSource(arm))).manifest.config))).toString()) as ImageConfig;
    expect(armConfig.architecture).toBe('arm64');
  });
});
