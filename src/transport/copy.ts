// The copy engine: an image from any source to any sink, as skopeo copy does. Manifests travel byte
// for byte (so digests are kept), blobs are streamed through a digest and size check, each at most
// once, and skipped or mounted when the sink can do without the bytes. The sink names the image
// only after everything it refers to is there.
import { pipeline, Transform, type Readable } from 'node:stream';
import { isOciToolError, OciToolError } from '../errors.js';
import type { BlobKind, ProgressListener } from '../events.js';
import { verifyBytes, VerifyingStream } from '../image/digest.js';
import { INDEX_MEDIA_TYPE, isNonDistributable, MANIFEST_MEDIA_TYPE } from '../image/media-types.js';
import { formatPlatform, hostPlatform, isAttestationManifest, parsePlatform, selectManifest } from '../image/platform.js';
import { parseManifestDocument, type Descriptor, type Platform } from '../image/types.js';
import { DEFAULT_JOBS } from '../registry/defaults.js';
import { runLimited } from '../registry/transfer.js';
import { openSink, openSource, type TransportOptions } from './open.js';
import type { ImageSink, ImageSource } from './types.js';

export interface CopyOptions {
  /** Copy an index whole, every platform (skopeo --all). */
  allPlatforms?: boolean;
  /** os/arch[/variant] to take from an index; default: this host. The sink gets that one manifest. */
  platform?: string | Platform;
  /** Concurrent blob copies. */
  jobs?: number;
  /** Also copy cosign's .sig/.att/.sbom tags and the referrers of every copied manifest. */
  signatures?: boolean;
  signal?: AbortSignal;
  onProgress?: ProgressListener;
}

export interface CopyResult {
  source: string;
  destination: string;
  /** What the destination now names: the index (whole copies), else a manifest. */
  digest: string;
  mediaType: string;
  platform?: string;
  /** With allPlatforms, the platforms the index lists. */
  platforms?: string[];
  manifests: number;
  blobs: { copied: number; skipped: number; mounted: number };
  /** Bytes streamed to the destination. */
  bytes: number;
  /** Attached manifests (signatures, attestations, referrers) copied along. */
  attachments?: number;
}

export interface CopyNamesOptions extends CopyOptions {
  /** Registry options (credentials, TLS, retries) for a docker:// source. */
  sourceOptions?: TransportOptions;
  /** The same for a docker:// destination. */
  destinationOptions?: TransportOptions;
}

interface Manifest {
  bytes: Buffer;
  desc: Descriptor;
}

/** What one copy moves: blobs, then manifests in order (children before their index). */
interface Plan {
  blobs: Map<string, { desc: Descriptor; kind: BlobKind }>;
  manifests: Map<string, Manifest>;
}

/** Opens both names, copies, closes both. */
export async function copy(source: string, destination: string, opts: CopyNamesOptions = {}): Promise<CopyResult> {
  const src = await openSource(source, { onProgress: opts.onProgress, ...opts.sourceOptions });
  try {
    const sink = await openSink(destination, { onProgress: opts.onProgress, ...opts.destinationOptions });
    try {
      return await copyImage(src, sink, opts);
    } finally {
      await sink.close();
    }
  } finally {
    await src.close();
  }
}

export async function copyImage(source: ImageSource, sink: ImageSink, opts: CopyOptions = {}): Promise<CopyResult> {
  const { signal } = opts;
  const emit = opts.onProgress ?? (() => {});
  if (opts.allPlatforms && opts.platform !== undefined) throw new OciToolError('OCI_ERR_USAGE', 'copy: allPlatforms and platform exclude each other');
  const want = opts.allPlatforms ? undefined : typeof opts.platform === 'string' ? parsePlatform(opts.platform) : opts.platform ?? hostPlatform();

  const resolved = await source.resolve(signal);
  verifyBytes(resolved.bytes, resolved.descriptor, source.name);
  const doc = parseManifestDocument(resolved.bytes, resolved.descriptor.mediaType, source.name);
  const top: Manifest = { bytes: resolved.bytes, desc: withMediaType(resolved.descriptor, doc.kind) };
  emit({ type: 'resolved', reference: source.name, digest: top.desc.digest, mediaType: top.desc.mediaType });

  const plan: Plan = { blobs: new Map(), manifests: new Map() };
  // Without allPlatforms an index is narrowed to one image, which the sink gets on its own.
  let named = top;
  if (doc.kind === 'index' && want) {
    const child = selectManifest(doc.index, want, source.name);
    named = { bytes: await childManifest(source, child, signal, false), desc: child };
  }
  await walk(source, named, plan, signal, 0);
  const platforms = doc.kind === 'index' && !want ? doc.index.manifests.flatMap((d) => (d.platform && !isAttestationManifest(d) ? [formatPlatform(d.platform)] : [])) : undefined;

  const stats = { copied: 0, skipped: 0, mounted: 0, bytes: 0 };
  await copyBlobs(source, sink, [...plan.blobs.values()], stats, opts);
  for (const m of plan.manifests.values()) await sink.putManifest(m.bytes, m.desc, { top: m === named, signal });

  let attachments: number | undefined;
  if (opts.signatures) attachments = await copyAttachments(source, sink, [...plan.manifests.keys()], stats, opts);
  await sink.commit(signal);

  return {
    source: source.name,
    destination: sink.name,
    digest: named.desc.digest,
    mediaType: named.desc.mediaType,
    ...(named.desc.platform ? { platform: formatPlatform(named.desc.platform) } : {}),
    ...(platforms ? { platforms } : {}),
    manifests: plan.manifests.size,
    blobs: { copied: stats.copied, skipped: stats.skipped, mounted: stats.mounted },
    bytes: stats.bytes,
    ...(attachments !== undefined ? { attachments } : {}),
  };
}

/** Collects a manifest's blobs, or an index's children (fetched and verified), children first. */
async function walk(source: ImageSource, m: Manifest, plan: Plan, signal: AbortSignal | undefined, depth: number): Promise<void> {
  if (plan.manifests.has(m.desc.digest)) return;
  const where = `${source.name} (${m.desc.digest})`;
  // Content addressing rules out cycles, not absurd depth.
  if (depth > 8) throw new OciToolError('OCI_ERR_UNSUPPORTED', `${where}: image indexes nested more than 8 deep`);
  const doc = parseManifestDocument(m.bytes, m.desc.mediaType, where);
  if (doc.kind === 'index') {
    for (const child of doc.index.manifests) {
      if (plan.manifests.has(child.digest)) continue;
      await walk(source, { bytes: await childManifest(source, child, signal), desc: child }, plan, signal, depth + 1);
    }
  } else {
    plan.blobs.set(doc.manifest.config.digest, { desc: doc.manifest.config, kind: 'config' });
    for (const layer of doc.manifest.layers) {
      // Foreign layers live at their urls; registries take manifests naming them without the bytes.
      if (isNonDistributable(layer.mediaType) && layer.urls?.length) continue;
      if (!plan.blobs.has(layer.digest)) plan.blobs.set(layer.digest, { desc: layer, kind: 'layer' });
    }
  }
  plan.manifests.set(m.desc.digest, m);
}

async function childManifest(source: ImageSource, desc: Descriptor, signal?: AbortSignal, whole = true): Promise<Buffer> {
  const bytes = await source.manifest(desc, signal).catch((e: unknown) => {
    // A layout pulled with all platforms may lack an index's attestations: the index cannot go whole.
    if (!whole || !isOciToolError(e) || e.code !== 'OCI_ERR_NOT_FOUND') throw e;
    const what = desc.platform && !isAttestationManifest(desc) ? formatPlatform(desc.platform) : 'an attestation';
    throw new OciToolError('OCI_ERR_NOT_FOUND', `${source.name} lacks manifest ${desc.digest} (${what}) that its index lists; copy one platform instead`, { cause: e });
  });
  verifyBytes(bytes, desc, `manifest ${desc.digest} of ${source.name}`);
  return bytes;
}

async function copyBlobs(
  source: ImageSource,
  sink: ImageSink,
  blobs: { desc: Descriptor; kind: BlobKind }[],
  stats: { copied: number; skipped: number; mounted: number; bytes: number },
  opts: CopyOptions,
): Promise<void> {
  const { signal } = opts;
  const emit = opts.onProgress ?? (() => {});
  const one = async ({ desc, kind }: { desc: Descriptor; kind: BlobKind }): Promise<void> => {
    let sent = 0;
    // Called only when the sink needs the bytes (not when it has the blob or mounts it), once per attempt.
    const open = async (): Promise<Readable> => {
      emit({ type: 'blob-start', digest: desc.digest, size: desc.size, kind, offset: 0 });
      sent = 0;
      const what = `blob ${desc.digest} of ${source.name}`;
      const tap = new Transform({
        transform(chunk: Buffer, _enc, next) {
          sent += chunk.length;
          emit({ type: 'blob-progress', digest: desc.digest, complete: sent, total: desc.size });
          next(null, chunk);
        },
      });
      // pipeline hands the last stream back and destroys it with any error along the way.
      return pipeline(await source.blob(desc, signal), new VerifyingStream(desc, what), tap, () => {});
    };
    // putBlob itself finds a blob the sink has: one check, not two (a registry's is a request).
    const outcome = await sink.putBlob(desc, open, { ...(source.location ? { from: source.location } : {}), signal });
    if (outcome === 'written') {
      stats.copied++;
      stats.bytes += sent;
    } else if (outcome === 'mounted') {
      stats.mounted++;
    } else {
      stats.skipped++;
    }
    emit({ type: 'blob-done', digest: desc.digest, size: desc.size, kind, skipped: outcome !== 'written' });
  };
  // The first request to a sink settles its scheme and token; the rest may then go in parallel.
  const [first, ...rest] = blobs;
  if (first) await one(first);
  await runLimited(rest, opts.jobs ?? DEFAULT_JOBS, one);
}

/** cosign signatures and referrers of each copied manifest: their blobs, their children, then themselves. */
async function copyAttachments(
  source: ImageSource,
  sink: ImageSink,
  digests: string[],
  stats: { copied: number; skipped: number; mounted: number; bytes: number },
  opts: CopyOptions,
): Promise<number> {
  const emit = opts.onProgress ?? (() => {});
  if (!source.attachments || !sink.putAttachment) {
    emit({ type: 'warning', message: `signatures are not copied from ${source.name} to ${sink.name}: only registries hold them` });
    return 0;
  }
  let count = 0;
  for (const digest of digests) {
    for (const a of await source.attachments(digest, opts.signal)) {
      verifyBytes(a.bytes, a.descriptor, `attachment ${a.descriptor.digest} of ${source.name}`);
      const doc = parseManifestDocument(a.bytes, a.descriptor.mediaType, `${source.name} (${a.descriptor.digest})`);
      const m: Manifest = { bytes: a.bytes, desc: withMediaType(a.descriptor, doc.kind) };
      const plan: Plan = { blobs: new Map(), manifests: new Map() };
      await walk(source, m, plan, opts.signal, 0);
      await copyBlobs(source, sink, [...plan.blobs.values()], stats, opts);
      for (const child of plan.manifests.values()) {
        if (child === m) await sink.putAttachment(m.bytes, m.desc, { ...(a.tag ? { tag: a.tag } : {}), signal: opts.signal });
        else await sink.putManifest(child.bytes, child.desc, { top: false, signal: opts.signal });
      }
      count++;
    }
  }
  return count;
}

/** A descriptor for the sink needs a media type; old manifests may declare none in their body. */
function withMediaType(desc: Descriptor, kind: 'index' | 'manifest'): Descriptor {
  return desc.mediaType ? desc : { ...desc, mediaType: kind === 'index' ? INDEX_MEDIA_TYPE : MANIFEST_MEDIA_TYPE };
}
