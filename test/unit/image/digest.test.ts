import { createHash } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { isOciToolError, type ErrorCode } from '../../../src/errors.js';
import { digestOf, hasherFor, isDigest, parseDigest, verifyBytes, VerifyingStream } from '../../../src/image/digest.js';

const HEX64 = '0123456789abcdef'.repeat(4);
const HEX128 = '0123456789abcdef'.repeat(8);
const sha256 = (b: Uint8Array) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const sha512 = (b: Uint8Array) => `sha512:${createHash('sha512').update(b).digest('hex')}`;

function thrown(fn: () => unknown, code: ErrorCode): Error {
  try {
    fn();
  } catch (e) {
    expect(isOciToolError(e), String(e)).toBe(true);
    expect((e as { code: string }).code).toBe(code);
    return e as Error;
  }
  throw new Error(`expected ${code}, nothing was thrown`);
}

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

/** Runs chunks through a VerifyingStream and collects what comes out. */
async function verifyChunks(chunks: Buffer[], expected: { digest: string; size: number }, resume?: ConstructorParameters<typeof VerifyingStream>[2]) {
  const out: Buffer[] = [];
  const sink = new Writable({ write: (c: Buffer, _e, cb) => { out.push(c); cb(); } });
  await pipeline(Readable.from(chunks), new VerifyingStream(expected, 'test blob', resume), sink);
  return Buffer.concat(out);
}

describe('parseDigest', () => {
  it('parses sha256 and sha512', () => {
    expect(parseDigest(`sha256:${HEX64}`)).toEqual({ algorithm: 'sha256', hex: HEX64 });
    expect(parseDigest(`sha512:${HEX128}`)).toEqual({ algorithm: 'sha512', hex: HEX128 });
  });

  it.each([
    ['empty', ''],
    ['no algorithm', HEX64],
    ['no hex', 'sha256:'],
    ['no separator', `sha256${HEX64}`],
    ['upper-case algorithm', `SHA256:${HEX64}`],
    ['upper-case hex', `sha256:${HEX64.toUpperCase()}`],
    ['short sha256', `sha256:${HEX64.slice(1)}`],
    ['long sha256', `sha256:${HEX64}0`],
    ['sha512 of sha256 length', `sha512:${HEX64}`],
    ['sha256 of sha512 length', `sha256:${HEX128}`],
    ['non-hex characters', `sha256:${'g'.repeat(64)}`],
    ['surrounding space', ` sha256:${HEX64}`],
    ['trailing newline', `sha256:${HEX64}\n`],
    ['two colons', `sha256:${HEX64}:${HEX64}`],
  ])('refuses %s as invalid content', (_name, value) => {
    const e = thrown(() => parseDigest(value, 'layer digest'), 'OCI_ERR_INVALID_CONTENT');
    expect(e.message).toContain('layer digest');
    expect(isDigest(value)).toBe(false);
  });

  it.each([
    ['md5', `md5:${'a'.repeat(32)}`],
    ['sha384', `sha384:${'a'.repeat(96)}`],
    ['blake3', `blake3:${HEX64}`],
    ['a registered algorithm with an encoding suffix', `sha256+b64u:LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564`],
    // Names that exist on Object.prototype must not be mistaken for supported algorithms.
    ['constructor', `constructor:${HEX64}`],
  ])('refuses the unknown algorithm %s as unsupported', (_name, value) => {
    const e = thrown(() => parseDigest(value), 'OCI_ERR_UNSUPPORTED');
    expect(e.message).toContain(value.split(':')[0]);
    expect(isDigest(value)).toBe(false);
  });

  it('isDigest accepts what parseDigest accepts', () => {
    expect(isDigest(`sha256:${HEX64}`)).toBe(true);
    expect(isDigest(`sha512:${HEX128}`)).toBe(true);
  });
});

describe('digestOf and hasherFor', () => {
  const bytes = Buffer.from('hello, world\n');

  it('digests with sha256 by default and sha512 on request', () => {
    expect(digestOf(bytes)).toBe(sha256(bytes));
    expect(digestOf(bytes, 'sha512')).toBe(sha512(bytes));
    // A known vector, so that the test does not only compare the module with itself.
    expect(digestOf(new Uint8Array(0))).toBe('sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  });

  it('picks the hash of the digest it is given', () => {
    expect(`sha512:${hasherFor(`sha512:${HEX128}`).update(bytes).digest('hex')}`).toBe(sha512(bytes));
    expect(`sha256:${hasherFor(`sha256:${HEX64}`).update(bytes).digest('hex')}`).toBe(sha256(bytes));
    thrown(() => hasherFor(`md5:${'a'.repeat(32)}`), 'OCI_ERR_UNSUPPORTED');
  });
});

describe('verifyBytes', () => {
  const bytes = Buffer.from('{"schemaVersion":2}');

  it('accepts matching bytes, with or without a size', () => {
    expect(() => verifyBytes(bytes, { digest: sha256(bytes), size: bytes.length }, 'm')).not.toThrow();
    expect(() => verifyBytes(bytes, { digest: sha256(bytes) }, 'm')).not.toThrow();
    expect(() => verifyBytes(bytes, { digest: sha512(bytes), size: bytes.length }, 'm')).not.toThrow();
  });

  it('reports a size mismatch with the sizes involved', () => {
    const e = thrown(() => verifyBytes(bytes, { digest: sha256(bytes), size: bytes.length + 1 }, 'manifest x'), 'OCI_ERR_SIZE_MISMATCH');
    expect(e.message).toContain('manifest x');
    expect(e.message).toContain(String(bytes.length + 1));
    expect(e.message).toContain(String(bytes.length));
  });

  it('reports a digest mismatch with both digests', () => {
    const other = Buffer.from(bytes);
    other[0] = 0x20;
    const e = thrown(() => verifyBytes(other, { digest: sha256(bytes), size: bytes.length }, 'manifest x'), 'OCI_ERR_DIGEST_MISMATCH');
    expect(e.message).toContain(sha256(bytes));
    expect(e.message).toContain(sha256(other));
  });

  it('compares a sha512 digest with sha512', () => {
    thrown(() => verifyBytes(Buffer.from('x'), { digest: sha512(bytes) }, 'm'), 'OCI_ERR_DIGEST_MISMATCH');
  });

  it('refuses an invalid or unsupported expected digest', () => {
    thrown(() => verifyBytes(bytes, { digest: 'sha256:nothex' }, 'm'), 'OCI_ERR_INVALID_CONTENT');
    thrown(() => verifyBytes(bytes, { digest: `md5:${'a'.repeat(32)}` }, 'm'), 'OCI_ERR_UNSUPPORTED');
  });
});

describe('VerifyingStream', () => {
  const data = Buffer.from('0123456789abcdefghijklmnopqrstuvwxyz'.repeat(100));
  const parts = [data.subarray(0, 1000), data.subarray(1000, 1001), data.subarray(1001, 3000), data.subarray(3000)];
  const expected = { digest: sha256(data), size: data.length };

  it('passes exactly the expected bytes through unchanged', async () => {
    expect((await verifyChunks(parts, expected)).equals(data)).toBe(true);
  });

  it('verifies sha512 digests', async () => {
    expect((await verifyChunks(parts, { digest: sha512(data), size: data.length })).equals(data)).toBe(true);
  });

  it('accepts an empty stream for an empty blob', async () => {
    expect((await verifyChunks([], { digest: sha256(Buffer.alloc(0)), size: 0 })).length).toBe(0);
  });

  it('fails a short stream at its end with a size mismatch', async () => {
    const e = await rejected(verifyChunks(parts.slice(0, 3), expected), 'OCI_ERR_SIZE_MISMATCH');
    expect(e.message).toContain('test blob');
    expect(e.message).toContain('got 3000');
  });

  it('fails a short empty stream', async () => {
    await rejected(verifyChunks([], expected), 'OCI_ERR_SIZE_MISMATCH');
  });

  it('fails a long stream as soon as it exceeds the size, without passing the excess on', async () => {
    const vs = new VerifyingStream({ digest: sha256(data), size: 10 }, 'test blob');
    const out: Buffer[] = [];
    vs.on('data', (c: Buffer) => out.push(c));
    const failure = new Promise<Error>((resolve) => vs.on('error', resolve));
    vs.write(data.subarray(0, 6));
    vs.write(data.subarray(6, 10));
    vs.write(data.subarray(10, 11)); // one byte too many; the stream is never ended
    const e = await failure;
    expect(isOciToolError(e) && e.code).toBe('OCI_ERR_SIZE_MISMATCH');
    expect(Buffer.concat(out).equals(data.subarray(0, 10))).toBe(true);
  });

  it('stops pulling from a long source once it has exceeded', async () => {
    let produced = 0;
    const source = Readable.from((function* () {
      for (let i = 0; i < 1000; i++) {
        produced++;
        yield Buffer.alloc(100, 1);
      }
    })(), { highWaterMark: 1 });
    const sink = new Writable({ write: (_c, _e, cb) => cb() });
    await rejected(pipeline(source, new VerifyingStream({ digest: sha256(Buffer.alloc(250, 1)), size: 250 }, 'x'), sink), 'OCI_ERR_SIZE_MISMATCH');
    expect(produced).toBeLessThan(100);
  });

  it('fails a stream of the right size with the wrong content at its end', async () => {
    const wrong = Buffer.from(data);
    wrong.writeUInt8(wrong.readUInt8(data.length - 1) ^ 1, data.length - 1);
    const e = await rejected(verifyChunks([wrong], expected), 'OCI_ERR_DIGEST_MISMATCH');
    expect(e.message).toContain(expected.digest);
    expect(e.message).toContain(sha256(wrong));
  });

  it('resumes from a hash seeded with the bytes already held', async () => {
    const held = data.subarray(0, 1234);
    const hash = createHash('sha256').update(held);
    const out = await verifyChunks([data.subarray(1234)], expected, { hash, offset: held.length });
    expect(out.equals(data.subarray(1234))).toBe(true);
  });

  it('counts a resume offset toward the size', async () => {
    const held = data.subarray(0, 1234);
    // The right hash but an offset that overstates what is held: the total is too long.
    await rejected(verifyChunks([data.subarray(1234)], expected, { hash: createHash('sha256').update(held), offset: 1235 }), 'OCI_ERR_SIZE_MISMATCH');
    // An offset that understates it: too short.
    await rejected(verifyChunks([data.subarray(1234)], expected, { hash: createHash('sha256').update(held), offset: 1233 }), 'OCI_ERR_SIZE_MISMATCH');
  });

  it('fails a resume whose seed hash does not cover the held bytes', async () => {
    await rejected(verifyChunks([data.subarray(1234)], expected, { hash: createHash('sha256'), offset: 1234 }), 'OCI_ERR_DIGEST_MISMATCH');
  });
});
