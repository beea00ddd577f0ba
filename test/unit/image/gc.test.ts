// gc's reachability: index.json → indexes → manifests → config and layers, referrers kept while
// their subject is, the rest removed; dry runs; partial downloads of processes that are gone.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { mkdir, mkdtemp, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { writeImage, writeIndex, type Descriptor } from '../../../fixtures/build-image.js';
import { layered } from '../../../fixtures/images.js';
import { isOciToolError } from '../../../src/errors.js';
import { collectGarbage } from '../../../src/image/gc.js';
import { Layout } from '../../../src/image/layout.js';
import { EMPTY_MEDIA_TYPE, MANIFEST_MEDIA_TYPE } from '../../../src/image/media-types.js';

let dir: string;
let layout: Layout;
let image: Descriptor;
let multi: Descriptor;

const sha256 = (b: Uint8Array) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const blobFile = (digest: string) => join(dir, 'blobs', 'sha256', digest.slice(7));
const present = (digest: string) => stat(blobFile(digest)).then(() => true, () => false);
const HOUR_AGO = new Date(Date.now() - 3_600_000);

/** The pid of a process that has exited (and, right after, is not reused). */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  await once(child, 'exit');
  return child.pid as number;
}

async function blobs(): Promise<Set<string>> {
  return new Set((await readdir(join(dir, 'blobs', 'sha256'))).map((h) => `sha256:${h}`));
}

/** Stores bytes as a blob and returns its descriptor. */
async function put(data: string | Buffer, mediaType = 'application/octet-stream'): Promise<Descriptor> {
  const bytes = Buffer.from(data);
  const desc = { mediaType, digest: sha256(bytes), size: bytes.length };
  await layout.putBlob(bytes, desc);
  return desc;
}

/** An artifact manifest (a signature, say) with one layer, optionally pointing at a subject. */
async function artifact(name: string, subject?: Descriptor): Promise<{ manifest: Descriptor; config: Descriptor; layer: Descriptor }> {
  const config = await put(`{"artifact":"${name}"}`, EMPTY_MEDIA_TYPE);
  const layer = await put(`payload of ${name}`, 'application/vnd.example.signature');
  const body = {
    schemaVersion: 2, mediaType: MANIFEST_MEDIA_TYPE, artifactType: 'application/vnd.example.signature', config, layers: [layer],
    ...(subject ? { subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size } } : {}),
  };
  const manifest = await put(JSON.stringify(body), MANIFEST_MEDIA_TYPE);
  return { manifest, config, layer };
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'oci-tool-gc-'));
  image = await writeImage(dir, layered(2), 'a');
  multi = await writeIndex(dir, [
    { ...layered(1), platform: { os: 'linux', architecture: 'amd64' } },
    { ...layered(3), platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
  ], 'multi');
  layout = await Layout.open(dir);
  // Layout.putBlob writes its temporary there; the fixture writer does not create it.
  await mkdir(join(dir, '.oci-tool'), { recursive: true });
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('gc reachability', () => {
  it('keeps everything index.json reaches and removes nothing from a clean layout', async () => {
    const before = await blobs();
    // layered(n) layers are shared: 3 layers, a config and manifest per image (3), the index.
    expect(before.size).toBe(3 + 2 * 3 + 1);
    const result = await collectGarbage({ layout: dir });
    expect(result).toMatchObject({ blobs: [], partials: [], staleLeases: [], kept: [], bytesFreed: 0, dryRun: false, liveLeases: 0 });
    expect(await blobs()).toEqual(before);
  });

  it('removes unreferenced blobs and an unreferenced manifest with its config and layers', async () => {
    const before = await blobs();
    const stray = await put('a stray blob');
    const orphan = await artifact('orphan'); // no subject, named nowhere
    const result = await collectGarbage({ layout: dir });
    const removed = [stray, orphan.manifest, orphan.config, orphan.layer];
    expect(new Set(result.blobs.map((b) => b.digest))).toEqual(new Set(removed.map((d) => d.digest)));
    expect(result.bytesFreed).toBe(removed.reduce((n, d) => n + d.size, 0));
    expect(await blobs()).toEqual(before);
  });

  it('keeps referrers whose subject is reachable, and their referrers, with what they reference', async () => {
    const sig = await artifact('signature', image);
    const sigOfSig = await artifact('countersignature', sig.manifest);
    const ofChild = await artifact('sbom of a child', { mediaType: MANIFEST_MEDIA_TYPE, digest: await childDigest(), size: 0 });
    const dangling = await artifact('dangling', { mediaType: MANIFEST_MEDIA_TYPE, digest: sha256(Buffer.from('nothing')), size: 7 });
    const result = await collectGarbage({ layout: dir });
    for (const a of [sig, sigOfSig, ofChild]) {
      for (const d of [a.manifest, a.config, a.layer]) expect(await present(d.digest), d.digest).toBe(true);
    }
    expect(new Set(result.blobs.map((b) => b.digest))).toEqual(new Set([dangling.manifest, dangling.config, dangling.layer].map((d) => d.digest)));
  });

  it('drops the referrers of an image once index.json no longer names it', async () => {
    const sig = await artifact('signature', image);
    await layout.updateIndex((index) => ({ ...index, manifests: index.manifests.filter((d) => d.digest !== image.digest) }));
    const result = await collectGarbage({ layout: dir });
    expect(result.blobs.map((b) => b.digest)).toEqual(expect.arrayContaining([image.digest, sig.manifest.digest, sig.layer.digest]));
    expect(await present(multi.digest)).toBe(true);
  });

  it('a dry run reports the same and removes nothing', async () => {
    const stray = await put('a stray blob');
    await mkdir(join(dir, '.oci-tool', 'ingest'), { recursive: true });
    await writeFile(join(dir, '.oci-tool', 'ingest', `sha256-${'0'.repeat(64)}.data`), 'partial');
    const before = await blobs();
    const dry = await collectGarbage({ layout: dir, dryRun: true });
    expect(dry.dryRun).toBe(true);
    expect(dry.blobs).toEqual([{ digest: stray.digest, size: stray.size }]);
    expect(dry.partials).toHaveLength(1);
    expect(await blobs()).toEqual(before);
    expect(await readdir(join(dir, '.oci-tool', 'ingest'))).toHaveLength(1);
    const real = await collectGarbage({ layout: dir });
    expect(real.blobs).toEqual(dry.blobs);
    expect(real.partials).toEqual(dry.partials);
    expect(real.bytesFreed).toBe(dry.bytesFreed);
  });

  it('refuses to collect when a reachable manifest is damaged, removing nothing', async () => {
    await put('a stray blob');
    const before = await blobs();
    await writeFile(blobFile(image.digest), '{"damaged":true}');
    const err = await collectGarbage({ layout: dir }).catch((e: unknown) => e);
    expect(isOciToolError(err) && err.code).toBe('OCI_ERR_DIGEST_MISMATCH');
    expect(await blobs()).toEqual(before);
  });

  it('does not create a layout where there is none', async () => {
    const err = await collectGarbage({ layout: join(dir, 'nothing') }).catch((e: unknown) => e);
    expect(isOciToolError(err) && err.code).toBe('OCI_ERR_NOT_FOUND');
  });
});

describe('gc of partial files', () => {
  const ingestDir = () => join(dir, '.oci-tool', 'ingest');

  it('removes ingest files whose writer is gone and keeps those a live writer holds', async () => {
    await mkdir(ingestDir(), { recursive: true });
    const [orphan, dead, live] = ['1', '2', '3'].map((c) => join(ingestDir(), `sha256-${c.repeat(64)}`)) as [string, string, string];
    await writeFile(`${orphan}.data`, 'no lock at all');
    await writeFile(`${dead}.data`, 'lock of a dead process');
    await writeFile(`${dead}.lock`, `${await deadPid()} ${hostname()}\n`);
    await writeFile(`${live}.data`, 'being written');
    await writeFile(`${live}.lock`, `${process.pid} ${hostname()}\n`);
    const result = await collectGarbage({ layout: dir });
    expect(result.partials.map((p) => p.path).sort()).toEqual([`${orphan}.data`, `${dead}.data`].sort());
    expect(result.bytesFreed).toBe('no lock at all'.length + 'lock of a dead process'.length);
    const name = `sha256-${'3'.repeat(64)}`;
    expect((await readdir(ingestDir())).sort()).toEqual([`${name}.data`, `${name}.lock`]);
  });

  it("removes old temporaries of dead processes, not a live one's nor a fresh one", async () => {
    const state = join(dir, '.oci-tool');
    const pid = await deadPid();
    await writeFile(join(state, `tmp-${pid}-aaaa`), 'old');
    await utimes(join(state, `tmp-${pid}-aaaa`), HOUR_AGO, HOUR_AGO);
    await writeFile(join(state, `tmp-${pid}-bbbb`), 'fresh');
    await writeFile(join(state, `tmp-${process.pid}-cccc`), 'mine');
    await utimes(join(state, `tmp-${process.pid}-cccc`), HOUR_AGO, HOUR_AGO);
    const result = await collectGarbage({ layout: dir });
    expect(result.partials).toEqual([{ path: join(state, `tmp-${pid}-aaaa`), size: 3 }]);
    expect((await readdir(state)).filter((n) => n.startsWith('tmp-')).sort()).toEqual([`tmp-${pid}-bbbb`, `tmp-${process.pid}-cccc`].sort());
  });
});

async function childDigest(): Promise<string> {
  const index = JSON.parse((await layout.readBlob(multi)).toString('utf8')) as { manifests: Descriptor[] };
  return (index.manifests[1] as Descriptor).digest;
}
