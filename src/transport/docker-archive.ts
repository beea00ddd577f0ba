// docker-archive:FILE[:REPO:TAG|:@N] (containers-transports(5)): the `docker save` / `docker load`
// tar. Its manifest.json lists images as {Config, RepoTags, Layers} with paths into the tar: the
// legacy "<hex>.json" + "<id>/layer.tar" style, skopeo's "<hex>.json" + "<diffid>.tar", or (docker
// 25+) "blobs/sha256/<hex>" inside an OCI layout; all are read by following those paths.
// Reading synthesizes a Docker v2 schema 2 manifest over the layer members as they are stored;
// writing stores layers uncompressed, as `docker load` expects, and packs the tar at commit().
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { addAbortSignal, Readable, Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { OciToolError } from '../errors.js';
import { createDecompressor, detectCompression } from '../image/compression.js';
import { DiffIdObserver } from '../image/diffid.js';
import { digestMismatch, digestOf, parseDigest, verifyBytes, VerifyingStream } from '../image/digest.js';
import {
  CONFIG_MEDIA_TYPE, DOCKER_CONFIG_MEDIA_TYPE, DOCKER_LAYER_GZIP_MEDIA_TYPE, DOCKER_MANIFEST_MEDIA_TYPE, layerCompression,
  DOCKER_LAYER_MEDIA_TYPE,
} from '../image/media-types.js';
import { parseManifestDocument, type Descriptor } from '../image/types.js';
import { formatReference, parseReference, type Reference } from '../registry/reference.js';
import { legacyMetadata } from './archive-docker-legacy.js';
import { TarIndex, type TarMember } from './archive-tar.js';
import { makeStagingDir, writeTarAtomically, type TarEntry } from './archive-write.js';
import type { ImageSink, ImageSource } from './types.js';

const MAX_JSON = 16 * 1024 * 1024;

interface ManifestItem {
  readonly Config: string;
  readonly RepoTags: readonly string[];
  readonly Layers: readonly string[];
}

const transportName = (file: string, ref?: string) => `docker-archive:${file}${ref ? `:${ref}` : ''}`;
const isSourceIndex = (ref: string) => /^@\d+$/.test(ref);

export async function openDockerArchiveSource(file: string, ref?: string): Promise<ImageSource> {
  const tar = await TarIndex.open(file);
  const manifestMember = tar.find('manifest.json');
  if (!manifestMember || manifestMember.type !== 'file') {
    const hint = tar.find('oci-layout') ? ' (it looks like an oci-archive)' : '';
    throw new OciToolError('OCI_ERR_LAYOUT', `${file} is not a docker-archive: it has no manifest.json${hint}`);
  }
  const items = parseItems(await tar.read(manifestMember, MAX_JSON, 'manifest.json'), file);
  const item = chooseItem(items, file, ref);

  const configMember = fileMember(tar, item.Config, file);
  const configBytes = await tar.read(configMember, MAX_JSON, `config ${item.Config}`);
  const configDigest = digestOf(configBytes);
  checkNamedDigest(item.Config, configDigest, file);
  const diffIds = diffIdsOf(configBytes, item.Config, file);
  if (diffIds.length !== item.Layers.length) {
    throw new OciToolError('OCI_ERR_INVALID_CONTENT', `config ${item.Config} in ${file} lists ${diffIds.length} diff_ids for ${item.Layers.length} layers in manifest.json`);
  }

  const blobs = new Map<string, TarMember | Buffer>([[configDigest, configBytes]]);
  // The same member may appear more than once (docker save links duplicates); hash it once.
  const examined = new Map<string, { digest: string; diffId: string; gzip: boolean }>();
  const layers: Descriptor[] = [];
  for (const [i, path] of item.Layers.entries()) {
    const member = fileMember(tar, path, file);
    const expected = diffIds[i] as string;
    let seen = examined.get(member.name);
    if (!seen) {
      seen = { ...(await examineLayer(tar, member, `${path} in ${file}`, expected)), diffId: expected };
      checkNamedDigest(path, seen.digest, file);
      examined.set(member.name, seen);
      blobs.set(seen.digest, member);
    } else if (seen.diffId !== expected) {
      throw digestMismatch(`the uncompressed content (diff_id) of layer ${path} in ${file}`, expected, seen.diffId);
    }
    layers.push({ mediaType: seen.gzip ? DOCKER_LAYER_GZIP_MEDIA_TYPE : DOCKER_LAYER_MEDIA_TYPE, digest: seen.digest, size: member.size });
  }

  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: DOCKER_MANIFEST_MEDIA_TYPE,
    config: { mediaType: DOCKER_CONFIG_MEDIA_TYPE, digest: configDigest, size: configBytes.length },
    layers,
  }));
  const descriptor: Descriptor = { mediaType: DOCKER_MANIFEST_MEDIA_TYPE, digest: digestOf(manifest), size: manifest.length };
  return new DockerArchiveSource(transportName(file, ref), file, tar, manifest, descriptor, blobs);
}

function parseItems(bytes: Buffer, file: string): ManifestItem[] {
  const bad = (why: string) => new OciToolError('OCI_ERR_INVALID_CONTENT', `manifest.json in ${file} ${why}`);
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw bad('is not valid JSON');
  }
  if (!Array.isArray(doc)) throw bad('is not a list of images');
  return doc.map((raw: unknown, i) => {
    const it = raw as Record<string, unknown> | null;
    const strings = (v: unknown) => Array.isArray(v) && v.every((s) => typeof s === 'string');
    if (typeof it !== 'object' || it === null || typeof it.Config !== 'string' || !strings(it.Layers)) throw bad(`entry ${i} needs Config and Layers`);
    if (it.RepoTags != null && !strings(it.RepoTags)) throw bad(`entry ${i} has RepoTags that are not strings`);
    return { Config: it.Config, Layers: it.Layers as string[], RepoTags: (it.RepoTags ?? []) as string[] };
  });
}

/** Compares tags in one normal form, so "busybox:1" names "docker.io/library/busybox:1". */
function normalTag(tag: string): string {
  try {
    return formatReference(parseReference(tag));
  } catch {
    return tag;
  }
}

function chooseItem(items: ManifestItem[], file: string, ref: string | undefined): ManifestItem {
  const held = () => items.map((it, i) => `@${i} ${it.RepoTags.length > 0 ? it.RepoTags.join(' ') : '(untagged)'}`).join(', ') || 'no images';
  if (ref !== undefined && isSourceIndex(ref)) {
    const item = items[Number(ref.slice(1))];
    if (!item) throw new OciToolError('OCI_ERR_NOT_FOUND', `${file} has no image ${ref}: it holds ${held()}`);
    return item;
  }
  if (ref !== undefined) {
    const want = parseReference(ref);
    if (want.digest !== undefined) throw new OciToolError('OCI_ERR_BAD_REFERENCE', `docker-archive references cannot contain a digest: "${ref}"`);
    const item = items.find((it) => it.RepoTags.some((t) => normalTag(t) === formatReference(want)));
    if (!item) throw new OciToolError('OCI_ERR_NOT_FOUND', `${file} has no image tagged ${ref}: it holds ${held()}`);
    return item;
  }
  if (items.length === 1) return items[0] as ManifestItem;
  if (items.length === 0) throw new OciToolError('OCI_ERR_NOT_FOUND', `${file} holds no images`);
  throw new OciToolError('OCI_ERR_USAGE', `${file} holds ${items.length} images (${held()}); name one as docker-archive:${file}:REPO:TAG or :@N`);
}

function fileMember(tar: TarIndex, path: string, file: string): TarMember {
  const member = tar.find(path);
  if (!member || member.type !== 'file') throw new OciToolError('OCI_ERR_NOT_FOUND', `${path}, listed in manifest.json, is not a file in ${file}`);
  return member;
}

/** Members named by their digest ("<hex>.json", "blobs/sha256/<hex>") must hold what the name says. */
function checkNamedDigest(path: string, actual: string, file: string): void {
  const m = /^(?:blobs\/sha256\/([a-f0-9]{64})|([a-f0-9]{64})\.json)$/.exec(path.replace(/^\.?\/+/, ''));
  const named = m?.[1] ?? m?.[2];
  if (named !== undefined && `sha256:${named}` !== actual) throw digestMismatch(`${path} in ${file}`, `sha256:${named}`, actual);
}

function diffIdsOf(bytes: Buffer, path: string, file: string): string[] {
  let ids: unknown;
  try {
    ids = (JSON.parse(bytes.toString('utf8')) as { rootfs?: { diff_ids?: unknown } }).rootfs?.diff_ids;
  } catch {
    throw new OciToolError('OCI_ERR_INVALID_CONTENT', `config ${path} in ${file} is not valid JSON`);
  }
  if (!Array.isArray(ids) || !ids.every((d) => typeof d === 'string')) {
    throw new OciToolError('OCI_ERR_INVALID_CONTENT', `config ${path} in ${file} has no rootfs.diff_ids list`);
  }
  for (const d of ids) parseDigest(d, `diff_id in config ${path} of ${file}`);
  return ids;
}

/** One pass over a layer member: its digest as stored, and its diff_id checked against the config. */
async function examineLayer(tar: TarIndex, member: TarMember, what: string, expected: string): Promise<{ digest: string; gzip: boolean }> {
  const kind = detectCompression(await tar.head(member, 4));
  if (kind === 'zstd') throw new OciToolError('OCI_ERR_UNSUPPORTED', `layer ${what} is zstd-compressed, which a Docker schema 2 manifest cannot describe`);
  const hash = createHash('sha256');
  const tap = new Transform({ transform: (chunk: Buffer, _e, cb) => { hash.update(chunk); cb(null, chunk); } });
  // An uncompressed layer's digest is its diff_id, so one hash serves both.
  const observer = kind === 'gzip' || parseDigest(expected).algorithm !== 'sha256' ? new DiffIdObserver(what, expected, kind) : undefined;
  const drain = new Writable({ write: (_c, _e, cb) => cb() });
  await (pipeline as (...s: unknown[]) => Promise<void>)(tar.stream(member), tap, ...(observer ? [observer] : []), drain);
  const digest = `sha256:${hash.digest('hex')}`;
  if (observer) await observer.check();
  else if (digest !== expected) throw digestMismatch(`the uncompressed content (diff_id) of layer ${what}`, expected, digest);
  return { digest, gzip: kind === 'gzip' };
}

class DockerArchiveSource implements ImageSource {
  constructor(
    readonly name: string,
    private readonly file: string,
    private readonly tar: TarIndex,
    private readonly manifestBytes: Buffer,
    private readonly descriptor: Descriptor,
    private readonly blobs: ReadonlyMap<string, TarMember | Buffer>,
  ) {}

  async resolve(): Promise<{ bytes: Buffer; descriptor: Descriptor }> {
    return { bytes: this.manifestBytes, descriptor: this.descriptor };
  }

  async manifest(desc: Descriptor): Promise<Buffer> {
    if (desc.digest !== this.descriptor.digest) throw new OciToolError('OCI_ERR_NOT_FOUND', `manifest ${desc.digest} is not in ${this.file}`);
    return this.manifestBytes;
  }

  async blob(desc: Descriptor, signal?: AbortSignal): Promise<Readable> {
    const found = this.blobs.get(desc.digest);
    if (!found) throw new OciToolError('OCI_ERR_NOT_FOUND', `blob ${desc.digest} is not in ${this.file}`);
    // Checked again as it streams: the file may have changed since it was opened.
    const raw = Buffer.isBuffer(found) ? Readable.from([found]) : this.tar.stream(found);
    const stream = raw.pipe(new VerifyingStream(desc, `blob ${desc.digest} in ${this.file}`));
    raw.on('error', (e) => stream.destroy(e));
    return signal ? addAbortSignal(signal, stream) : stream;
  }

  async close(): Promise<void> {}
}

export async function openDockerArchiveSink(file: string, ref?: string): Promise<ImageSink> {
  let tag: Reference | undefined;
  if (ref !== undefined) {
    if (isSourceIndex(ref)) throw new OciToolError('OCI_ERR_USAGE', `@N chooses an image to read; name the image written to docker-archive:${file} as REPO:TAG`);
    tag = parseReference(ref);
    if (tag.digest !== undefined) throw new OciToolError('OCI_ERR_BAD_REFERENCE', `docker-archive references cannot contain a digest: "${ref}"`);
  }
  return new DockerArchiveSink(transportName(file, ref), file, tag, await makeStagingDir(file));
}

interface StagedLayer {
  readonly path: string;
  readonly diffId: string;
}

interface Image {
  readonly configDigest: string;
  readonly config: Buffer;
  readonly layers: readonly StagedLayer[];
}

const isLayerType = (mt: string) => mt === DOCKER_LAYER_MEDIA_TYPE || layerCompression(mt) !== undefined;

class DockerArchiveSink implements ImageSink {
  private readonly layers = new Map<string, StagedLayer>();
  /** Blobs that are not layers (configs), held in memory: they are small. */
  private readonly small = new Map<string, Buffer>();
  private image?: Image;
  private closed = false;

  constructor(readonly name: string, private readonly file: string, private readonly tag: Reference | undefined, private readonly staging: string) {}

  async hasBlob(desc: Descriptor): Promise<boolean> {
    return this.layers.has(desc.digest) || this.small.has(desc.digest);
  }

  async putBlob(desc: Descriptor, open: () => Promise<Readable>, hint?: { signal?: AbortSignal }): Promise<'exists' | 'written'> {
    if (await this.hasBlob(desc)) return 'exists';
    if (!isLayerType(desc.mediaType) && desc.size > MAX_JSON) {
      throw new OciToolError('OCI_ERR_UNSUPPORTED', `${this.name} holds image configs and layers only; blob ${desc.digest} of type ${desc.mediaType} is neither`);
    }
    const source = await open();
    const input = source.pipe(new VerifyingStream(desc, `blob ${desc.digest} for ${this.file}`));
    source.on('error', (e) => input.destroy(e));
    if (hint?.signal) addAbortSignal(hint.signal, input);
    try {
      if (isLayerType(desc.mediaType)) this.layers.set(desc.digest, await this.stageLayer(desc, input, hint?.signal));
      else this.small.set(desc.digest, Buffer.concat(await input.toArray()));
    } catch (e) {
      source.destroy();
      input.destroy();
      throw e;
    }
    return 'written';
  }

  /** Decompresses a layer (sniffed: gzip, zstd or none) into the staging directory, hashing the result. */
  private async stageLayer(desc: Descriptor, input: Readable, signal?: AbortSignal): Promise<StagedLayer> {
    const { algorithm, hex } = parseDigest(desc.digest);
    const path = join(this.staging, `${algorithm}-${hex}.tar`);
    const chunks = input[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
    const head: Buffer[] = [];
    let ended = false;
    for (let n = 0; n < 4;) {
      const r = await chunks.next();
      if (r.done) {
        ended = true;
        break;
      }
      head.push(r.value);
      n += r.value.length;
    }
    const rest = async function* (): AsyncGenerator<Buffer> {
      yield* head;
      for (let r = ended ? undefined : await chunks.next(); r && !r.done; r = await chunks.next()) yield r.value;
    };
    const hash = createHash('sha256');
    const tap = new Transform({ transform: (chunk: Buffer, _e, cb) => { hash.update(chunk); cb(null, chunk); } });
    try {
      await pipeline(Readable.from(rest()), createDecompressor(detectCompression(Buffer.concat(head))), tap, createWriteStream(path), ...(signal ? [{ signal }] : []));
    } catch (e) {
      await rm(path, { force: true });
      const code = (e as NodeJS.ErrnoException).code;
      if (typeof code === 'string' && code.startsWith('Z_')) {
        throw new OciToolError('OCI_ERR_INVALID_CONTENT', `layer ${desc.digest} for ${this.file} does not decompress: ${(e as Error).message}`);
      }
      throw e;
    }
    return { path, diffId: `sha256:${hash.digest('hex')}` };
  }

  async putManifest(bytes: Buffer, desc: Descriptor, opts: { top: boolean }): Promise<void> {
    verifyBytes(bytes, desc, `manifest ${desc.digest} for ${this.file}`);
    const doc = parseManifestDocument(bytes, desc.mediaType, `manifest ${desc.digest} for ${this.file}`);
    // `docker load` knows nothing of indexes: the caller narrows one to a platform first.
    if (doc.kind === 'index') {
      throw new OciToolError('OCI_ERR_UNSUPPORTED', `${this.name} holds a single image, not an index (${desc.digest}); copy one platform of it`);
    }
    if (!opts.top) {
      throw new OciToolError('OCI_ERR_UNSUPPORTED', `${this.name} holds a single image, not the images of an index (${desc.digest} is one); copy one platform`);
    }
    const { config, layers } = doc.manifest;
    if (config.mediaType !== CONFIG_MEDIA_TYPE && config.mediaType !== DOCKER_CONFIG_MEDIA_TYPE) {
      throw new OciToolError('OCI_ERR_UNSUPPORTED', `${this.name} holds container images only; manifest ${desc.digest} has a config of type ${config.mediaType}`);
    }
    const configBytes = this.small.get(config.digest);
    if (!configBytes) throw new OciToolError('OCI_ERR_NOT_FOUND', `config ${config.digest} was never stored for ${this.file}`);
    const diffIds = diffIdsOf(configBytes, config.digest, this.file);
    if (diffIds.length !== layers.length) {
      throw new OciToolError('OCI_ERR_INVALID_CONTENT', `config ${config.digest} lists ${diffIds.length} diff_ids for ${layers.length} layers of manifest ${desc.digest}`);
    }
    const staged = layers.map((layer, i) => {
      const s = this.layers.get(layer.digest);
      if (!s) throw new OciToolError('OCI_ERR_NOT_FOUND', `layer ${layer.digest} was never stored for ${this.file}`);
      if (s.diffId !== diffIds[i]) throw digestMismatch(`the uncompressed content (diff_id) of layer ${layer.digest}`, diffIds[i] as string, s.diffId);
      return s;
    });
    this.image = { configDigest: config.digest, config: configBytes, layers: staged };
  }

  async commit(signal?: AbortSignal): Promise<void> {
    const image = this.image;
    if (!image) throw new OciToolError('OCI_ERR_INTERNAL', `nothing to write to ${this.file}: no image manifest was stored`);
    await writeTarAtomically(this.file, this.entries(image), signal);
    await this.close();
  }

  /** skopeo's arrangement: "<config-hex>.json", "<diffid-hex>.tar", legacy layer dirs, manifest.json, repositories. */
  private entries(image: Image): TarEntry[] {
    const configName = `${parseDigest(image.configDigest).hex}.json`;
    const layerFile = (l: StagedLayer) => `${parseDigest(l.diffId).hex}.tar`;
    const entries: TarEntry[] = [{ name: configName, type: 'file', bytes: image.config }];
    const seen = new Set<string>();
    for (const l of image.layers) {
      if (seen.has(l.diffId)) continue;
      seen.add(l.diffId);
      entries.push({ name: layerFile(l), type: 'file', path: l.path });
    }
    const tags: [string, string][] = this.tag?.tag !== undefined ? [[`${this.tag.registry}/${this.tag.repository}`, this.tag.tag]] : [];
    const legacy = legacyMetadata(
      JSON.parse(image.config.toString('utf8')) as Record<string, unknown>,
      image.layers.map((l) => ({ diffId: l.diffId, file: layerFile(l) })),
      tags,
    );
    const manifest = [{ Config: configName, RepoTags: tags.map(([name, tag]) => `${name}:${tag}`), Layers: image.layers.map(layerFile) }];
    entries.push(
      ...legacy.entries,
      { name: 'manifest.json', type: 'file', bytes: Buffer.from(JSON.stringify(manifest)) },
      { name: 'repositories', type: 'file', bytes: Buffer.from(JSON.stringify(legacy.repositories)) },
    );
    return entries;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await rm(this.staging, { recursive: true, force: true });
  }
}
