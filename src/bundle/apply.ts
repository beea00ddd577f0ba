// Applies one uncompressed layer tar to a rootfs (image-spec layer.md "Applying Changesets"),
// streaming: entries are read one at a time and file bodies go straight to disk. This is the only
// module that reads tar entries; every path goes through confine.ts first, so an entry can only
// touch paths inside the rootfs, whatever symlinks earlier entries or layers planted.
import { lchownSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import tarStream from 'tar-stream';
import { isOciToolError, OciToolError, usageError } from '../errors.js';
import {
  ensureParent, finishDirs, hasBody, makeDir, makeHardlink, makeNode, makeSymlink, ownerOf, timesOf, writeFile,
  type EntryContext, type IdMapping, type TarHeader,
} from './apply-entries.js';
import { cleanArchivePath } from './confine.js';
import { ParentCache } from './parent-cache.js';
import { applyWhiteout, UpperPaths, WHITEOUT_PREFIX } from './whiteouts.js';

export type { IdMapping } from './apply-entries.js';

export interface ApplyOptions {
  /** Not running as root: ownership is not applied and device nodes are skipped. */
  rootless?: boolean;
  /** Container → host ID ranges; an ID outside a given map is an error. Unused when rootless. */
  uidMap?: IdMapping[];
  gidMap?: IdMapping[];
  /** Most tar entries the layer may hold. */
  maxEntries?: number;
  /** Most uncompressed tar bytes the layer may hold (against decompression bombs). */
  maxBytes?: number;
  onWarning?: (msg: string) => void;
  signal?: AbortSignal;
}

export interface ApplyStats {
  entries: number;
  files: number;
  dirs: number;
  symlinks: number;
  hardlinks: number;
  whiteouts: number;
  /** Device nodes and FIFOs not created (rootless, or no usable mknod). */
  skippedDevices: number;
  /** Extended attributes (SCHILY.xattr.*, LIBARCHIVE.xattr.*) not applied: Node has no xattr API. */
  skippedXattrs: number;
  /** Uncompressed tar bytes read. */
  bytes: number;
}

const invalid = (msg: string) => new OciToolError('OCI_ERR_INVALID_CONTENT', msg);
const tooManyBytes = (max: number) => invalid(`layer exceeds the limit of ${max} uncompressed bytes (maxBytes)`);

/** Counts the uncompressed tar and stops it at maxBytes, zero blocks included. */
class ByteLimit extends Transform {
  total = 0;

  constructor(private readonly max: number | undefined) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.total += chunk.length;
    if (this.max !== undefined && this.total > this.max) done(tooManyBytes(this.max));
    else done(null, chunk);
  }
}

/**
 * Reads and drops an entry's body. Only bodies tar-stream feeds are read: it never feeds a
 * directory's (whatever its size field says), and waiting for one would stall the layer for good.
 */
async function drain(h: TarHeader, body: AsyncIterable<Buffer>): Promise<void> {
  if (!hasBody(h)) return;
  for await (const _chunk of body) void _chunk;
}

/** A short list for a one-line warning. */
function sample(items: string[]): string {
  const shown = items.slice(0, 5).join(', ');
  return items.length > 5 ? `${shown} and ${items.length - 5} more` : shown;
}

class LayerApplier {
  readonly stats: ApplyStats = { entries: 0, files: 0, dirs: 0, symlinks: 0, hardlinks: 0, whiteouts: 0, skippedDevices: 0, skippedXattrs: 0, bytes: 0 };
  readonly skippedDevices: string[] = [];
  readonly xattrs: string[] = [];
  readonly aufsMeta: string[] = [];
  private readonly upper: UpperPaths;
  private readonly parents = new ParentCache();
  private declaredBytes = 0;

  constructor(readonly ctx: EntryContext, private readonly opts: ApplyOptions) {
    this.upper = new UpperPaths(ctx.root);
    ctx.parents = this.parents;
  }

  /** The confined host directory of an entry (dir: its cleaned archive directory), made if missing. */
  private parentDir(dir: string, name: string): string {
    const cached = this.parents.get(dir);
    if (cached !== undefined) return cached;
    const { path, cacheable } = this.parents.resolve(this.ctx.root, dir);
    ensureParent(this.ctx, path, name);
    if (cacheable) this.parents.set(dir, path);
    return path;
  }

  async entry(h: TarHeader, body: AsyncIterable<Buffer>): Promise<void> {
    const { ctx, stats, opts } = this;
    if (++stats.entries > (opts.maxEntries ?? Infinity)) throw invalid(`layer exceeds the limit of ${opts.maxEntries} entries (maxEntries)`);
    this.declaredBytes += h.size ?? 0;
    if (opts.maxBytes !== undefined && this.declaredBytes > opts.maxBytes) throw tooManyBytes(opts.maxBytes);
    const name = cleanArchivePath(h.name);
    for (const key of Object.keys(h.pax ?? {})) {
      const m = /^(?:SCHILY|LIBARCHIVE)\.xattr\.(.+)$/.exec(key);
      if (m) this.xattrs.push(`${name} ${m[1]}`);
    }
    const slash = name.lastIndexOf('/');
    const dir = slash < 0 ? '.' : name.slice(0, slash);
    const base = name.slice(slash + 1);

    if (name === '.') {
      await drain(h, body);
      if (h.type !== 'directory') throw invalid(`layer entry ${JSON.stringify(h.name)} would replace the rootfs directory itself`);
      const owner = ownerOf(ctx, h, name);
      if (owner) lchownSync(ctx.root, owner.uid, owner.gid);
      ctx.dirMeta.set(ctx.root, { mode: (h.mode ?? 0o755) & 0o7777, ...timesOf(h) });
      stats.dirs++;
      return;
    }
    if (dir.split('/').some((c) => c.startsWith(WHITEOUT_PREFIX))) {
      // AUFS bookkeeping such as .wh..wh.plnk/: no filesystem holds names starting with .wh.
      await drain(h, body);
      this.aufsMeta.push(name);
      return;
    }
    if (base.startsWith(WHITEOUT_PREFIX)) {
      await drain(h, body);
      // It may remove directories: cached parents are forgotten (parent-cache.ts).
      this.parents.invalidate();
      applyWhiteout(ctx.root, name, this.upper);
      stats.whiteouts++;
      return;
    }

    const path = join(this.parentDir(dir, name), base);
    // tar-stream gives null for typeflags it does not know (GNU sparse, volume headers...).
    switch (h.type as TarHeader['type'] | null) {
      case 'file':
      case 'contiguous-file':
        await writeFile(ctx, path, h, body, name);
        stats.files++;
        break;
      case 'directory':
        makeDir(ctx, path, h, name);
        stats.dirs++;
        break;
      case 'symlink':
        await drain(h, body);
        makeSymlink(ctx, path, h, name);
        stats.symlinks++;
        break;
      case 'link':
        await drain(h, body);
        makeHardlink(ctx, path, h, name);
        stats.hardlinks++;
        break;
      case 'character-device':
      case 'block-device':
      case 'fifo':
        await drain(h, body);
        if (!(await makeNode(ctx, path, h, name))) this.skippedDevices.push(name);
        break;
      default:
        throw new OciToolError('OCI_ERR_UNSUPPORTED', `layer entry ${JSON.stringify(h.name)} has an unsupported tar entry type (such as a GNU sparse file)`);
    }
    this.upper.add(path);
  }

  warn(): void {
    const say = this.opts.onWarning ?? (() => {});
    const n = this.skippedDevices.length;
    this.stats.skippedDevices = n;
    this.stats.skippedXattrs = this.xattrs.length;
    if (n > 0) {
      const why = this.ctx.noMknod ?? 'rootless';
      say(`skipped ${n} device node${n === 1 ? '' : 's'} (${why}): ${sample(this.skippedDevices)}`);
    }
    if (this.xattrs.length > 0) {
      say(`ignored ${this.xattrs.length} extended attribute${this.xattrs.length === 1 ? '' : 's'} (not supported): ${sample(this.xattrs)}`);
    }
    if (this.aufsMeta.length > 0) say(`skipped ${this.aufsMeta.length} entries under .wh.* directories: ${sample(this.aufsMeta)}`);
  }
}

/** Turns a failure into one line naming what went wrong: the input, the tar format, or an entry. */
function explain(e: unknown, source: { input?: Error; tar?: Error }, entry: string | undefined): unknown {
  const at = entry === undefined ? '' : ` (at entry ${JSON.stringify(entry)})`;
  const err = source.input ?? source.tar ?? e;
  if (isOciToolError(err) || (err instanceof Error && err.name === 'AbortError')) return err;
  const { code, message } = err as NodeJS.ErrnoException;
  if (err === source.input) {
    return typeof code === 'string' && code.startsWith('Z_') ? invalid(`layer does not decompress: ${message}${at}`) : err;
  }
  if (err === source.tar) {
    return /unexpected end of data/i.test(message) ? invalid(`layer tar is truncated${at}`) : invalid(`layer tar is invalid: ${message}${at}`);
  }
  if (typeof code === 'string' && code.startsWith('E')) {
    return new OciToolError('OCI_ERR_LAYOUT', `cannot apply layer entry ${JSON.stringify(entry ?? '')}: ${message}`, { cause: err });
  }
  return err;
}

/** Applies an uncompressed layer tar to rootfs; see ApplyOptions for limits and rootless mode. */
export async function applyLayer(tar: Readable, rootfs: string, opts: ApplyOptions = {}): Promise<ApplyStats> {
  const root = resolve(rootfs);
  const st = await stat(root).catch(() => null);
  if (!st?.isDirectory()) throw usageError(`rootfs ${root} is not a directory`);
  opts.signal?.throwIfAborted();
  const ctx: EntryContext = {
    root, rootless: opts.rootless ?? false, uidMap: opts.uidMap, gidMap: opts.gidMap, signal: opts.signal, dirMeta: new Map(),
  };
  const applier = new LayerApplier(ctx, opts);
  const limit = new ByteLimit(opts.maxBytes);
  const extract = tarStream.extract();
  const source: { input?: Error; tar?: Error } = {};
  const failInput = (e: Error) => {
    source.input ??= e;
    extract.destroy(e);
  };
  tar.on('error', failInput);
  limit.on('error', failInput);
  extract.on('error', (e: Error) => {
    if (e !== source.input) source.tar ??= e;
  });
  // An input that stalls must not hold an abort until the next entry.
  const onAbort = () => extract.destroy(opts.signal?.reason as Error);
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  tar.pipe(limit).pipe(extract);
  let current: string | undefined;
  try {
    for await (const entry of extract) {
      opts.signal?.throwIfAborted();
      current = entry.header.name;
      // Entry bodies are Buffers (tar-stream decodes no text).
      await applier.entry(entry.header as TarHeader, entry as AsyncIterable<Buffer>);
    }
    current = undefined;
    finishDirs(ctx);
  } catch (e) {
    tar.unpipe(limit);
    limit.destroy();
    extract.destroy();
    tar.destroy();
    throw explain(e, source, current);
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
  }
  tar.off('error', failInput);
  applier.stats.bytes = limit.total;
  applier.warn();
  return applier.stats;
}
