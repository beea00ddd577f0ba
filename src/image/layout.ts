// OCI image layout store (image-spec image-layout.md): content-addressed blobs, index.json.
// Writes are atomic (temp file + rename) and index.json changes happen under a lock, so several
// processes may pull into one layout at once and readers never see a half-written file.
import { createReadStream } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, writeFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { homedir } from 'node:os';
import type { Readable } from 'node:stream';
import { randomBytes } from 'node:crypto';
import { OciToolError } from '../errors.js';
import { isDigest, parseDigest, verifyBytes, VerifyingStream } from './digest.js';
import { Ingest, type BlobTarget } from './ingest.js';
import { acquireLock, type LockOptions } from './lock.js';
import { INDEX_MEDIA_TYPE } from './media-types.js';
import type { Descriptor, ImageIndex } from './types.js';

export const REF_NAME_ANNOTATION = 'org.opencontainers.image.ref.name';

/** A file in blobs/ as gc sees it. */
export interface StoredBlob {
  digest: string;
  size: number;
  mtimeMs: number;
}
/** Where images go when no --layout is given. */
export function defaultLayoutDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.OCI_TOOL_LAYOUT) return env.OCI_TOOL_LAYOUT;
  const data = env.XDG_DATA_HOME ?? join(env.HOME ?? homedir(), '.local', 'share');
  return join(data, 'oci-tool', 'layout');
}

const LAYOUT_VERSION = '1.0.0';
/** Private state (ingests, locks) lives beside the standard files, never inside blobs/. */
const STATE_DIR = '.oci-tool';

export class Layout {
  private constructor(readonly dir: string) {}

  /** Opens a layout, creating an empty one where nothing exists yet. */
  static async open(dir: string, opts: { create?: boolean } = {}): Promise<Layout> {
    const layout = new Layout(dir);
    const marker = await readFile(join(dir, 'oci-layout'), 'utf8').catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return undefined;
      throw new OciToolError('OCI_ERR_LAYOUT', `cannot read ${join(dir, 'oci-layout')}: ${e.message}`);
    });
    if (marker === undefined) {
      if (opts.create === false) throw new OciToolError('OCI_ERR_NOT_FOUND', `no OCI image layout at ${dir}`);
      await layout.initialise();
    } else {
      let version: unknown;
      try {
        version = (JSON.parse(marker) as { imageLayoutVersion?: unknown }).imageLayoutVersion;
      } catch {
        version = undefined;
      }
      if (typeof version !== 'string' || !version.startsWith('1.')) {
        throw new OciToolError('OCI_ERR_LAYOUT', `${join(dir, 'oci-layout')} is not an OCI layout marker of version 1.x`);
      }
    }
    return layout;
  }

  private async initialise(): Promise<void> {
    await mkdir(join(this.dir, 'blobs', 'sha256'), { recursive: true });
    const release = await acquireLock(await this.lockPath('index'));
    try {
      if (!(await stat(join(this.dir, 'index.json')).catch(() => undefined))) {
        await this.writeAtomic('index.json', JSON.stringify({ schemaVersion: 2, mediaType: INDEX_MEDIA_TYPE, manifests: [] }));
      }
      await this.writeAtomic('oci-layout', JSON.stringify({ imageLayoutVersion: LAYOUT_VERSION }));
    } finally {
      await release();
    }
  }

  blobPath(digest: string): string {
    const { algorithm, hex } = parseDigest(digest);
    return join(this.dir, 'blobs', algorithm, hex);
  }

  /** A blob counts as present when its file exists with the expected size (its digest was checked on the way in). */
  async hasBlob(target: BlobTarget): Promise<boolean> {
    const st = await stat(this.blobPath(target.digest)).catch(() => undefined);
    return st !== undefined && st.isFile() && st.size === target.size;
  }

  /** Reads a small blob whole, verified. */
  async readBlob(target: { digest: string; size?: number }): Promise<Buffer> {
    const bytes = await readFile(this.blobPath(target.digest)).catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') throw new OciToolError('OCI_ERR_NOT_FOUND', `blob ${target.digest} is not in ${this.dir}`);
      throw e;
    });
    verifyBytes(bytes, target, `blob ${target.digest} in ${this.dir}`);
    return bytes;
  }

  /** A small blob's bytes, verified against the digest alone, or undefined when absent. */
  async readBlobIfPresent(digest: string): Promise<Buffer | undefined> {
    const bytes = await readFile(this.blobPath(digest)).catch(() => undefined);
    if (bytes) verifyBytes(bytes, { digest }, `blob ${digest} in ${this.dir}`);
    return bytes;
  }

  /** Streams a blob, failing at the end if it does not match its descriptor. */
  openBlob(target: BlobTarget): Readable {
    // Large reads: fewer threadpool round trips per layer, while memory stays bounded.
    return createReadStream(this.blobPath(target.digest), { highWaterMark: 1024 * 1024 }).pipe(new VerifyingStream(target, `blob ${target.digest} in ${this.dir}`));
  }

  /** Stores bytes in hand (manifests, configs) after checking them against their descriptor. */
  async putBlob(bytes: Uint8Array, target: BlobTarget): Promise<void> {
    verifyBytes(bytes, target, `blob ${target.digest}`);
    if (await this.hasBlob(target)) return;
    const { algorithm, hex } = parseDigest(target.digest);
    await mkdir(join(this.dir, 'blobs', algorithm), { recursive: true });
    await this.writeAtomic(join('blobs', algorithm, hex), bytes);
  }

  /**
   * Starts writing a blob, or returns undefined when it is (or becomes, while waiting for another
   * writer of the same blob) present.
   */
  async ingest(target: BlobTarget, opts: LockOptions = {}): Promise<Ingest | undefined> {
    if (await this.hasBlob(target)) return undefined;
    const { algorithm, hex } = parseDigest(target.digest);
    // Created on first write, so that reading a layout needs no write access to it.
    await mkdir(join(this.dir, STATE_DIR, 'ingest'), { recursive: true });
    const base = join(this.dir, STATE_DIR, 'ingest', `${algorithm}-${hex}`);
    const release = await acquireLock(`${base}.lock`, opts);
    if (await this.hasBlob(target)) {
      await release();
      return undefined;
    }
    await mkdir(join(this.dir, 'blobs', algorithm), { recursive: true });
    return Ingest.open(target, `${base}.data`, this.blobPath(target.digest), release);
  }

  async readIndex(): Promise<ImageIndex> {
    const path = join(this.dir, 'index.json');
    const text = await readFile(path, 'utf8');
    try {
      const index = JSON.parse(text) as ImageIndex;
      if (index.schemaVersion !== 2 || !Array.isArray(index.manifests)) throw new Error('shape');
      return index;
    } catch {
      throw new OciToolError('OCI_ERR_LAYOUT', `${path} is not a valid image index`);
    }
  }

  /** Read-modify-write of index.json under the layout lock. */
  async updateIndex(change: (index: ImageIndex) => ImageIndex, opts: LockOptions = {}): Promise<ImageIndex> {
    const release = await acquireLock(await this.lockPath('index'), opts);
    try {
      const next = change(await this.readIndex());
      await this.writeAtomic('index.json', JSON.stringify(next));
      return next;
    } finally {
      await release();
    }
  }

  /** Points a reference name at a descriptor, replacing what the name pointed at before. */
  async setRef(refName: string, desc: Descriptor, opts: LockOptions = {}): Promise<void> {
    await this.updateIndex((index) => ({
      ...index,
      manifests: [
        ...index.manifests.filter((d) => d.annotations?.[REF_NAME_ANNOTATION] !== refName),
        { ...desc, annotations: { ...desc.annotations, [REF_NAME_ANNOTATION]: refName } },
      ],
    }), opts);
  }

  /** Descriptors in index.json carrying this reference name. */
  async findRef(refName: string): Promise<Descriptor | undefined> {
    const index = await this.readIndex();
    return index.manifests.find((d) => d.annotations?.[REF_NAME_ANNOTATION] === refName);
  }

  /** Partial downloads left by interrupted runs (for status display and cleanup). */
  async pendingIngests(): Promise<string[]> {
    const names = await readdir(join(this.dir, STATE_DIR, 'ingest')).catch(() => [] as string[]);
    return names.filter((n) => n.endsWith('.data')).map((n) => n.slice(0, -5).replace('-', ':'));
  }

  /** A path inside the private state folder (.oci-tool/): leases, ingests, temporaries. */
  statePath(...parts: string[]): string {
    return join(this.dir, STATE_DIR, ...parts);
  }

  /** Runs `fn` holding the lock that every index.json change takes (gc holds it throughout). */
  async withIndexLock<T>(fn: () => Promise<T>, opts: LockOptions = {}): Promise<T> {
    const release = await acquireLock(await this.lockPath('index'), opts);
    try {
      return await fn();
    } finally {
      await release();
    }
  }

  /** Every blob file under blobs/ with a digest for a name; stray files are not blobs and are left out. */
  async listBlobs(): Promise<StoredBlob[]> {
    const out: StoredBlob[] = [];
    for (const algorithm of await readdir(join(this.dir, 'blobs')).catch(() => [] as string[])) {
      for (const hex of await readdir(join(this.dir, 'blobs', algorithm)).catch(() => [] as string[])) {
        const digest = `${algorithm}:${hex}`;
        if (!isDigest(digest)) continue;
        const st = await stat(join(this.dir, 'blobs', algorithm, hex)).catch(() => undefined);
        if (st?.isFile()) out.push({ digest, size: st.size, mtimeMs: st.mtimeMs });
      }
    }
    return out;
  }

  /** The size of a stored blob, or undefined when it is absent. */
  async blobSize(digest: string): Promise<number | undefined> {
    const st = await stat(this.blobPath(digest)).catch(() => undefined);
    return st?.isFile() ? st.size : undefined;
  }

  /** Deletes a blob file; only gc calls this, under the index lock, after checking the leases. */
  async removeBlob(digest: string): Promise<void> {
    await rm(this.blobPath(digest), { force: true });
  }

  private async lockPath(name: string): Promise<string> {
    const dir = join(this.dir, STATE_DIR);
    await mkdir(dir, { recursive: true });
    return join(dir, `${name}.lock`);
  }

  private async writeAtomic(relPath: string, data: string | Uint8Array): Promise<void> {
    const path = join(this.dir, relPath);
    // Temporaries stay out of blobs/ so that a crash never leaves a stray file there.
    const tmp = join(this.dir, STATE_DIR, `tmp-${process.pid}-${randomBytes(6).toString('hex')}`);
    // A layout another tool wrote has no state folder yet.
    await mkdir(join(this.dir, STATE_DIR), { recursive: true });
    await writeFile(tmp, data);
    await rename(tmp, path);
  }
}
