// Layer decompression. gzip (and zstd where Node's zlib has it, 22.15+) run on the libuv
// threadpool; on older Node zstd falls back to fzstd, a pure-JS streaming decoder.
import * as zlib from 'node:zlib';
import { Transform, type TransformCallback } from 'node:stream';
import { Decompress as ZstdDecompress } from 'fzstd';
import { OciToolError } from '../errors.js';

export type Compression = 'gzip' | 'zstd' | 'none';

/** Sniffs the first bytes of a layer. */
export function detectCompression(head: Uint8Array): Compression {
  if (head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) return 'zstd';
  return 'none';
}

type ZlibWithZstd = typeof zlib & { createZstdDecompress?: (opts?: zlib.ZlibOptions) => Transform };

const OUTPUT_CHUNK = 256 * 1024;

export function createDecompressor(kind: Compression): Transform {
  switch (kind) {
    case 'gzip':
      // Large output chunks: per-chunk JS overhead, not inflate itself, dominates at 16 KiB.
      return zlib.createGunzip({ chunkSize: OUTPUT_CHUNK });
    case 'zstd': {
      const native = (zlib as ZlibWithZstd).createZstdDecompress;
      return native ? native({ chunkSize: OUTPUT_CHUNK }) : new JsZstdDecompressor();
    }
    case 'none':
      return new Transform({ transform: (chunk, _e, done) => done(null, chunk) });
  }
}

class JsZstdDecompressor extends Transform {
  private readonly decoder = new ZstdDecompress((data) => {
    this.push(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
  });

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    try {
      this.decoder.push(chunk);
      done();
    } catch (e) {
      done(new OciToolError('OCI_ERR_INVALID_CONTENT', `invalid zstd data: ${(e as Error).message}`));
    }
  }

  override _flush(done: TransformCallback): void {
    try {
      this.decoder.push(new Uint8Array(0), true);
      done();
    } catch (e) {
      done(new OciToolError('OCI_ERR_INVALID_CONTENT', `invalid zstd data: ${(e as Error).message}`));
    }
  }
}
