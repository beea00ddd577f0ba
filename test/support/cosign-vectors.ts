// Loader for the cosign legacy-signature oracles in ../shared/reference/cosign (tests only).
import { createHash, createPublicKey, sign, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { isOciToolError, type ErrorCode } from '../../src/errors.js';
import { canonicalJson } from '../../src/sign/rekor-set.js';
import { REFERENCE_DIR } from './reference.js';

export const COSIGN_DIR = join(REFERENCE_DIR, 'cosign');

export interface CosignIndexEntry {
  file: string;
  trust: 'publicKey' | 'publicKey+rekor' | 'fulcio+rekor' | 'pki';
  expect: string;
}

export interface CosignCase {
  publicKeys?: string[];
  rekorPublicKeys?: string[] | null;
  dockerReference?: string;
  identityPolicy?: string;
  removeAnnotation?: string;
  annotationsOverride?: Record<string, string>;
  fulcio?: string;
  pki?: string;
  payloadOverride?: string;
  checkCertificateAt?: string;
  chain?: string;
  note?: string;
  expect: string;
}

export interface CosignVector {
  name: string;
  rawSignatureFile?: string | null;
  rawManifestFile?: string | null;
  rawFiles?: Record<string, string>;
  mimeType: string;
  manifest: string | null;
  manifestDigest: string | null;
  payload: string;
  payloadBase64: string;
  payloadSha256: string;
  signature: string;
  annotations: Record<string, string>;
  publicKey: string | null;
  publicKeyFile?: string | null;
  trust: CosignIndexEntry['trust'];
  rekorPublicKey?: string;
  fulcio?: { caCertificates: string; oidcIssuer: string; subjectEmail: string };
  pki?: { caRoots: string; caIntermediates: string; subjectEmail: string; subjectHostname: string };
  dockerReference: string | null;
  identityPolicy: 'matchRepository' | 'matchExact' | null;
  expect: string;
  note?: string;
  cases?: CosignCase[];
}

export function cosignIndex(): CosignIndexEntry[] {
  return JSON.parse(readFileSync(join(COSIGN_DIR, 'index.json'), 'utf8')) as CosignIndexEntry[];
}

export function cosignVector(file: string): CosignVector {
  return JSON.parse(readFileSync(join(COSIGN_DIR, file), 'utf8')) as CosignVector;
}

export function rawBytes(path: string): Buffer {
  return readFileSync(join(COSIGN_DIR, path.startsWith('raw/') ? path : join('raw', path)));
}

export function rawText(path: string): string {
  return rawBytes(path).toString('utf8');
}

/** A key file under raw/ by its name ("cosign.pub", "rekor.pub", …). */
export function rawKey(name: string): KeyObject {
  return createPublicKey(rawText(name));
}

export interface RawSignatureFile {
  mimeType: string;
  payload: Buffer;
  annotations: Record<string, string>;
}

/** containers/image's "dir:" signature file: 0x00, "sigstore-json", "\n", then the JSON. */
export function readSignatureFile(path: string): RawSignatureFile {
  const bytes = rawBytes(path);
  const prefix = Buffer.from('\x00sigstore-json\n', 'latin1');
  if (!bytes.subarray(0, prefix.length).equals(prefix)) throw new Error(`${path} is not a sigstore-json signature file`);
  const doc = JSON.parse(bytes.subarray(prefix.length).toString('utf8')) as { mimeType: string; payload: string; annotations: Record<string, string> };
  return { mimeType: doc.mimeType, payload: Buffer.from(doc.payload, 'base64'), annotations: doc.annotations };
}

export interface RekorSetInput {
  /** The log's private key (ECDSA) and its public half. */
  rekorKey: KeyObject;
  rekorPublicKey: KeyObject;
  payload: Buffer;
  signature: Buffer;
  /** PEM of the signing key or certificate, as cosign uploads it. */
  signerPem: string;
  integratedTime: number;
  logIndex?: number;
  kind?: 'hashedrekord' | 'rekord';
}

/** A SET like Rekor's, for tests that need one for their own keys. */
export function makeRekorSet(input: RekorSetInput): string {
  const hash = { algorithm: 'sha256', value: createHash('sha256').update(input.payload).digest('hex') };
  const signature = { ...(input.kind === 'rekord' ? { format: 'x509' } : {}), content: input.signature.toString('base64'), publicKey: { content: Buffer.from(input.signerPem).toString('base64') } };
  const body = { apiVersion: '0.0.1', kind: input.kind ?? 'hashedrekord', spec: { data: { hash }, signature } };
  const payload = {
    body: Buffer.from(JSON.stringify(body)).toString('base64'),
    integratedTime: input.integratedTime,
    logIndex: input.logIndex ?? 1,
    logID: createHash('sha256').update(input.rekorPublicKey.export({ type: 'spki', format: 'der' })).digest('hex'),
  };
  const set = sign('sha256', Buffer.from(canonicalJson(payload)), { key: input.rekorKey, dsaEncoding: 'der' });
  return JSON.stringify({ SignedEntryTimestamp: set.toString('base64'), Payload: payload });
}

/** The OciToolError that run() throws (one line), or a test failure when it throws none. */
export function failure(run: () => unknown): { code: ErrorCode; message: string } {
  try {
    run();
  } catch (e) {
    if (isOciToolError(e)) {
      expect(e.message).not.toContain('\n');
      return { code: e.code, message: e.message };
    }
    throw e;
  }
  throw new Error('expected a rejection');
}
