// The one module that checks content against its digest and size.
import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { OciToolError } from '../errors.js';

export type DigestAlgorithm = 'sha256' | 'sha512';

const hexLength: Record<DigestAlgorithm, number> = { sha256: 64, sha512: 128 };
const digestPattern = /^([a-z0-9]+(?:[+._-][a-z0-9]+)*):([a-zA-Z0-9=_-]+)$/;

export interface ParsedDigest {
  readonly algorithm: DigestAlgorithm;
  readonly hex: string;
}

export function isDigest(value: string): boolean {
  try {
    parseDigest(value);
    return true;
  } catch {
    return false;
  }
}

/** Parses sha256/sha512 digests; other registered algorithms are refused since we cannot verify them. */
export function parseDigest(value: string, where = 'digest'): ParsedDigest {
  const m = digestPattern.exec(value);
  if (!m) throw new OciToolError('OCI_ERR_INVALID_CONTENT', `invalid ${where} "${value}"`);
  const algorithm = m[1] as DigestAlgorithm;
  const hex = m[2] as string;
  if (!Object.hasOwn(hexLength, algorithm)) {
    throw new OciToolError('OCI_ERR_UNSUPPORTED', `unsupported digest algorithm "${m[1]}" in ${where} "${value}"`);
  }
  if (hex.length !== hexLength[algorithm] || !/^[a-f0-9]+$/.test(hex)) {
    throw new OciToolError('OCI_ERR_INVALID_CONTENT', `invalid ${where} "${value}": expected ${hexLength[algorithm]} lower-case hex characters`);
  }
  return { algorithm, hex };
}

export function hasherFor(digest: string): Hash {
  return createHash(parseDigest(digest).algorithm);
}

export function digestOf(bytes: Uint8Array, algorithm: DigestAlgorithm = 'sha256'): string {
  return `${algorithm}:${createHash(algorithm).update(bytes).digest('hex')}`;
}

export function digestMismatch(what: string, expected: string, actual: string): OciToolError {
  return new OciToolError('OCI_ERR_DIGEST_MISMATCH', `digest mismatch for ${what}: expected ${expected}, got ${actual}`);
}

export function sizeMismatch(what: string, expected: number, actual: number | string): OciToolError {
  return new OciToolError('OCI_ERR_SIZE_MISMATCH', `size mismatch for ${what}: expected ${expected} bytes, got ${actual}`);
}

/** Checks bytes in hand (manifests, configs) against an expected digest and optional size. */
export function verifyBytes(bytes: Uint8Array, expected: { digest: string; size?: number }, what: string): void {
  if (expected.size !== undefined && bytes.byteLength !== expected.size) throw sizeMismatch(what, expected.size, bytes.byteLength);
  const actual = digestOf(bytes, parseDigest(expected.digest).algorithm);
  if (actual !== expected.digest) throw digestMismatch(what, expected.digest, actual);
}

/**
 * Counts and hashes a stream while passing it on, failing as soon as it exceeds the expected size
 * and at its end when the size or digest differ. It may start from a hash of bytes already held
 * (a resumed download).
 */
export class VerifyingStream extends Transform {
  private readonly hash: Hash;
  private count: number;

  constructor(
    private readonly expected: { digest: string; size: number },
    private readonly what: string,
    resume?: { hash: Hash; offset: number },
  ) {
    super();
    this.hash = resume?.hash ?? hasherFor(expected.digest);
    this.count = resume?.offset ?? 0;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.count += chunk.length;
    if (this.count > this.expected.size) {
      done(sizeMismatch(this.what, this.expected.size, `more than that`));
      return;
    }
    this.hash.update(chunk);
    done(null, chunk);
  }

  override _flush(done: TransformCallback): void {
    if (this.count !== this.expected.size) {
      done(sizeMismatch(this.what, this.expected.size, this.count));
      return;
    }
    const actual = `${parseDigest(this.expected.digest).algorithm}:${this.hash.digest('hex')}`;
    done(actual === this.expected.digest ? null : digestMismatch(this.what, this.expected.digest, actual));
  }
}
