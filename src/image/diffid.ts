// A layer's diff_id is the digest of its uncompressed tar. These helpers check it while the
// compressed bytes stream past (decompressing beside the download) or afterwards from a file.
import { createReadStream } from 'node:fs';
import { Transform, Writable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { OciToolError } from '../errors.js';
import { createDecompressor, type Compression } from './compression.js';
import { digestMismatch, hasherFor, parseDigest } from './digest.js';

function mismatch(layer: string, expected: string, actual: string): OciToolError {
  return digestMismatch(`the uncompressed content (diff_id) of layer ${layer}`, expected, actual);
}

/** Passes bytes through unchanged while hashing their decompressed form; check() after the end. */
export class DiffIdObserver extends Transform {
  private readonly decompressor: Transform;
  private readonly done: Promise<string>;

  constructor(private readonly layer: string, private readonly expected: string, compression: Compression) {
    super();
    const hash = hasherFor(expected);
    this.decompressor = createDecompressor(compression);
    const sink = new Writable({ write: (chunk: Buffer, _e, cb) => { hash.update(chunk); cb(); } });
    this.done = pipeline(this.decompressor, sink).then(() => `${parseDigest(expected).algorithm}:${hash.digest('hex')}`);
    this.done.catch(() => {});
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.push(chunk);
    // A broken stream is reported by check(); the bytes still flow on to their file.
    if (this.decompressor.destroyed || this.decompressor.write(chunk)) {
      cb();
      return;
    }
    // Waiting for the decompressor keeps memory bounded when it is slower than the network.
    const resume = () => {
      this.decompressor.off('drain', resume).off('close', resume);
      cb();
    };
    this.decompressor.on('drain', resume).on('close', resume);
  }

  override _flush(cb: TransformCallback): void {
    if (!this.decompressor.destroyed) this.decompressor.end();
    // Finish only once the decompressor has: ending this stream destroys it (see _destroy), and
    // gunzip still works on the threadpool after end().
    this.done.then(() => cb(), () => cb());
  }

  override _destroy(err: Error | null, cb: (e: Error | null) => void): void {
    this.decompressor.destroy();
    cb(err);
  }

  async check(): Promise<void> {
    let actual: string;
    try {
      actual = await this.done;
    } catch (e) {
      throw new OciToolError('OCI_ERR_INVALID_CONTENT', `layer ${this.layer} does not decompress: ${(e as Error).message}`);
    }
    if (actual !== this.expected) throw mismatch(this.layer, this.expected, actual);
  }
}

/** Checks a stored layer file against its diff_id. */
export async function verifyDiffIdOfFile(path: string, layer: string, expected: string, compression: Compression): Promise<void> {
  const observer = new DiffIdObserver(layer, expected, compression);
  await pipeline(createReadStream(path), observer, new Writable({ write: (_c, _e, cb) => cb() }));
  await observer.check();
}
