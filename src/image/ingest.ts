// A blob being written: bytes go to a private file beside the layout, hashed as they arrive, and
// are renamed into blobs/ only after size and digest check out. The file survives an interrupted
// run so that the next attempt resumes from its length.
import { createReadStream, writev } from 'node:fs';
import { open, rename, rm, stat, truncate } from 'node:fs/promises';
import type { Hash } from 'node:crypto';
import { Writable, type Readable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { digestMismatch, hasherFor, parseDigest, sizeMismatch } from './digest.js';
import type { Release } from './lock.js';

export interface BlobTarget {
  readonly digest: string;
  readonly size: number;
}

export class Ingest {
  private hash: Hash;
  /** Told of every write, for progress reporting. */
  onWritten?: (bytes: number) => void;

  private constructor(
    readonly target: BlobTarget,
    private readonly path: string,
    private readonly finalPath: string,
    private readonly release: Release,
    public offset: number,
  ) {
    this.hash = hasherFor(target.digest);
  }

  /** Opens (or resumes) the ingest file; the caller already holds the ingest lock. */
  static async open(target: BlobTarget, path: string, finalPath: string, release: Release): Promise<Ingest> {
    const size = await stat(path).then((s) => s.size, () => 0);
    const ingest = new Ingest(target, path, finalPath, release, 0);
    if (size > target.size) {
      await truncate(path, 0);
    } else if (size > 0) {
      // Rehash what an earlier run left so that the final digest covers the whole blob.
      await pipeline(createReadStream(path, { end: size - 1 }), async (src: AsyncIterable<Buffer>) => {
        for await (const chunk of src) ingest.hash.update(chunk);
      });
      ingest.offset = size;
    }
    return ingest;
  }

  /** Drops what is held and starts again from byte 0 (the server ignored our Range). */
  async restart(): Promise<void> {
    await truncate(this.path, 0).catch(() => {});
    this.hash = hasherFor(this.target.digest);
    this.offset = 0;
  }

  /**
   * Appends a stream at the current offset. Observers (diff_id hashing) see the bytes first; the
   * offset and hash advance only once bytes are written, so after a failure the offset is exactly
   * what the file holds and a resume cannot leave a gap.
   */
  async append(source: Readable, ...observers: Transform[]): Promise<void> {
    const fh = await open(this.path, this.offset === 0 ? 'w' : 'r+');
    const tooLong = (n: number) => this.offset + n > this.target.size;
    // writev batches the chunks that arrive while a write is in flight into one system call.
    const writeAll = (chunks: Buffer[], done: (e?: Error | null) => void) => {
      const n = chunks.reduce((sum, c) => sum + c.length, 0);
      if (tooLong(n)) {
        done(sizeMismatch(`blob ${this.target.digest}`, this.target.size, 'more than that'));
        return;
      }
      // The callback API: its per-call cost is well below FileHandle's promises at ~10k writes a blob.
      writev(fh.fd, chunks, this.offset, (err) => {
        if (err) {
          done(err);
          return;
        }
        this.offset += n;
        for (const c of chunks) this.hash.update(c);
        this.onWritten?.(n);
        done();
      });
    };
    const sink = new Writable({
      highWaterMark: 1024 * 1024,
      write: (chunk: Buffer, _enc, done) => writeAll([chunk], done),
      writev: (entries: { chunk: Buffer }[], done) => writeAll(entries.map((e) => e.chunk), done),
    });
    try {
      await (pipeline as (...s: unknown[]) => Promise<void>)(source, ...observers, sink);
    } finally {
      await fh.close();
    }
  }

  /** Verifies and moves the blob into place. On a mismatch the bytes are discarded. */
  async commit(): Promise<void> {
    const what = `blob ${this.target.digest}`;
    try {
      if (this.offset !== this.target.size) throw sizeMismatch(what, this.target.size, this.offset);
      const actual = `${parseDigest(this.target.digest).algorithm}:${this.hash.copy().digest('hex')}`;
      if (actual !== this.target.digest) throw digestMismatch(what, this.target.digest, actual);
      const fh = await open(this.path, 'r+');
      try {
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(this.path, this.finalPath);
    } catch (e) {
      await rm(this.path, { force: true });
      throw e;
    } finally {
      await this.release();
    }
  }

  /** Gives up the lock; keeps partial bytes unless told to discard them. */
  async close(discard = false): Promise<void> {
    if (discard) await rm(this.path, { force: true });
    await this.release();
  }
}
