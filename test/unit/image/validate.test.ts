import { createHash } from 'node:crypto';
import { cp, mkdtemp, readFile, rm, truncate, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeImage, writeIndex, type Descriptor } from '../../../fixtures/build-image.js';
import { busybox, multiArch } from '../../../fixtures/images.js';
import { validateLayout } from '../../../src/image/validate.js';

type Manifest = { mediaType: string; config: Descriptor; layers: Descriptor[] };
type Index = { schemaVersion: 2; mediaType: string; manifests: Descriptor[] };

const REF = 'org.opencontainers.image.ref.name';
const BUSYBOX = 'docker.io/library/busybox:latest';
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';

let work: string;
let pristine: string;
let single: Descriptor;
let multi: Descriptor;
let n = 0;

// One layout holds an OCI image, an OCI index and a Docker manifest list; each test breaks a copy.
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'oci-tool-validate-layout-'));
  pristine = join(work, 'pristine');
  single = await writeImage(pristine, busybox(), BUSYBOX);
  multi = await writeIndex(pristine, multiArch(), 'multi');
  await writeIndex(pristine, multiArch().slice(1), 'docker', 'docker');
});
afterAll(async () => { await rm(work, { recursive: true, force: true }); });

async function copy(): Promise<string> {
  const dir = join(work, `l${n++}`);
  await cp(pristine, dir, { recursive: true });
  return dir;
}

const hex = (digest: string) => digest.slice('sha256:'.length);
const blobPath = (dir: string, digest: string) => join(dir, 'blobs', 'sha256', hex(digest));
const readBlob = async <T>(dir: string, digest: string) => JSON.parse(await readFile(blobPath(dir, digest), 'utf8')) as T;

async function putJson(dir: string, doc: unknown, mediaType: string): Promise<Descriptor> {
  const bytes = Buffer.from(JSON.stringify(doc));
  const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  await writeFile(blobPath(dir, digest), bytes);
  return { mediaType, digest, size: bytes.length };
}

async function addEntry(dir: string, desc: Descriptor, name: string): Promise<void> {
  const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as Index;
  index.manifests.push({ ...desc, annotations: { [REF]: name } });
  await writeFile(join(dir, 'index.json'), JSON.stringify(index));
}

const rules = (problems: { rule: string }[]) => problems.map((p) => p.rule);

describe('validateLayout', () => {
  it('accepts a good layout, whole or by ref name, short name or digest', async () => {
    expect(await validateLayout(pristine)).toEqual({ target: pristine, ok: true, problems: [] });
    for (const ref of [BUSYBOX, 'busybox', 'multi', 'docker', multi.digest]) {
      expect((await validateLayout(pristine, ref)).problems).toEqual([]);
    }
  });

  it('reports a missing blob at the descriptor that names it', async () => {
    const dir = await copy();
    const m = await readBlob<Manifest>(dir, single.digest);
    await unlink(blobPath(dir, m.config.digest));
    const { ok, problems } = await validateLayout(dir, BUSYBOX);
    expect(ok).toBe(false);
    expect(problems).toEqual([{ pointer: `blobs/sha256/${hex(single.digest)}#/config`, rule: 'blob.missing', message: expect.stringContaining(m.config.digest) }]);
  });

  it('reports a corrupted blob once, though two images share it', async () => {
    const dir = await copy();
    const layer = (await readBlob<Manifest>(dir, single.digest)).layers[0]!;
    const bytes = await readFile(blobPath(dir, layer.digest));
    bytes[bytes.length >> 1]! ^= 0xff;
    await writeFile(blobPath(dir, layer.digest), bytes);
    const { problems } = await validateLayout(dir);
    expect(problems).toEqual([{ pointer: `blobs/sha256/${hex(single.digest)}#/layers/0`, rule: 'blob.digest', message: expect.stringMatching(/^digest mismatch/) }]);
  });

  it('reports a truncated blob', async () => {
    const dir = await copy();
    const layer = (await readBlob<Manifest>(dir, single.digest)).layers[0]!;
    await truncate(blobPath(dir, layer.digest), layer.size - 10);
    expect((await validateLayout(dir, BUSYBOX)).problems).toEqual([
      { pointer: `blobs/sha256/${hex(single.digest)}#/layers/0`, rule: 'blob.size', message: expect.stringContaining(`${layer.size - 10} bytes`) },
    ]);
  });

  it('checks only the chosen image', async () => {
    const dir = await copy();
    const index = await readBlob<Index>(dir, multi.digest);
    const arm = await readBlob<Manifest>(dir, index.manifests[1]!.digest);
    await unlink(blobPath(dir, arm.layers[0]!.digest));
    expect((await validateLayout(dir, BUSYBOX)).ok).toBe(true);
    expect(rules((await validateLayout(dir, 'multi')).problems)).toEqual(['blob.missing']);
  });

  it('reports an index.json that is not JSON', async () => {
    const dir = await copy();
    await writeFile(join(dir, 'index.json'), '{"schemaVersion": 2, ');
    expect((await validateLayout(dir)).problems).toEqual([{ pointer: 'index.json#', rule: 'json.parse', message: expect.stringMatching(/^is not valid JSON/) }]);
  });

  it('reports an index.json that fails the index schema', async () => {
    const dir = await copy();
    await writeFile(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 3, manifests: [] }));
    expect((await validateLayout(dir)).problems).toEqual([{ pointer: 'index.json#/schemaVersion', rule: 'index.schema', message: 'must be 2' }]);
  });

  it('reports a manifest that fails the manifest schema', async () => {
    const dir = await copy();
    const m = await readBlob<Manifest>(dir, single.digest);
    const bad = await putJson(dir, { schemaVersion: 2, mediaType: OCI_MANIFEST, config: m.config }, OCI_MANIFEST);
    await addEntry(dir, bad, 'bad');
    expect((await validateLayout(dir, 'bad')).problems).toEqual([
      { pointer: `blobs/sha256/${hex(bad.digest)}#/layers`, rule: 'manifest.schema', message: 'is required' },
    ]);
  });

  it('reports a manifest whose media type differs from its descriptor', async () => {
    const dir = await copy();
    const m = await readBlob<Manifest>(dir, single.digest);
    const bad = await putJson(dir, { ...m, mediaType: 'application/vnd.oci.image.index.v1+json' }, OCI_MANIFEST);
    await addEntry(dir, bad, 'bad');
    expect(rules((await validateLayout(dir, 'bad')).problems)).toEqual(['manifest.mediaType']);
  });

  it('checks Docker manifests structurally', async () => {
    const dir = await copy();
    const bad = await putJson(dir, { schemaVersion: 2, mediaType: DOCKER_MANIFEST, config: { digest: 'x' }, layers: [] }, DOCKER_MANIFEST);
    await addEntry(dir, bad, 'bad');
    expect((await validateLayout(dir, 'bad')).problems).toEqual([
      { pointer: `blobs/sha256/${hex(bad.digest)}#`, rule: 'manifest.structure', message: expect.stringContaining('config.mediaType is missing') },
    ]);
  });

  it('checks image configs against the schema and the number of diff_ids', async () => {
    const dir = await copy();
    const m = await readBlob<Manifest>(dir, single.digest);
    const config = await readBlob<{ rootfs: { diff_ids: string[] }; os: unknown }>(dir, m.config.digest);
    const extra = await putJson(dir, { ...config, os: 7, rootfs: { type: 'layers', diff_ids: [...config.rootfs.diff_ids, config.rootfs.diff_ids[0]] } }, m.config.mediaType);
    const bad = await putJson(dir, { ...m, config: extra }, OCI_MANIFEST);
    await addEntry(dir, bad, 'bad');
    const at = `blobs/sha256/${hex(extra.digest)}#`;
    expect((await validateLayout(dir, 'bad')).problems).toEqual([
      { pointer: `${at}/os`, rule: 'config.schema', message: 'must be string' },
      { pointer: `${at}/rootfs/diff_ids`, rule: 'config.diffIds', message: `has 2 entries, but blobs/sha256/${hex(bad.digest)} has 1 layer` },
    ]);
  });

  it('reports a missing or unknown oci-layout', async () => {
    const dir = await copy();
    await unlink(join(dir, 'oci-layout'));
    expect((await validateLayout(dir)).problems).toEqual([{ pointer: 'oci-layout#', rule: 'layout.marker', message: expect.stringContaining('missing') }]);
    await writeFile(join(dir, 'oci-layout'), '{"imageLayoutVersion":"2.0.0"}');
    expect(rules((await validateLayout(dir)).problems)).toEqual(['layout.version']);
  });

  it('names the images a layout has when the ref is unknown', async () => {
    const report = await validateLayout(pristine, 'nothing:here');
    expect(report.ok).toBe(false);
    expect(report.problems).toEqual([{
      pointer: 'index.json#/manifests', rule: 'ref.unknown', message: `no image named "nothing:here"; index.json names ${BUSYBOX}, multi, docker`,
    }]);
  });

  it('reports a descriptor with an unusable digest', async () => {
    const dir = await copy();
    await addEntry(dir, { mediaType: OCI_MANIFEST, digest: 'md5:abc', size: 3 }, 'md5');
    expect((await validateLayout(dir, 'md5')).problems).toEqual([
      { pointer: 'index.json#/manifests/3/digest', rule: 'descriptor.digest', message: expect.stringContaining('unsupported digest algorithm') },
    ]);
  });
});
