// A stored layer as an uncompressed tar stream: the blob's digest and size checked at its end, the
// compression sniffed from its first bytes and required to match its media type, and the tar's
// digest checked against the config's diff_id. Any failure errors the returned stream.
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { finished } from 'node:stream/promises';
import { OciToolError } from '../errors.js';
import { createDecompressor, detectCompression, type Compression } from '../image/compression.js';
import { digestMismatch, hasherFor } from '../image/digest.js';
import type { Layout } from '../image/layout.js';
import { layerCompression } from '../image/media-types.js';
import type { Descriptor } from '../image/types.js';

/** Hashes what passes and fails at the end when it is not the expected diff_id. */
class DiffIdCheck extends Transform {
  private readonly hash;

  constructor(private readonly layer: string, private readonly expected: string) {
    super();
    this.hash = hasherFor(expected);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.hash.update(chunk);
    done(null, chunk);
  }

  override _flush(done: TransformCallback): void {
    const actual = `${this.expected.split(':')[0]}:${this.hash.digest('hex')}`;
    done(actual === this.expected ? null : digestMismatch(`the uncompressed content (diff_id) of layer ${this.layer}`, this.expected, actual));
  }
}

/** Waits for the first bytes so that the compression can be told before decompressing. */
async function sniff(stream: Readable): Promise<Compression> {
  return new Promise((resolve, reject) => {
    const onReadable = () => {
      const chunk = stream.read() as Buffer | null;
      if (chunk === null) return;
      cleanup();
      stream.unshift(chunk);
      resolve(detectCompression(chunk));
    };
    const onEnd = () => {
      cleanup();
      resolve('none');
    };
    const onError = (e: Error) => {
      cleanup();
      reject(e);
    };
    const cleanup = () => {
      stream.off('readable', onReadable).off('end', onEnd).off('error', onError);
    };
    stream.on('readable', onReadable).on('end', onEnd).on('error', onError);
  });
}

export interface LayerTar {
  tar: Readable;
  /**
   * Settles once the blob's digest and size and the tar's diff_id are checked. A tar reader can be
   * done before that: gzip ends at its trailer, the tar at its end blocks, while the checks run
   * when all bytes have passed. Await it before trusting what was applied.
   */
  verified: Promise<void>;
}

export async function openLayerTar(layout: Layout, layer: Descriptor, diffId: string | undefined): Promise<LayerTar> {
  const blob = layout.openBlob(layer);
  const detected = await sniff(blob);
  const declared = layerCompression(layer.mediaType);
  if (declared !== undefined && declared !== detected) {
    blob.destroy();
    throw new OciToolError('OCI_ERR_INVALID_CONTENT', `layer ${layer.digest} is declared as ${declared === 'none' ? 'uncompressed' : declared} (${layer.mediaType}) but its bytes are ${detected === 'none' ? 'not compressed' : detected}`);
  }
  const stages: (Readable | Transform)[] = [blob, createDecompressor(detected)];
  if (diffId) stages.push(new DiffIdCheck(layer.digest, diffId));
  const last = stages[stages.length - 1] as Transform;
  // Errors anywhere upstream reach the consumer as an error of the last stage (pipeline() would
  // destroy it without one, leaving a reader waiting for an end that never comes).
  for (let i = 0; i + 1 < stages.length; i++) {
    const from = stages[i] as Readable;
    from.on('error', (e: Error) => last.destroy(e));
    from.pipe(stages[i + 1] as Transform);
  }
  // Reported through `verified`; this listener keeps a late failure from being an uncaught error.
  last.on('error', () => {});
  const verified = Promise.all([finished(blob, { readable: false }), finished(last, { readable: false })]).then(() => {});
  verified.catch(() => {});
  return { tar: last, verified };
}
