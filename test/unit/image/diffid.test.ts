import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { isOciToolError, type ErrorCode } from '../../../src/errors.js';
import { createDecompressor, detectCompression, type Compression } from '../../../src/image/compression.js';
import { DiffIdObserver, verifyDiffIdOfFile } from '../../../src/image/diffid.js';

const run = promisify(execFile);
const sha256 = (b: Uint8Array) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const sha512 = (b: Uint8Array) => `sha512:${createHash('sha512').update(b).digest('hex')}`;

/** 1000 pseudo-random bytes repeated: compressible, yet wrong anywhere if a block is misplaced. */
function patterned(blockLen: number, repeats: number): Buffer {
  const block = Buffer.alloc(blockLen);
  let x = 12345;
  for (let i = 0; i < blockLen; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    block[i] = x >>> 24;
  }
  return Buffer.concat(Array.from({ length: repeats }, () => block));
}

// Frames made with the zstd 1.5.4 CLI, so that the zstd cases run where the CLI is absent.
// "hello, zstd layer\n" three times, with and without a content checksum:
const SMALL = Buffer.from('hello, zstd layer\n'.repeat(3));
const SMALL_ZST = Buffer.from('KLUv/SQ2xQAAkGhlbGxvLCB6c3RkIGxheWVyCgEAFjnDfh2LGw==', 'base64');
const SMALL_ZST_NO_CHECK = Buffer.from('KLUv/SA2xQAAkGhlbGxvLCB6c3RkIGxheWVyCgEAFjnD', 'base64');
// patterned(1000, 300), `zstd -19`: 300 000 bytes, so more than one 128 KiB block.
const PATTERNED = patterned(1000, 300);
const PATTERNED_ZST = Buffer.from(
  'KLUv/aTgkwQAnB8AhD7Tp9YNwj7NryCvaZYmUmV+5rtE0J9aW32qudpelgJkBcwfR8Gyl1JbJ/zqsdqQzUbZc7JqT4KvjkevE+YJihlyRj6wDD' +
  'onMA955bfIAnqUrN/c6hdZBn4DlH9WBR7RlHS4br+UYwBlJZAbuZ/e26Qa1sxwm5FH/jcwByRcnK22MOR0UL1IT99zsyyGNzoVU/XlefV31L9Q' +
  '/IcDqM7Tj8zK23Npow1edkv0gV/Qaytmn4FyVucOB4Oj0Aq6dKCGj2L26Twk4ZPsfC9eMuJXtwx0baOc5TTQkfgQjd2nbT0lEt2vKdQCbvNPEO' +
  'SZI2vy3s2zVPolSOxhQxfdQfsw+h7ygfy5B7aOJ4sLEdmGpLLlAK4p0RdaRsNJgCXBP2mgeBUjYaPMVKsPc2S95DeJZpRfAiGv6YTkdkmza+Z/' +
  'Jq6cik3Myu47myDEJp5XoC0byTWfmkuE6+slAeSS4gMBPF5d1og98tdQurgtQ3xnL3nQzsRLi4vDmWWoElqVTh4DAJTgOzUcodcpBh8bSW67xW' +
  'Bt+Ed+X0lLufILXIwhL1UuM9vmGmoeWaXhbG5f04jgnFMQAGIex3iOEGUR/HZxHwM5ged/mN0dUvVUYgvv2kUTvy5An6CVsz+uhMvLhq7tA6Ha' +
  '+CEbeoNBbt/2SFiADsDqvjDJehWrEvOZuYjEO+YfYzcw7CifCWzy4wm739TuCwh4VKL8tS05hZ7nbeH5yrRyOP/1qwBJvaIEU7WTwDbFS2OLFT' +
  'TuINGEXDpkx1b5jLzINYFRXfcIHq1oNb210y/gzhI86UmG5otnd/+eS27bLh78/H+B5gx/Grvj47NO9PBXgVuhVoFtsx87fstev0OuvNgCWUcD' +
  'dltPmBXHRskqoeXL4p20SkiRrwLM7J8e0CBxrFq9kVfexiAozmWFB1UTsEFv2A86RTQPJILfrVr9Yli39kZQCMhMKXC6+RNkZGU2j8kMG8QfKA' +
  'TS4rmv3a1R2JH0S4JXo/nVUDP4INexrkW85q6beHt2HBzd0F2uMcOkMp/eLaHNUlmHPxJm9gUF9S3l7l4A7KO07Q6y9m9Ii7vrbs5mYY1Zt6yP' +
  'Ny7xkXqsoRS5PiXwrfQMvSxJXhp5Z2kEpk4sF469NYCQS5T2HBs07LghyvESzxzcRq9XPVg/ty6sErOM6QVzHoMbSD7yPl8QT/ruRMoGnA1CDc' +
  '+w7yc86OTow/fi9ZMcsIsR4AJe9VGfyK0tSSPmmqHV2uIBTLhYDBZGUGu+nd33EpDAThAnrYWTPth+gDJ6HgMlrE4qStGe7UJ88V94b3GyAi3T' +
  'NIBLmXP1YdhAklOxIftSkIhs0dLH2EtfAQDoK/jX5yINVAAAAAEA/f+7/7kGAkUAAAABAN0THQABWbOfgQ==',
  'base64',
);

let dir: string;
let zstdCli: string | undefined;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'oci-tool-diffid-'));
  zstdCli = await run('zstd', ['--version']).then(() => 'zstd', () => undefined);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function chunked(bytes: Uint8Array, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += size) out.push(Buffer.from(bytes.subarray(i, i + size)));
  return out;
}

async function collect(source: Readable, ...through: Transform[]): Promise<Buffer> {
  const out: Buffer[] = [];
  await (pipeline as (...s: unknown[]) => Promise<void>)(source, ...through, new Writable({ write: (c: Buffer, _e, cb) => { out.push(c); cb(); } }));
  return Buffer.concat(out);
}

const decompress = (kind: Compression, chunks: Buffer[]) => collect(Readable.from(chunks), createDecompressor(kind));

async function rejected(p: Promise<unknown>, code: ErrorCode): Promise<Error> {
  try {
    await p;
  } catch (e) {
    expect(isOciToolError(e), String(e)).toBe(true);
    expect((e as { code: string }).code).toBe(code);
    return e as Error;
  }
  throw new Error(`expected ${code}, the promise resolved`);
}

async function zstdWithCli(bytes: Buffer, ...args: string[]): Promise<Buffer> {
  const input = join(dir, `in-${randomBytes(4).toString('hex')}`);
  await writeFile(input, bytes);
  await run(zstdCli as string, ['-q', '-f', ...args, input, '-o', `${input}.zst`]);
  return readFile(`${input}.zst`);
}

describe('detectCompression', () => {
  it.each([
    ['gzip', gzipSync(Buffer.from('x')), 'gzip'],
    ['gzip magic alone', Buffer.from([0x1f, 0x8b]), 'gzip'],
    ['zstd', SMALL_ZST, 'zstd'],
    ['zstd magic alone', Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), 'zstd'],
    ['a tar header', Buffer.concat([Buffer.from('etc/passwd'), Buffer.alloc(502)]), 'none'],
    ['empty', Buffer.alloc(0), 'none'],
    ['half a gzip magic', Buffer.from([0x1f]), 'none'],
    ['three quarters of a zstd magic', Buffer.from([0x28, 0xb5, 0x2f]), 'none'],
    ['a zstd magic with one wrong byte', Buffer.from([0x28, 0xb5, 0x2f, 0xfe]), 'none'],
    ['bzip2', Buffer.from('BZh91AY&SY'), 'none'],
  ] as [string, Buffer, Compression][])('%s → %s', (_name, head, kind) => {
    expect(detectCompression(head)).toBe(kind);
  });
});

describe('createDecompressor', () => {
  const text = Buffer.from('layer contents\n'.repeat(5000));

  it('gunzips, whole or a byte at a time', async () => {
    const gz = gzipSync(text);
    expect((await decompress('gzip', [gz])).equals(text)).toBe(true);
    expect((await decompress('gzip', chunked(gz, 1))).equals(text)).toBe(true);
  });

  it('passes "none" through', async () => {
    expect((await decompress('none', chunked(text, 333))).equals(text)).toBe(true);
  });

  it('fails on data that is not gzip', async () => {
    await expect(decompress('gzip', [Buffer.from('not gzip at all')])).rejects.toThrow();
    await expect(decompress('gzip', [gzipSync(text).subarray(0, 100)])).rejects.toThrow();
  });

  it('decompresses a known zstd frame, with and without a checksum', async () => {
    expect((await decompress('zstd', [SMALL_ZST])).equals(SMALL)).toBe(true);
    expect((await decompress('zstd', [SMALL_ZST_NO_CHECK])).equals(SMALL)).toBe(true);
    expect((await decompress('zstd', chunked(SMALL_ZST, 1))).equals(SMALL)).toBe(true);
  });

  it('decompresses a multi-block zstd frame in any chunking', async () => {
    expect(sha256(PATTERNED)).toBe('sha256:e89821d395daeb1d087f9a7b61756a5a36936037ed8499b93bd941dfaa4d80d4');
    for (const size of [PATTERNED_ZST.length, 1, 7, 64, 500]) {
      expect((await decompress('zstd', chunked(PATTERNED_ZST, size))).equals(PATTERNED), `chunks of ${size}`).toBe(true);
    }
  });

  it('decompresses concatenated zstd frames', async () => {
    const out = await decompress('zstd', chunked(Buffer.concat([SMALL_ZST, PATTERNED_ZST, SMALL_ZST_NO_CHECK]), 100));
    expect(out.equals(Buffer.concat([SMALL, PATTERNED, SMALL]))).toBe(true);
  });

  it('fails on truncated or corrupt zstd data', async () => {
    await expect(decompress('zstd', [PATTERNED_ZST.subarray(0, PATTERNED_ZST.length - 20)])).rejects.toThrow();
    await expect(decompress('zstd', [SMALL_ZST.subarray(0, 10)])).rejects.toThrow();
    await expect(decompress('zstd', [Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])])).rejects.toThrow();
  });

  it('decompresses what the zstd CLI makes from incompressible and compressible data', async (ctx) => {
    if (!zstdCli) ctx.skip('the zstd CLI is not installed; the embedded frames above cover zstd');
    const data = Buffer.concat([randomBytes(700_000), PATTERNED, randomBytes(300_000), Buffer.alloc(200_000)]);
    for (const args of [['-1'], ['-19', '--no-check'], ['--long=27', '-3']]) {
      const zst = await zstdWithCli(data, ...args);
      expect(detectCompression(zst)).toBe('zstd');
      expect((await decompress('zstd', chunked(zst, 16_384))).equals(data), args.join(' ')).toBe(true);
    }
  });
});

describe('createDecompressor: the pure-JS zstd fallback (Node without zlib zstd)', () => {
  async function fallbackDecompressor(): Promise<typeof createDecompressor> {
    vi.resetModules();
    vi.doMock('node:zlib', async (importOriginal) => ({ ...(await importOriginal<typeof import('node:zlib')>()), createZstdDecompress: undefined }));
    try {
      return (await import('../../../src/image/compression.js')).createDecompressor;
    } finally {
      vi.doUnmock('node:zlib');
      vi.resetModules();
    }
  }

  it('decompresses and reports corrupt data as OCI_ERR_INVALID_CONTENT', async () => {
    const create = await fallbackDecompressor();
    expect((await collect(Readable.from(chunked(PATTERNED_ZST, 99)), create('zstd'))).equals(PATTERNED)).toBe(true);
    await rejected(collect(Readable.from([PATTERNED_ZST.subarray(0, 500)]), create('zstd')), 'OCI_ERR_INVALID_CONTENT');
    await rejected(collect(Readable.from([Buffer.concat([SMALL_ZST.subarray(0, 4), Buffer.alloc(40, 0xff)])]), create('zstd')), 'OCI_ERR_INVALID_CONTENT');
  });
});

describe('DiffIdObserver', () => {
  const tar = patterned(512, 400);
  const gz = gzipSync(tar);

  async function observe(compressed: Buffer, expected: string, compression: Compression, chunk = 4096) {
    const observer = new DiffIdObserver('sha256:layer', expected, compression);
    const out = await collect(Readable.from(chunked(compressed, chunk)), observer);
    return { observer, out };
  }

  it('accepts the right diff_id of a gzip layer and passes the bytes through unchanged', async () => {
    const { observer, out } = await observe(gz, sha256(tar), 'gzip');
    expect(out.equals(gz)).toBe(true);
    await expect(observer.check()).resolves.toBeUndefined();
  });

  it('accepts the right diff_id of a zstd layer', async () => {
    const { observer, out } = await observe(PATTERNED_ZST, sha256(PATTERNED), 'zstd', 100);
    expect(out.equals(PATTERNED_ZST)).toBe(true);
    await observer.check();
  });

  it('hashes an uncompressed layer as it is', async () => {
    const { observer, out } = await observe(tar, sha256(tar), 'none');
    expect(out.equals(tar)).toBe(true);
    await observer.check();
  });

  it('hashes with the algorithm of the expected diff_id', async () => {
    const { observer } = await observe(gz, sha512(tar), 'gzip');
    await observer.check();
  });

  it('reports a wrong diff_id with OCI_ERR_DIGEST_MISMATCH, after passing every byte on', async () => {
    const other = Buffer.from(tar);
    other.writeUInt8(other.readUInt8(1000) ^ 1, 1000);
    const { observer, out } = await observe(gz, sha256(other), 'gzip');
    expect(out.equals(gz)).toBe(true);
    const e = await rejected(observer.check(), 'OCI_ERR_DIGEST_MISMATCH');
    expect(e.message).toContain('sha256:layer');
    expect(e.message).toContain(sha256(other));
    expect(e.message).toContain(sha256(tar));
  });

  it('reports a wrong zstd diff_id', async () => {
    const { observer } = await observe(SMALL_ZST, sha256(PATTERNED), 'zstd');
    await rejected(observer.check(), 'OCI_ERR_DIGEST_MISMATCH');
  });

  it.each([
    ['not gzip', () => Buffer.from('this is not gzip data, just text '.repeat(100)), 'gzip'],
    ['truncated gzip', () => gz.subarray(0, gz.length - 100), 'gzip'],
    ['gzip with a corrupt body', () => { const b = Buffer.from(gz); b.fill(0xff, 20, 200); return b; }, 'gzip'],
    ['truncated zstd', () => PATTERNED_ZST.subarray(0, 600), 'zstd'],
    ['not zstd', () => Buffer.alloc(5000, 7), 'zstd'],
  ] as [string, () => Buffer, Compression][])('reports %s as OCI_ERR_INVALID_CONTENT, still passing the bytes on', async (_name, make, compression) => {
    const bytes = make();
    const { observer, out } = await observe(bytes, sha256(tar), compression, 1000);
    expect(out.equals(bytes)).toBe(true);
    const e = await rejected(observer.check(), 'OCI_ERR_INVALID_CONTENT');
    expect(e.message).toContain('sha256:layer');
  });

  it('streams a 50 MB gzip layer through with bounded buffering', async () => {
    // Incompressible, so that the compressed stream is 50 MB too and arrives faster than gunzip.
    const tar50 = randomBytes(50 * 1024 * 1024);
    const gz50 = gzipSync(tar50, { level: 1 });
    const observer = new DiffIdObserver('big', sha256(tar50), 'gzip');
    const decompressor = (observer as unknown as { decompressor: Transform }).decompressor;
    let passed = 0;
    let peak = 0;
    const sink = new Writable({
      write: (c: Buffer, _e, cb) => {
        passed += c.length;
        peak = Math.max(peak, decompressor.writableLength + observer.writableLength + observer.readableLength);
        cb();
      },
    });
    await pipeline(Readable.from(chunked(gz50, 65_536)), observer, sink);
    await observer.check();
    expect(passed).toBe(gz50.length);
    // What waits for gunzip stays near the streams' high-water marks instead of growing with the layer.
    expect(peak).toBeLessThan(4 * 1024 * 1024);
  });
});

describe('verifyDiffIdOfFile', () => {
  it('checks a stored gzip layer against its diff_id', async () => {
    const tar = patterned(777, 50);
    const path = join(dir, 'layer.gz');
    await writeFile(path, gzipSync(tar));
    await verifyDiffIdOfFile(path, 'sha256:abc', sha256(tar), 'gzip');
    const e = await rejected(verifyDiffIdOfFile(path, 'sha256:abc', sha256(Buffer.from('x')), 'gzip'), 'OCI_ERR_DIGEST_MISMATCH');
    expect(e.message).toContain('sha256:abc');
  });

  it('checks a stored zstd layer, and reports one that does not decompress', async () => {
    const path = join(dir, 'layer.zst');
    await writeFile(path, PATTERNED_ZST);
    await verifyDiffIdOfFile(path, 'l', sha256(PATTERNED), 'zstd');
    await writeFile(path, PATTERNED_ZST.subarray(0, 300));
    await rejected(verifyDiffIdOfFile(path, 'l', sha256(PATTERNED), 'zstd'), 'OCI_ERR_INVALID_CONTENT');
  });
});
