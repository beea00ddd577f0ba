// The pull verb: resolve a reference on a registry (mirrors first), choose the platform, fetch and
// verify every manifest and blob into an OCI layout, and only then name the image in index.json.
import { OciToolError } from '../errors.js';
import type { ProgressListener } from '../events.js';
import { readImageConfig } from '../image/config.js';
import { indexToOci, manifestToOci } from '../image/convert.js';
import { Layout, defaultLayoutDir } from '../image/layout.js';
import { Lease } from '../image/lease.js';
import { isNonDistributable, layerCompression } from '../image/media-types.js';
import { formatPlatform, hostPlatform, parsePlatform, selectManifest } from '../image/platform.js';
import { parseManifestDocument, type Descriptor, type ImageIndex, type ImageManifest, type Platform } from '../image/types.js';
import { Connections } from './connections.js';
import { DEFAULT_JOBS } from './defaults.js';
import type { CredentialSource } from './credentials.js';
import { endpointsFor, loadRegistriesConfig } from './mirrors.js';
import { apiHost, defaultRefName, parseReference, type Reference } from './reference.js';
import { RemoteRepository } from './remote.js';
import type { RetryPolicy } from './retry.js';
import { runLimited, transferBlob, type BlobRequest, type BlobSource } from './transfer.js';

export interface PullOptions {
  /** OCI layout directory; default $OCI_TOOL_LAYOUT or ~/.local/share/oci-tool/layout. */
  layout?: string;
  /** os/arch[/variant]; default: this host. */
  platform?: string | Platform;
  allPlatforms?: boolean;
  /** 'source' keeps the registry's manifests byte for byte; 'oci' converts Docker media types. */
  format?: 'source' | 'oci';
  /** Concurrent blob downloads. */
  jobs?: number;
  /** Check each layer's uncompressed digest against the config's diff_ids while it downloads (default true). */
  verifyDiffIds?: boolean;
  /** The org.opencontainers.image.ref.name to write; default: the normalized reference. */
  refName?: string;
  credentials?: CredentialSource;
  /** false: the registries of this pull may use plain HTTP and unverified TLS. */
  tlsVerify?: boolean;
  certDir?: string;
  /** registries.json path (mirrors, insecure registries). */
  registriesConfig?: string;
  /** Mirror locations tried before the configured ones and the origin. */
  mirrors?: string[];
  retry?: Partial<RetryPolicy>;
  /**
   * Called once the reference is resolved to a manifest digest, before any blob is fetched or
   * stored; throwing stops the pull and leaves index.json as it was (a signature policy).
   */
  accept?: (image: ResolvedImage) => Promise<void>;
  signal?: AbortSignal;
  onProgress?: ProgressListener;
  env?: NodeJS.ProcessEnv;
}

export interface ResolvedImage {
  reference: Reference;
  /** The manifest (or index) the reference names. */
  descriptor: Descriptor;
  /** The repository on the reference's own registry, where its signatures live (even when a mirror served it). */
  origin: RemoteRepository;
  signal?: AbortSignal;
}

export interface PullResult {
  reference: string;
  /** Digest of what index.json now names (an index with allPlatforms, else a manifest). */
  digest: string;
  mediaType: string;
  platform?: string;
  platforms?: string[];
  layout: string;
  refName: string;
  /** The registry/repository the manifest came from (a mirror or the origin). */
  source: string;
  blobs: { fetched: number; skipped: number };
  bytes: number;
}

interface Document {
  bytes: Buffer;
  descriptor: Descriptor;
  fetched: boolean;
}

export { DEFAULT_JOBS };

export async function pull(input: string | Reference, opts: PullOptions = {}): Promise<PullResult> {
  const env = opts.env ?? process.env;
  const ref = typeof input === 'string' ? parseReference(input) : input;
  const want = opts.allPlatforms ? undefined : typeof opts.platform === 'string' ? parsePlatform(opts.platform) : opts.platform ?? hostPlatform();
  const layoutDir = opts.layout ?? defaultLayoutDir(env);
  const layout = await Layout.open(layoutDir);
  const config = await loadRegistriesConfig(opts.registriesConfig, env);
  const endpoints = endpointsFor({ registry: ref.registry, repository: ref.repository }, config, opts.mirrors);
  const insecure = endpoints.filter((e) => e.insecure || opts.tlsVerify === false).flatMap((e) => [e.registry, apiHost(e.registry)]);
  const connections = new Connections({ insecureHosts: insecure, certDir: opts.certDir, env });
  const emit = opts.onProgress ?? (() => {});
  const stats = { fetched: 0, skipped: 0, bytes: 0 };
  let lease: Lease | undefined;
  try {
    // Held until index.json names the image, so that gc keeps what this pull writes and reuses.
    lease = await Lease.begin(layout);
    const remotes = endpoints.map((e) => new RemoteRepository(e, { connections, credentials: opts.credentials, retry: opts.retry, onProgress: opts.onProgress }));
    const { remote, top } = await resolveTop(ref, remotes, layout, opts);
    const blobs = new FallbackSource(remotes.slice(remotes.indexOf(remote)));
    const where = defaultRefName(ref);
    emit({ type: 'resolved', reference: where, digest: top.descriptor.digest, mediaType: top.descriptor.mediaType });
    await opts.accept?.({ reference: ref, descriptor: top.descriptor, origin: remotes.at(-1) as RemoteRepository, signal: opts.signal });
    count(stats, top);

    const parsedTop = parseManifestDocument(top.bytes, top.descriptor.mediaType, where);
    const images: { doc: Document; manifest: ImageManifest }[] = [];
    let index: ImageIndex | undefined;
    let children: Descriptor[] = [];
    if (parsedTop.kind === 'index') {
      index = parsedTop.index;
      children = want ? [selectManifest(index, want, where)] : index.manifests.filter((d) => !isAttestation(d));
      for (const child of children) {
        const doc = await fetchManifest(child, blobs, layout, remote, opts.signal);
        count(stats, doc);
        const parsed = parseManifestDocument(doc.bytes, child.mediaType, `${where} (${child.digest})`);
        if (parsed.kind !== 'manifest') throw new OciToolError('OCI_ERR_UNSUPPORTED', `${where}: nested image indexes are not supported (${child.digest})`);
        images.push({ doc: { ...doc, descriptor: { ...child, ...doc.descriptor, platform: child.platform } }, manifest: parsed.manifest });
      }
    } else {
      images.push({ doc: top, manifest: parsedTop.manifest });
    }

    // Retained before the presence checks that skip them (gc.ts explains why that is enough).
    await lease.retain([top.descriptor.digest, ...images.flatMap(({ doc, manifest }) =>
      [doc.descriptor.digest, manifest.config.digest, ...manifest.layers.map((l) => l.digest)])], { signal: opts.signal });

    // Configs first (they name the layers' diff_ids), then all layers at once, deduplicated.
    const layerRequests = new Map<string, BlobRequest>();
    const platforms: string[] = [];
    for (const image of images) {
      const cfg = image.manifest.config;
      const outcome = await transferBlob(blobs, layout, { digest: cfg.digest, size: cfg.size, kind: 'config' }, opts);
      tally(stats, outcome);
      const diffIds = await readDiffIds(layout, image.manifest, where);
      if (diffIds?.platform) platforms.push(diffIds.platform);
      image.manifest.layers.forEach((layer, i) => {
        if (isNonDistributable(layer.mediaType) && layer.urls?.length) {
          emit({ type: 'warning', message: `skipping non-distributable layer ${layer.digest}` });
          return;
        }
        const compression = layerCompression(layer.mediaType);
        const diffId = diffIds?.ids[i];
        layerRequests.set(layer.digest, {
          digest: layer.digest, size: layer.size, kind: 'layer',
          ...(diffId && compression && opts.verifyDiffIds !== false ? { diffId: { digest: diffId, compression } } : {}),
        });
      });
    }
    await runLimited([...layerRequests.values()], opts.jobs ?? DEFAULT_JOBS, async (req) => {
      tally(stats, await transferBlob(blobs, layout, req, opts));
    });

    // Manifests go in after their blobs, children before the index, so what a manifest names is there.
    for (const image of images) await layout.putBlob(image.doc.bytes, image.doc.descriptor);
    if (index) await layout.putBlob(top.bytes, top.descriptor);

    let named: Descriptor;
    if (opts.format === 'oci') {
      named = await convertToOci(layout, lease, images, index, want !== undefined);
    } else {
      named = want && index ? (images[0] as { doc: Document }).doc.descriptor : top.descriptor;
    }
    if (!index && diffPlatform(platforms)) named = { ...named, platform: diffPlatform(platforms) };
    const refName = opts.refName ?? where;
    await layout.setRef(refName, named, { signal: opts.signal });
    return {
      reference: where,
      digest: named.digest,
      mediaType: named.mediaType,
      ...(named.platform ? { platform: formatPlatform(named.platform) } : {}),
      ...(!want && index ? { platforms: children.flatMap((c) => (c.platform ? [formatPlatform(c.platform)] : [])) } : {}),
      layout: layoutDir,
      refName,
      source: remote.name,
      blobs: { fetched: stats.fetched, skipped: stats.skipped },
      bytes: stats.bytes,
    };
  } finally {
    await lease?.release();
    await connections.close();
  }
}

function count(stats: { fetched: number; skipped: number; bytes: number }, doc: Document): void {
  if (doc.fetched) {
    stats.fetched++;
    stats.bytes += doc.bytes.length;
  } else {
    stats.skipped++;
  }
}

function tally(stats: { fetched: number; skipped: number; bytes: number }, o: { skipped: boolean; received: number }): void {
  if (o.skipped) stats.skipped++;
  else stats.fetched++;
  stats.bytes += o.received;
}

function isAttestation(d: Descriptor): boolean {
  return d.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest';
}

function diffPlatform(platforms: string[]): Platform | undefined {
  return platforms.length === 1 ? parsePlatform(platforms[0] as string) : undefined;
}

/** Finds the top manifest on the first endpoint that has it, using the layout's copy when the digest is known. */
async function resolveTop(ref: Reference, remotes: RemoteRepository[], layout: Layout, opts: PullOptions): Promise<{ remote: RemoteRepository; top: Document }> {
  let lastError: unknown;
  for (const remote of remotes) {
    try {
      if (ref.digest) {
        const local = await layout.readBlobIfPresent(ref.digest);
        if (local) return { remote, top: localDocument(local, ref.digest) };
        const got = await remote.getManifest(ref.digest, { digest: ref.digest }, opts.signal);
        return { remote, top: remoteDocument(got) };
      }
      const tag = ref.tag ?? 'latest';
      const head = await remote.headManifest(tag, opts.signal).catch((e: unknown) => {
        if (e instanceof OciToolError && (e.code === 'OCI_ERR_NOT_FOUND' || e.code === 'OCI_ERR_AUTH')) throw e;
        return undefined;
      });
      if (head?.digest) {
        const local = await layout.readBlobIfPresent(head.digest).catch(() => undefined);
        if (local) return { remote, top: localDocument(local, head.digest) };
      }
      return { remote, top: remoteDocument(await remote.getManifest(tag, undefined, opts.signal)) };
    } catch (e) {
      lastError = e;
      if (remote === remotes[remotes.length - 1]) break;
      opts.onProgress?.({ type: 'warning', message: `mirror ${remote.name} failed (${(e as Error).message}); trying the next source` });
    }
  }
  throw lastError;
}

function localDocument(bytes: Buffer, digest: string): Document {
  return { bytes, fetched: false, descriptor: { mediaType: mediaTypeOf(bytes), digest, size: bytes.length } };
}

function remoteDocument(got: { bytes: Buffer; digest: string; mediaType: string | undefined }): Document {
  const mediaType = mediaTypeOf(got.bytes) || got.mediaType || '';
  return { bytes: got.bytes, fetched: true, descriptor: { mediaType, digest: got.digest, size: got.bytes.length } };
}

/** The mediaType a manifest declares in its body ('' when it declares none). */
function mediaTypeOf(bytes: Buffer): string {
  try {
    const mt = (JSON.parse(bytes.toString('utf8')) as { mediaType?: unknown }).mediaType;
    return typeof mt === 'string' ? mt : '';
  } catch {
    return '';
  }
}

async function fetchManifest(desc: Descriptor, source: FallbackSource, layout: Layout, remote: RemoteRepository, signal?: AbortSignal): Promise<Document> {
  if (await layout.hasBlob(desc)) {
    return { bytes: await layout.readBlob(desc), fetched: false, descriptor: { mediaType: desc.mediaType, digest: desc.digest, size: desc.size } };
  }
  const got = await source.first((r) => r.getManifest(desc.digest, desc, signal), remote);
  return { bytes: got.bytes, fetched: true, descriptor: { mediaType: desc.mediaType, digest: desc.digest, size: desc.size } };
}

async function readDiffIds(layout: Layout, manifest: ImageManifest, where: string): Promise<{ ids: readonly string[]; platform?: string } | undefined> {
  const config = await readImageConfig(layout, manifest, where);
  if (!config) return undefined;
  const platform = config.os && config.architecture ? formatPlatform({ os: config.os, architecture: config.architecture, ...(config.variant ? { variant: config.variant } : {}) }) : undefined;
  return { ids: config.rootfs.diff_ids, ...(platform ? { platform } : {}) };
}

async function convertToOci(layout: Layout, lease: Lease, images: { doc: Document; manifest: ImageManifest }[], index: ImageIndex | undefined, single: boolean): Promise<Descriptor> {
  const converted = new Map<string, Descriptor>();
  for (const image of images) {
    const c = manifestToOci(image.manifest, image.doc.descriptor.platform);
    await lease.retain([c.descriptor.digest]);
    await layout.putBlob(c.bytes, c.descriptor);
    converted.set(image.doc.descriptor.digest, c.descriptor);
  }
  if (!index || single) return converted.get((images[0] as { doc: Document }).doc.descriptor.digest) as Descriptor;
  const c = indexToOci(index, converted);
  await lease.retain([c.descriptor.digest]);
  await layout.putBlob(c.bytes, c.descriptor);
  return c.descriptor;
}

/** Blob reads from the endpoint that served the manifest, falling back to later ones (the origin) on 404. */
class FallbackSource implements BlobSource {
  constructor(private readonly remotes: RemoteRepository[]) {}

  get retry(): RetryPolicy {
    return (this.remotes[0] as RemoteRepository).transport.retry;
  }

  openBlob(digest: string, offset: number, signal?: AbortSignal) {
    return this.first((r) => r.openBlob(digest, offset, signal));
  }

  async first<T>(fn: (r: RemoteRepository) => Promise<T>, preferred?: RemoteRepository): Promise<T> {
    const order = preferred ? [preferred, ...this.remotes.filter((r) => r !== preferred)] : this.remotes;
    let lastError: unknown;
    for (const r of order) {
      try {
        return await fn(r);
      } catch (e) {
        lastError = e;
        if (!(e instanceof OciToolError && e.code === 'OCI_ERR_NOT_FOUND')) throw e;
      }
    }
    throw lastError;
  }
}
