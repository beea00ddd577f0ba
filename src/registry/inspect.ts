// Looking at an image without pulling its layers: the manifest (or index) a reference names, the
// image a platform picks from it, and that image's config. Every manifest and config is checked
// against its digest. The same from a layout (no network), and a repository's tags.
import { OciToolError, usageError } from '../errors.js';
import { findInLayout, refNames } from '../image/layout-refs.js';
import { Layout, REF_NAME_ANNOTATION } from '../image/layout.js';
import { CONFIG_MEDIA_TYPE, DOCKER_CONFIG_MEDIA_TYPE } from '../image/media-types.js';
import { formatPlatform, hostPlatform, isAttestationManifest, parsePlatform, selectManifest } from '../image/platform.js';
import { parseManifestDocument, type Descriptor, type ImageConfig, type ImageIndex, type ImageManifest, type Platform } from '../image/types.js';
import { openRepository, type RemoteOptions } from './open.js';
import { formatReference, parseReference } from './reference.js';
import { readSmallBlob } from './small-blob.js';

/** Configs larger than this are refused (real ones are kilobytes; history makes a few reach 1 MiB). */
export const MAX_CONFIG_BYTES = 16 * 1024 * 1024;

export interface InspectOptions extends RemoteOptions {
  /** Read the image from this OCI layout instead of a registry. */
  layout?: string;
  /** os/arch[/variant] to pick from an index; without it, the host's image is described when there is one. */
  platform?: string | Platform;
  signal?: AbortSignal;
}

export interface InspectedLayer {
  digest: string;
  size: number;
  mediaType: string;
}

export interface InspectedImage {
  digest: string;
  mediaType: string;
  /** Bytes of the manifest. */
  size: number;
  config: { digest: string; size: number; mediaType: string };
  platform?: string;
  created?: string;
  architecture?: string;
  os?: string;
  variant?: string;
  layers: InspectedLayer[];
  /** Manifest, config and layers. */
  totalSize: number;
  labels: Record<string, string>;
  env: string[];
  entrypoint?: string[];
  cmd?: string[];
  workdir?: string;
  user?: string;
}

export interface InspectedPlatform {
  digest: string;
  mediaType: string;
  size: number;
  platform?: string;
  /** A BuildKit provenance/SBOM entry, not a runnable image. */
  attestation?: boolean;
}

export interface InspectResult {
  /** The reference inspected (in a layout: the ref name found). */
  name: string;
  /** Where it was read: registry/repository, or the layout directory. */
  source: string;
  /** The manifest or index the reference names. */
  digest: string;
  mediaType: string;
  size: number;
  /** For an index: its entries. */
  manifests?: InspectedPlatform[];
  hostPlatform: string;
  /** For an index: the entry this host would get. */
  hostDigest?: string;
  /** The image: the manifest itself, or the one picked from an index (absent when nothing matches the host). */
  image?: InspectedImage;
  /** Bytes as served: the top manifest, or with `platform` the picked one; and the image's config. */
  bytes: { manifest: Buffer; config?: Buffer };
}

interface Doc {
  bytes: Buffer;
  digest: string;
  mediaType: string;
}

/** Where manifests and configs come from: a registry repository or a layout. */
interface Source {
  name: string;
  where: string;
  top(): Promise<Doc>;
  /** A manifest by descriptor, verified; undefined when a layout lacks it. */
  manifest(d: Descriptor): Promise<Buffer | undefined>;
  config(d: Descriptor): Promise<Buffer>;
  close(): Promise<void>;
}

export async function inspectImage(reference: string, opts: InspectOptions = {}): Promise<InspectResult> {
  const want = typeof opts.platform === 'string' ? parsePlatform(opts.platform) : opts.platform;
  const source = opts.layout !== undefined ? await layoutSource(opts.layout, reference) : await registrySource(reference, opts);
  try {
    const top = await source.top();
    const host = hostPlatform();
    const parsed = parseManifestDocument(top.bytes, top.mediaType, source.where);
    const result: InspectResult = {
      name: source.name, source: source.where, digest: top.digest, mediaType: top.mediaType, size: top.bytes.length,
      hostPlatform: formatPlatform(host), bytes: { manifest: top.bytes },
    };
    if (parsed.kind === 'manifest') {
      return await describeImage(source, result, top, parsed.manifest, undefined);
    }
    const index = parsed.index;
    result.manifests = index.manifests.map((d) => ({
      digest: d.digest, mediaType: d.mediaType, size: d.size,
      ...(d.platform ? { platform: formatPlatform(d.platform) } : {}), ...(isAttestationManifest(d) ? { attestation: true } : {}),
    }));
    const forHost = pick(index, host, source.where);
    if (forHost) result.hostDigest = forHost.digest;
    const chosen = want ? selectManifest(index, want, source.where) : forHost;
    if (!chosen) return result;
    const bytes = await source.manifest(chosen);
    if (!bytes) {
      if (want) throw new OciToolError('OCI_ERR_NOT_FOUND', `manifest ${chosen.digest} (${formatPlatform(want)}) of ${source.where} is not stored there`);
      return result;
    }
    const child = parseManifestDocument(bytes, chosen.mediaType, `${source.where} (${chosen.digest})`);
    if (child.kind !== 'manifest') throw new OciToolError('OCI_ERR_UNSUPPORTED', `${source.where}: nested image indexes are not supported (${chosen.digest})`);
    if (want) result.bytes.manifest = bytes;
    return await describeImage(source, result, { bytes, digest: chosen.digest, mediaType: chosen.mediaType }, child.manifest, chosen.platform);
  } finally {
    await source.close();
  }
}

function pick(index: ImageIndex, host: Platform, where: string): Descriptor | undefined {
  try {
    return selectManifest(index, host, where);
  } catch (e) {
    if (e instanceof OciToolError && e.code === 'OCI_ERR_PLATFORM_NOT_FOUND') return undefined;
    throw e;
  }
}

async function describeImage(source: Source, result: InspectResult, doc: Doc, manifest: ImageManifest, platform: Platform | undefined): Promise<InspectResult> {
  const configBytes = await source.config(manifest.config);
  result.bytes.config = configBytes;
  const layers = manifest.layers.map((l) => ({ digest: l.digest, size: l.size, mediaType: l.mediaType }));
  const image: InspectedImage = {
    digest: doc.digest, mediaType: doc.mediaType, size: doc.bytes.length,
    config: { digest: manifest.config.digest, size: manifest.config.size, mediaType: manifest.config.mediaType },
    layers, totalSize: doc.bytes.length + manifest.config.size + layers.reduce((n, l) => n + l.size, 0),
    labels: {}, env: [],
  };
  const mt = manifest.config.mediaType;
  if (mt === CONFIG_MEDIA_TYPE || mt === DOCKER_CONFIG_MEDIA_TYPE) Object.assign(image, fromConfig(configBytes, manifest.config.digest));
  const p = image.os && image.architecture ? { os: image.os, architecture: image.architecture, ...(image.variant ? { variant: image.variant } : {}) } : platform;
  if (p) image.platform = formatPlatform(p);
  result.image = image;
  return result;
}

/** The fields `inspect` shows, taken only when they have the expected types. */
function fromConfig(bytes: Buffer, digest: string): Partial<InspectedImage> {
  let c: Partial<ImageConfig>;
  try {
    c = JSON.parse(bytes.toString('utf8')) as Partial<ImageConfig>;
  } catch {
    throw new OciToolError('OCI_ERR_INVALID_CONTENT', `image config ${digest} is not valid JSON`);
  }
  if (typeof c !== 'object' || c === null) throw new OciToolError('OCI_ERR_INVALID_CONTENT', `image config ${digest} is not a JSON object`);
  const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
  const list = (v: unknown) => (Array.isArray(v) && v.every((x) => typeof x === 'string') ? [...v as string[]] : undefined);
  const cfg = (typeof c.config === 'object' && c.config !== null ? c.config : {}) as Record<string, unknown>;
  const labels = typeof cfg.Labels === 'object' && cfg.Labels !== null
    ? Object.fromEntries(Object.entries(cfg.Labels as Record<string, unknown>).filter((e): e is [string, string] => typeof e[1] === 'string')) : {};
  const out: Partial<InspectedImage> = { labels, env: list(cfg.Env) ?? [] };
  const fields: [keyof InspectedImage, unknown][] = [
    ['created', str(c.created)], ['architecture', str(c.architecture)], ['os', str(c.os)], ['variant', str(c.variant)],
    ['entrypoint', list(cfg.Entrypoint)], ['cmd', list(cfg.Cmd)], ['workdir', str(cfg.WorkingDir)], ['user', str(cfg.User)],
  ];
  for (const [k, v] of fields) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}

async function registrySource(reference: string, opts: InspectOptions): Promise<Source> {
  const ref = parseReference(reference);
  const { repository, close } = await openRepository(ref, opts);
  const where = formatReference(ref);
  return {
    name: where, where, close,
    async top() {
      const got = ref.digest
        ? await repository.getManifest(ref.digest, { digest: ref.digest }, opts.signal)
        : await repository.getManifest(ref.tag ?? 'latest', undefined, opts.signal);
      return { bytes: got.bytes, digest: got.digest, mediaType: declaredType(got.bytes) || got.mediaType || '' };
    },
    async manifest(d) {
      return (await repository.getManifest(d.digest, d, opts.signal)).bytes;
    },
    config: (d) => readSmallBlob(repository, d, MAX_CONFIG_BYTES, opts.signal),
  };
}

async function layoutSource(dir: string, reference: string): Promise<Source> {
  const layout = await Layout.open(dir, { create: false });
  const desc = await findInLayout(layout, reference);
  if (!desc) {
    const names = await refNames(layout);
    throw new OciToolError('OCI_ERR_NOT_FOUND', `no image "${reference}" in ${dir}${names.length ? `; it holds: ${names.join(', ')}` : ' (it is empty)'}`);
  }
  const name = desc.annotations?.[REF_NAME_ANNOTATION] ?? reference;
  return {
    name, where: `${name} in ${dir}`, close: async () => {},
    async top() {
      return { bytes: await layout.readBlob(desc), digest: desc.digest, mediaType: desc.mediaType };
    },
    async manifest(d) {
      return (await layout.blobSize(d.digest)) === undefined ? undefined : layout.readBlob(d);
    },
    async config(d) {
      if (d.size > MAX_CONFIG_BYTES) throw new OciToolError('OCI_ERR_INVALID_CONTENT', `config ${d.digest} in ${dir} is ${d.size} bytes, over the ${MAX_CONFIG_BYTES}-byte limit`);
      return layout.readBlob(d);
    },
  };
}

/** The mediaType a manifest declares in its body ('' when none). */
function declaredType(bytes: Buffer): string {
  try {
    const mt = (JSON.parse(bytes.toString('utf8')) as { mediaType?: unknown }).mediaType;
    return typeof mt === 'string' ? mt : '';
  } catch {
    return '';
  }
}

export interface TagList {
  /** registry/repository */
  repository: string;
  tags: string[];
}

/** Every tag of a repository (REPO without tag or digest), following the registry's pages. */
export async function listRepositoryTags(repository: string, opts: RemoteOptions & { pageSize?: number; signal?: AbortSignal } = {}): Promise<TagList> {
  const ref = parseReference(repository);
  const tail = repository.slice(repository.lastIndexOf('/') + 1);
  if (ref.digest !== undefined || tail.includes(':')) throw usageError(`tags takes a repository without tag or digest, not "${repository}"`);
  const { repository: repo, close } = await openRepository(ref, opts);
  try {
    return { repository: repo.name, tags: await repo.listTags({ pageSize: opts.pageSize, signal: opts.signal }) };
  } finally {
    await close();
  }
}
