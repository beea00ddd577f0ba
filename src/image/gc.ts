// Layout housekeeping: what the layout's images hold (ls), forgetting names (rm), and deleting
// what nothing names (gc), safely while pulls write into the same layout.
//
// THE GC RULE. gc holds the index lock from start to end, so index.json cannot change under it
// and two gcs never overlap. It lists blobs/ first and reads the leases after (lease.ts), then
// deletes a blob only when all of these hold:
//   1. it is not reachable from index.json (index → manifests → config and layers), nor from a
//      manifest whose `subject` is reachable (signatures, SBOMs and other referrers);
//   2. no live lease retains its digest (a writer found it present and will name it);
//   3. when any lease is live: its mtime is before the oldest live lease's start, less SLACK_MS.
// Why that is enough: a writer takes its lease before it writes anything, and blobs are renamed
// from files written after that (ingests, temporaries; nothing sets their times), so a blob a
// live writer wrote is younger than its lease, and the listing that found the blob came before
// the lease read that finds the lease. A writer about to rely on a blob it found present retains
// it first and then waits for the index lock, so either gc saw the retention or the writer's
// presence check comes after gc's deletions (Lease.retain). Partial downloads are deleted only
// under their ingest lock, which a live writer holds; a lease whose process is gone counts for
// nothing and is deleted.
import { readdir, readFile, rm, stat } from 'node:fs/promises';
import { hostname } from 'node:os';
import { OciToolError, notFound } from '../errors.js';
import { isDigest } from './digest.js';
import { findInLayout, refNames } from './layout-refs.js';
import { Layout, REF_NAME_ANNOTATION, defaultLayoutDir, type StoredBlob } from './layout.js';
import { readLeases, processAlive } from './lease.js';
import { acquireLock, type LockOptions } from './lock.js';
import { CONFIG_MEDIA_TYPE, DOCKER_CONFIG_MEDIA_TYPE, INDEX_MEDIA_TYPE, MANIFEST_MEDIA_TYPE, isIndexMediaType, isManifestMediaType } from './media-types.js';
import { formatPlatform, isAttestationManifest } from './platform.js';
import { parseManifestDocument, type Descriptor, type ImageConfig, type ManifestDocument } from './types.js';

/** Filesystem timestamps may be this coarse (FAT: 2 s); a blob this close to a lease's start is kept. */
export const SLACK_MS = 2_000;
/** Manifests larger than this are not parsed: gc refuses to guess what one references. */
const MAX_DOCUMENT = 16 * 1024 * 1024;
/** Unreferenced blobs up to this size are read to find referrers (registries cap manifests at 4 MiB). */
const MAX_REFERRER = 4 * 1024 * 1024;
/** A temporary of a process gone from this host is deleted once this old (it may be another host's). */
const TEMP_STALE_MS = 60_000;

export interface LayoutOptions {
  /** OCI layout directory; default $OCI_TOOL_LAYOUT or ~/.local/share/oci-tool/layout. */
  layout?: string;
  env?: NodeJS.ProcessEnv;
  signal?: AbortSignal;
}

export interface GcOptions extends LayoutOptions {
  /** Report what would be removed, remove nothing. */
  dryRun?: boolean;
}

export interface GcResult {
  layout: string;
  dryRun: boolean;
  /** Blobs removed (in a dry run: that would be). */
  blobs: { digest: string; size: number }[];
  /** Partial downloads and temporaries of processes that are gone. */
  partials: { path: string; size: number }[];
  /** Lease files of processes that are gone. */
  staleLeases: string[];
  /** Unreferenced blobs kept because a live writer may still name them. */
  kept: { digest: string; size: number }[];
  liveLeases: number;
  bytesFreed: number;
}

export async function collectGarbage(opts: GcOptions = {}): Promise<GcResult> {
  const dir = opts.layout ?? defaultLayoutDir(opts.env);
  const layout = await Layout.open(dir, { create: false });
  const dryRun = opts.dryRun === true;
  return layout.withIndexLock(async () => {
    const index = await layout.readIndex();
    // Listed before the leases are read: see THE GC RULE.
    const listed = await layout.listBlobs();
    const reached = new Set<string>();
    await walk(layout, index.manifests, reached);
    await reachReferrers(layout, listed, reached);
    const leases = await readLeases(layout);
    const live = leases.filter((l) => l.live);
    const retained = new Set(live.flatMap((l) => [...l.digests]));
    const cutoff = live.length ? Math.min(...live.map((l) => l.startMs)) - SLACK_MS : Infinity;

    const result: GcResult = { layout: dir, dryRun, blobs: [], partials: [], staleLeases: [], kept: [], liveLeases: live.length, bytesFreed: 0 };
    for (const blob of listed) {
      if (reached.has(blob.digest)) continue;
      const entry = { digest: blob.digest, size: blob.size };
      if (retained.has(blob.digest) || blob.mtimeMs >= cutoff) {
        result.kept.push(entry);
        continue;
      }
      opts.signal?.throwIfAborted();
      if (!dryRun) await layout.removeBlob(blob.digest);
      result.blobs.push(entry);
    }
    result.partials.push(...(await removePartials(layout, dryRun)));
    for (const lease of leases.filter((l) => !l.live)) {
      if (!dryRun) await rm(lease.path, { force: true });
      result.staleLeases.push(lease.path);
    }
    result.bytesFreed = [...result.blobs, ...result.partials].reduce((n, b) => n + b.size, 0);
    return result;
  }, { signal: opts.signal });
}

/** Adds every blob reachable from `roots` to `reached`; absent manifests end their branch. */
async function walk(layout: Layout, roots: readonly Descriptor[], reached: Set<string>): Promise<void> {
  const todo = [...roots];
  for (let d = todo.pop(); d; d = todo.pop()) {
    if (reached.has(d.digest)) continue;
    reached.add(d.digest);
    if (!isIndexMediaType(d.mediaType) && !isManifestMediaType(d.mediaType)) continue;
    const doc = await readDocument(layout, d);
    if (doc?.kind === 'index') todo.push(...doc.index.manifests);
    else if (doc) todo.push(doc.manifest.config, ...doc.manifest.layers);
  }
}

/** A stored manifest or index, verified and parsed; undefined when absent. A bad one stops gc. */
async function readDocument(layout: Layout, d: Descriptor): Promise<ManifestDocument | undefined> {
  const size = await layout.blobSize(d.digest);
  if (size === undefined) return undefined;
  const where = `manifest ${d.digest} in ${layout.dir}`;
  if (size > MAX_DOCUMENT) throw new OciToolError('OCI_ERR_INVALID_CONTENT', `${where} is ${size} bytes, too large to read what it references`);
  const bytes = await layout.readBlobIfPresent(d.digest);
  return bytes && parseManifestDocument(bytes, d.mediaType, where);
}

/** Referrers stored in the layout but not named: kept while their subject is, with what they reference. */
async function reachReferrers(layout: Layout, listed: readonly StoredBlob[], reached: Set<string>): Promise<void> {
  const referrers: { desc: Descriptor; subject: string }[] = [];
  for (const blob of listed) {
    if (reached.has(blob.digest) || blob.size > MAX_REFERRER) continue;
    const found = await asReferrer(layout, blob);
    if (found) referrers.push(found);
  }
  for (let grew = true; grew;) {
    grew = false;
    for (const r of referrers) {
      if (reached.has(r.desc.digest) || !reached.has(r.subject)) continue;
      await walk(layout, [r.desc], reached);
      grew = true;
    }
  }
}

async function asReferrer(layout: Layout, blob: StoredBlob): Promise<{ desc: Descriptor; subject: string } | undefined> {
  let doc: ManifestDocument;
  try {
    const bytes = await layout.readBlobIfPresent(blob.digest);
    if (!bytes || bytes[0] !== 0x7b) return undefined; // '{': anything else is no manifest
    doc = parseManifestDocument(bytes, undefined, `blob ${blob.digest}`);
  } catch {
    return undefined; // not a manifest (or damaged): plain garbage
  }
  const body = doc.kind === 'index' ? doc.index : doc.manifest;
  if (!body.subject) return undefined;
  const mediaType = body.mediaType ?? (doc.kind === 'index' ? INDEX_MEDIA_TYPE : MANIFEST_MEDIA_TYPE);
  return { desc: { mediaType, digest: blob.digest, size: blob.size }, subject: body.subject.digest };
}

/** Ingest files whose writer is gone (its lock is free or stale) and temporaries of dead processes. */
async function removePartials(layout: Layout, dryRun: boolean): Promise<{ path: string; size: number }[]> {
  const out: { path: string; size: number }[] = [];
  const ingestDir = layout.statePath('ingest');
  for (const name of await readdir(ingestDir).catch(() => [] as string[])) {
    if (!name.endsWith('.data')) continue;
    const data = layout.statePath('ingest', name);
    const lock = `${data.slice(0, -'.data'.length)}.lock`;
    const size = await fileSize(data);
    if (size === undefined) continue;
    if (dryRun) {
      if (!(await lockHeld(lock))) out.push({ path: data, size });
      continue;
    }
    const release = await acquireLock(lock, { timeoutMs: 0 }).catch(() => undefined);
    if (!release) continue; // a live writer is at it
    try {
      // Committed (renamed into blobs/) between the listing and the lock: nothing left to remove.
      const now = await fileSize(data);
      if (now === undefined) continue;
      await rm(data, { force: true });
      out.push({ path: data, size: now });
    } finally {
      await release();
    }
  }
  // Layout.writeAtomic's temporaries: tmp-<pid>-<random>, renamed away at once by a live writer.
  for (const name of await readdir(layout.statePath()).catch(() => [] as string[])) {
    const pid = Number(/^tmp-(\d+)-/.exec(name)?.[1]);
    if (!pid) continue;
    const path = layout.statePath(name);
    const st = await stat(path).catch(() => undefined);
    if (!st?.isFile() || processAlive(pid, hostname()) || Date.now() - st.mtimeMs < TEMP_STALE_MS) continue;
    if (!dryRun) await rm(path, { force: true });
    out.push({ path, size: st.size });
  }
  return out;
}

async function fileSize(path: string): Promise<number | undefined> {
  const st = await stat(path).catch(() => undefined);
  return st?.isFile() ? st.size : undefined;
}

/** Whether a lock file names a process that may still run (read only: for dry runs). */
async function lockHeld(path: string): Promise<boolean> {
  const text = await readFile(path, 'utf8').catch(() => undefined);
  if (text === undefined) return false;
  const [pidText, host = ''] = text.trim().split(' ');
  const pid = Number(pidText);
  return !Number.isInteger(pid) || pid <= 0 || processAlive(pid, host);
}

export interface LayoutImage {
  /** org.opencontainers.image.ref.name, when the entry has one. */
  refName?: string;
  digest: string;
  mediaType: string;
  /** An image's platform (from index.json or its config). */
  platform?: string;
  /** An index's platforms. */
  platforms?: string[];
  /** Bytes of the manifests, configs and layers it references that are present. */
  size: number;
}

/** The images index.json names, in its order. */
export async function listImages(opts: LayoutOptions = {}): Promise<LayoutImage[]> {
  const dir = opts.layout ?? defaultLayoutDir(opts.env);
  const layout = await Layout.open(dir, { create: false });
  const index = await layout.readIndex();
  const out: LayoutImage[] = [];
  for (const d of index.manifests) {
    const reached = new Set<string>();
    await walk(layout, [d], reached);
    let size = 0;
    for (const digest of reached) size += (await layout.blobSize(digest)) ?? 0;
    const refName = d.annotations?.[REF_NAME_ANNOTATION];
    out.push({ ...(refName !== undefined ? { refName } : {}), digest: d.digest, mediaType: d.mediaType, ...(await platformsOf(layout, d)), size });
  }
  return out;
}

async function platformsOf(layout: Layout, d: Descriptor): Promise<{ platform?: string; platforms?: string[] }> {
  if (d.platform) return { platform: formatPlatform(d.platform) };
  const doc = await readDocument(layout, d).catch(() => undefined);
  if (doc?.kind === 'index') {
    return { platforms: doc.index.manifests.flatMap((c) => (c.platform && !isAttestationManifest(c) ? [formatPlatform(c.platform)] : [])) };
  }
  const config = doc?.manifest.config;
  if (!config || (config.mediaType !== CONFIG_MEDIA_TYPE && config.mediaType !== DOCKER_CONFIG_MEDIA_TYPE)) return {};
  try {
    const c = JSON.parse((await layout.readBlob(config)).toString('utf8')) as Partial<ImageConfig>;
    if (typeof c.os !== 'string' || typeof c.architecture !== 'string') return {};
    return { platform: formatPlatform({ os: c.os, architecture: c.architecture, ...(typeof c.variant === 'string' ? { variant: c.variant } : {}) }) };
  } catch {
    return {}; // absent or unreadable config: the platform is unknown, which ls shows
  }
}

export interface RemovedRef {
  refName?: string;
  digest: string;
  mediaType: string;
}

/**
 * Removes the index.json entries REF names (a ref name, a reference as pull names it, or a
 * digest: then every entry with it). The blobs stay until gc.
 */
export async function removeImage(ref: string, opts: LayoutOptions & LockOptions = {}): Promise<RemovedRef[]> {
  const dir = opts.layout ?? defaultLayoutDir(opts.env);
  const layout = await Layout.open(dir, { create: false });
  const found = await findInLayout(layout, ref);
  const unknown = async () => {
    const names = await refNames(layout);
    return notFound(`no image "${ref}" in ${dir}${names.length ? `; it holds: ${names.join(', ')}` : ' (it is empty)'}`);
  };
  if (!found) throw await unknown();
  const name = found.annotations?.[REF_NAME_ANNOTATION];
  // A digest removes every entry with it; a name, the entries carrying it; an unnamed entry, itself.
  const nameOf = (d: Descriptor) => d.annotations?.[REF_NAME_ANNOTATION];
  const matches = isDigest(ref) && name !== ref ? (d: Descriptor) => d.digest === found.digest
    : name !== undefined ? (d: Descriptor) => nameOf(d) === name
      : (d: Descriptor) => d.digest === found.digest && nameOf(d) === undefined;
  const removed: RemovedRef[] = [];
  await layout.updateIndex((index) => {
    removed.push(...index.manifests.filter(matches).map((d) => {
      const n = nameOf(d);
      return { ...(n !== undefined ? { refName: n } : {}), digest: d.digest, mediaType: d.mediaType };
    }));
    return { ...index, manifests: index.manifests.filter((d) => !matches(d)) };
  }, opts);
  // Another process removed it between the look-up and the lock.
  if (removed.length === 0) throw await unknown();
  return removed;
}
