// The unpack verb: find (or pull) an image in a layout, apply its layers in order into
// BUNDLE/rootfs, then write BUNDLE/config.json converted from the image config. config.json is
// written last and atomically, and a failed unpack removes the rootfs it made, so a bundle that
// looks complete is complete.
import { mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { OciToolError } from '../errors.js';
import type { ProgressListener } from '../events.js';
import { applyOptions, type GenerateOptions } from '../generate/options.js';
import { marshalSpec } from '../generate/go-json.js';
import type { Spec } from '../generate/spec.js';
import { readImageConfig } from '../image/config.js';
import { Layout, defaultLayoutDir } from '../image/layout.js';
import { findInLayout, refNames } from '../image/layout-refs.js';
import { formatPlatform, hostPlatform, parsePlatform, selectManifest } from '../image/platform.js';
import { assertValid } from '../image/schema.js';
import { parseManifestDocument, type Descriptor, type ImageConfig, type ImageManifest, type Platform } from '../image/types.js';
import type { PullOptions } from '../registry/pull.js';
import { applyLayer, type ApplyStats, type IdMapping } from './apply.js';
import { toRuntimeSpec } from './convert.js';
import { openLayerTar } from './layer.js';

export interface UnpackOptions {
  layout?: string;
  platform?: string | Platform;
  /** missing (default): pull when the layout lacks the image; always: pull first; never. */
  pull?: 'missing' | 'always' | 'never';
  /** Passed to pull (credentials, TLS, mirrors…). */
  pullOptions?: Omit<PullOptions, 'layout' | 'platform' | 'onProgress' | 'signal'>;
  /** Write a rootless config; without root privileges the layers are applied rootless anyway. */
  rootless?: boolean;
  uidMap?: IdMapping[];
  gidMap?: IdMapping[];
  /** Replace BUNDLE/rootfs and BUNDLE/config.json when the bundle is not empty. */
  force?: boolean;
  /** generate options applied to the converted config. */
  generate?: GenerateOptions;
  maxEntries?: number;
  maxBytes?: number;
  onProgress?: ProgressListener;
  signal?: AbortSignal;
}

export interface UnpackResult {
  bundle: string;
  reference: string;
  manifest: string;
  platform?: string;
  layers: number;
  stats: ApplyStats;
  pulled: boolean;
}

/** Per-layer caps against decompression bombs; --max-bytes and --max-entries change them. */
export const DEFAULT_MAX_BYTES = 64 * 1024 ** 3;
export const DEFAULT_MAX_ENTRIES = 4_000_000;

export async function unpack(ref: string, bundleDir: string, opts: UnpackOptions = {}): Promise<UnpackResult> {
  const layoutDir = opts.layout ?? defaultLayoutDir();
  const want = typeof opts.platform === 'string' ? parsePlatform(opts.platform) : opts.platform ?? hostPlatform();
  const bundle = resolve(bundleDir);
  await prepareBundle(bundle, opts.force === true);

  let pulled = false;
  const layout = await Layout.open(layoutDir);
  // A signature policy is checked against the registry, so the reference is resolved there each
  // time (present blobs are not fetched again).
  const verifying = opts.pullOptions?.accept !== undefined;
  if (verifying && opts.pull === 'never') throw new OciToolError('OCI_ERR_USAGE', 'a signature policy needs the registry: it cannot be combined with pull "never"');
  let desc = opts.pull === 'always' || verifying ? undefined : await findInLayout(layout, ref);
  if (!desc) {
    if (opts.pull === 'never') {
      const names = await refNames(layout);
      throw new OciToolError('OCI_ERR_NOT_FOUND', `no image "${ref}" in ${layoutDir}${names.length ? `; it holds: ${names.join(', ')}` : ' (it is empty)'}`);
    }
    const { pull } = await import('../registry/pull.js');
    const result = await pull(ref, { ...opts.pullOptions, layout: layoutDir, platform: want, onProgress: opts.onProgress, signal: opts.signal });
    pulled = true;
    desc = await findInLayout(layout, result.refName);
    if (!desc) throw new OciToolError('OCI_ERR_LAYOUT', `pulled ${ref} but ${layoutDir} does not name it`);
  }

  const { manifestDesc, manifest } = await imageManifest(layout, desc, want, ref);
  const config = await imageConfig(layout, manifest, ref);
  const diffIds = config.rootfs.diff_ids;
  const rootfs = join(bundle, 'rootfs');
  const rootless = opts.rootless === true || process.getuid?.() !== 0;
  const total: ApplyStats = { entries: 0, files: 0, dirs: 0, symlinks: 0, hardlinks: 0, whiteouts: 0, skippedDevices: 0, skippedXattrs: 0, bytes: 0 };
  try {
    await mkdir(rootfs, { mode: 0o755 });
    for (const [i, layer] of manifest.layers.entries()) {
      opts.signal?.throwIfAborted();
      opts.onProgress?.({ type: 'blob-start', digest: layer.digest, size: layer.size, kind: 'layer', offset: 0 });
      const { tar, verified } = await openLayerTar(layout, layer, diffIds[i]);
      // A failed check stops the apply at once, whether or not the tar reader is still reading.
      const stop = new AbortController();
      verified.catch((e: unknown) => stop.abort(e));
      const signal = opts.signal ? AbortSignal.any([opts.signal, stop.signal]) : stop.signal;
      const stats = await applyLayer(tar, rootfs, {
        rootless: process.getuid?.() !== 0, uidMap: opts.uidMap, gidMap: opts.gidMap,
        maxBytes: opts.maxBytes ?? DEFAULT_MAX_BYTES, maxEntries: opts.maxEntries ?? DEFAULT_MAX_ENTRIES,
        onWarning: (message) => opts.onProgress?.({ type: 'warning', message: `layer ${layer.digest}: ${message}` }),
        signal,
      });
      // Drain what the tar reader left (trailing blocks) so that the checks see every byte.
      tar.resume();
      await verified;
      for (const k of Object.keys(total) as (keyof ApplyStats)[]) total[k] += stats[k];
      opts.onProgress?.({ type: 'blob-done', digest: layer.digest, size: layer.size, kind: 'layer', skipped: false });
    }
    const spec = await runtimeConfig(config, rootfs, manifest, rootless, opts);
    const tmp = join(bundle, `.config.json.tmp-${process.pid}`);
    await writeFile(tmp, `${JSON.stringify(spec, null, 2)}\n`);
    await rename(tmp, join(bundle, 'config.json'));
  } catch (e) {
    await rm(rootfs, { recursive: true, force: true }).catch(() => {});
    throw e;
  }
  return {
    bundle, reference: ref, manifest: manifestDesc.digest,
    ...(manifestDesc.platform ? { platform: formatPlatform(manifestDesc.platform) } : {}),
    layers: manifest.layers.length, stats: total, pulled,
  };
}

async function prepareBundle(bundle: string, force: boolean): Promise<void> {
  const entries = await readdir(bundle).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return [] as string[];
    throw new OciToolError('OCI_ERR_USAGE', `cannot use bundle ${bundle}: ${e.code ?? e.message}`);
  });
  if (entries.length > 0) {
    if (!force) throw new OciToolError('OCI_ERR_USAGE', `bundle ${bundle} is not empty (use --force to replace its rootfs and config.json)`);
    await rm(join(bundle, 'rootfs'), { recursive: true, force: true });
    await rm(join(bundle, 'config.json'), { force: true });
  }
  await mkdir(bundle, { recursive: true });
}

async function imageManifest(layout: Layout, desc: Descriptor, want: Platform, ref: string): Promise<{ manifestDesc: Descriptor; manifest: ImageManifest }> {
  let current = desc;
  for (let depth = 0; depth < 4; depth++) {
    const doc = parseManifestDocument(await layout.readBlob(current), current.mediaType, `${ref} (${current.digest})`);
    if (doc.kind === 'manifest') return { manifestDesc: current, manifest: doc.manifest };
    current = selectManifest(doc.index, want, ref);
  }
  throw new OciToolError('OCI_ERR_INVALID_CONTENT', `${ref}: image indexes nested too deeply`);
}

async function imageConfig(layout: Layout, manifest: ImageManifest, ref: string): Promise<ImageConfig> {
  const config = await readImageConfig(layout, manifest, ref);
  if (!config) throw new OciToolError('OCI_ERR_UNSUPPORTED', `${ref} is not a container image (config media type ${manifest.config.mediaType})`);
  return config;
}

async function runtimeConfig(config: ImageConfig, rootfs: string, manifest: ImageManifest, rootless: boolean, opts: UnpackOptions): Promise<Spec> {
  const spec = await toRuntimeSpec(config, { rootfs, annotations: manifest.annotations ?? {}, rootless });
  if (opts.uidMap?.length || opts.gidMap?.length) {
    spec.linux = {
      ...spec.linux,
      uidMappings: (opts.uidMap ?? []).map((m) => ({ containerID: m.container, hostID: m.host, size: m.size })),
      gidMappings: (opts.gidMap ?? []).map((m) => ({ containerID: m.container, hostID: m.host, size: m.size })),
    };
    const ns = spec.linux.namespaces ?? [];
    if (!ns.some((n) => n.type === 'user')) spec.linux.namespaces = [...ns, { type: 'user' }];
  }
  // --rootless was applied by the conversion, which knows the image's user.
  if (opts.generate) applyOptions(spec, { ...opts.generate, rootless: false });
  const out = marshalSpec(spec) as unknown as Spec;
  assertValid('runtime-config', out, `config.json for ${rootfs}`);
  return out;
}
