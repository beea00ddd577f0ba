// Rekor Signed Entry Timestamps (the dev.sigstore.cosign/bundle annotation): offline proof that a
// transparency log accepted an entry naming this signature, this key or certificate and this payload,
// at integratedTime. Only the SET is checked; inclusion proofs need the log and are out of scope.
import { createHash, verify, type KeyObject } from 'node:crypto';
import { OciToolError } from '../errors.js';
import { parsePem } from './certificates.js';
import { spkiSha256 } from './key-signer.js';
import { decodeBase64, decodeUtf8, parseStrictJson } from './simple-signing.js';

const reject = (reason: string) => new OciToolError('OCI_ERR_SIGNATURE', reason);
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * RFC 8785 (JCS) canonical JSON: members sorted by UTF-16 code units, no whitespace, strings and
 * numbers as ECMAScript's JSON.stringify writes them (which is what JCS specifies).
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value === 'boolean') return JSON.stringify(value);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new OciToolError('OCI_ERR_INTERNAL', 'canonical JSON has no form for a non-finite number');
    return JSON.stringify(value);
  }
  if (typeof value === 'string') {
    // JCS refuses lone surrogates; JSON.stringify would escape them instead.
    if (/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(value)) {
      throw new OciToolError('OCI_ERR_INTERNAL', 'canonical JSON has no form for a lone surrogate');
    }
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (isObject(value)) {
    const keys = Object.keys(value).filter((k) => value[k] !== undefined).sort();
    return `{${keys.map((k) => `${canonicalJson(k)}:${canonicalJson(value[k])}`).join(',')}}`;
  }
  throw new OciToolError('OCI_ERR_INTERNAL', `canonical JSON has no form for a ${typeof value}`);
}

/** A log's ID: hex SHA-256 of its public key's DER SubjectPublicKeyInfo. */
export function rekorLogId(key: KeyObject): string {
  return spkiSha256(key).toString('hex');
}

/** Refuses keys that cannot sign a SET; Rekor's are ECDSA (Ed25519 accepted for newer logs). */
export function checkRekorKeys(keys: readonly KeyObject[]): void {
  if (keys.length === 0) throw new OciToolError('OCI_ERR_BAD_KEY', 'no Rekor public key is configured');
  keys.forEach((key, i) => {
    if (key.type !== 'public' || (key.asymmetricKeyType !== 'ec' && key.asymmetricKeyType !== 'ed25519')) {
      throw new OciToolError('OCI_ERR_BAD_KEY', `Rekor public key ${i + 1} is not an ECDSA public key (it is ${key.type} ${key.asymmetricKeyType ?? 'secret'})`);
    }
  });
}

export interface RekorSetPayload {
  body: string;
  integratedTime: number;
  logIndex: number;
  logID: string;
}

/** What the SET's entry says was logged. */
export interface RekorEntry {
  kind: 'hashedrekord' | 'rekord';
  /** Hash of the signed payload, as algorithm and lower-case hex. */
  hash: { algorithm: 'sha256' | 'sha384' | 'sha512'; value: string };
  signature: Buffer;
  /** DER of the PEM block in the entry: a SubjectPublicKeyInfo or a certificate. */
  publicKeyDer: Buffer;
}

export interface VerifiedRekorSet {
  integratedTime: Date;
  logIndex: number;
  logID: string;
  entry: RekorEntry;
  /** Index into `expected.signers` of the key or certificate the entry names. */
  signerIndex: number;
}

/** The annotation's JSON, with exactly the members cosign writes. */
export function parseRekorSet(annotation: string): { signedEntryTimestamp: Buffer; payload: RekorSetPayload } {
  const bad = (reason: string) => reject(`Rekor SET cannot be parsed: ${reason}`);
  let top: unknown;
  try {
    top = parseStrictJson(annotation, 'it');
  } catch (e) {
    throw bad((e as Error).message);
  }
  if (!isObject(top)) throw bad('not a JSON object');
  const exact = (o: Record<string, unknown>, names: string[], where: string) => {
    for (const k of Object.keys(o)) if (!names.includes(k)) throw bad(`unexpected member ${JSON.stringify(k)} in ${where}`);
    for (const n of names) if (!(n in o)) throw bad(`${where} has no ${n}`);
  };
  exact(top, ['SignedEntryTimestamp', 'Payload'], 'the SET');
  const p = top.Payload;
  if (!isObject(p)) throw bad('Payload is not an object');
  exact(p, ['body', 'integratedTime', 'logIndex', 'logID'], 'Payload');
  if (typeof top.SignedEntryTimestamp !== 'string') throw bad('SignedEntryTimestamp is not a string');
  if (typeof p.body !== 'string') throw bad('body is not a string');
  if (typeof p.logID !== 'string' || !/^[0-9a-f]{64}$/.test(p.logID)) throw bad('logID is not a hex SHA-256');
  for (const n of ['integratedTime', 'logIndex'] as const) {
    const v = p[n];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw bad(`${n} is not a non-negative integer`);
  }
  return {
    signedEntryTimestamp: decodeBase64(top.SignedEntryTimestamp, 'Rekor SET SignedEntryTimestamp'),
    payload: { body: p.body, integratedTime: p.integratedTime as number, logIndex: p.logIndex as number, logID: p.logID },
  };
}

function str(v: unknown, where: string): string {
  if (typeof v !== 'string') throw reject(`Rekor entry: ${where} is not a string`);
  return v;
}

function obj(v: unknown, where: string): Record<string, unknown> {
  if (!isObject(v)) throw reject(`Rekor entry: ${where} is not an object`);
  return v;
}

/** A hashedrekord 0.0.1 or rekord 0.0.1 (x509 signature) entry body. */
export function parseRekorEntry(bodyBase64: string): RekorEntry {
  const body = obj(parseStrictJson(decodeUtf8(decodeBase64(bodyBase64, 'Rekor entry body'), 'Rekor entry body'), 'Rekor entry body'), 'body');
  const kind = str(body.kind, 'kind');
  const apiVersion = str(body.apiVersion, 'apiVersion');
  if ((kind !== 'hashedrekord' && kind !== 'rekord') || apiVersion !== '0.0.1') {
    throw reject(`Rekor entry is ${kind} ${apiVersion}; only hashedrekord 0.0.1 and rekord 0.0.1 are supported`);
  }
  const spec = obj(body.spec, 'spec');
  const sig = obj(spec.signature, 'spec.signature');
  if (kind === 'rekord' && sig.format !== 'x509') throw reject(`Rekor entry: rekord signature format ${JSON.stringify(sig.format)} is not x509`);
  const data = obj(spec.data, 'spec.data');
  let hash: RekorEntry['hash'];
  if (data.hash !== undefined) {
    const h = obj(data.hash, 'spec.data.hash');
    const algorithm = str(h.algorithm, 'spec.data.hash.algorithm');
    if (algorithm !== 'sha256' && algorithm !== 'sha384' && algorithm !== 'sha512') throw reject(`Rekor entry: unsupported hash algorithm ${JSON.stringify(algorithm)}`);
    hash = { algorithm, value: str(h.value, 'spec.data.hash.value').toLowerCase() };
  } else if (kind === 'rekord' && data.content !== undefined) {
    // A rekord may carry the data itself rather than its hash.
    hash = { algorithm: 'sha256', value: createHash('sha256').update(decodeBase64(str(data.content, 'spec.data.content'), 'Rekor entry data')).digest('hex') };
  } else {
    throw reject('Rekor entry has no data hash');
  }
  const keyPem = decodeBase64(str(obj(sig.publicKey, 'spec.signature.publicKey').content, 'spec.signature.publicKey.content'), 'Rekor entry public key').toString('utf8');
  const blocks = parsePem(keyPem, 'Rekor entry public key');
  if (blocks.length !== 1) throw reject(`Rekor entry public key holds ${blocks.length} PEM blocks, not one`);
  return { kind, hash, signature: decodeBase64(str(sig.content, 'spec.signature.content'), 'Rekor entry signature'), publicKeyDer: (blocks[0] as { der: Buffer }).der };
}

function verifySetSignature(key: KeyObject, data: Buffer, signature: Buffer): boolean {
  try {
    return key.asymmetricKeyType === 'ed25519' ? verify(null, data, key, signature) : verify('sha256', data, { key, dsaEncoding: 'der' }, signature);
  } catch {
    return false;
  }
}

/**
 * Verifies a SET as containers/image does: signed by the configured log whose ID it names, over
 * the canonical JSON of its Payload; the entry names this signature, one of `signers` (DER of a
 * public key or certificate) and this payload's hash.
 */
export function verifyRekorSet(
  annotation: string,
  rekorKeys: readonly KeyObject[],
  expected: { payload: Uint8Array; signature: Uint8Array; signers: readonly Uint8Array[] },
): VerifiedRekorSet {
  checkRekorKeys(rekorKeys);
  const set = parseRekorSet(annotation);
  const logKeys = rekorKeys.filter((k) => rekorLogId(k) === set.payload.logID);
  if (logKeys.length === 0) throw reject(`Rekor SET is not signed by a configured Rekor key (its log ID ${set.payload.logID} names none of them)`);
  const signed = Buffer.from(canonicalJson(set.payload), 'utf8');
  if (!logKeys.some((k) => verifySetSignature(k, signed, set.signedEntryTimestamp))) {
    throw reject(`Rekor SET is not signed by a configured Rekor key (its signature does not verify with the key of log ${set.payload.logID})`);
  }

  const entry = parseRekorEntry(set.payload.body);
  // The order of containers/image: signature, then key, then payload.
  if (!entry.signature.equals(expected.signature)) throw reject('Rekor SET names a different signature than the signature annotation');
  const signerIndex = expected.signers.findIndex((s) => entry.publicKeyDer.equals(s));
  if (signerIndex < 0) throw reject('Rekor SET names a different public key or certificate than the signer');
  const actual = createHash(entry.hash.algorithm).update(expected.payload).digest('hex');
  if (entry.hash.value !== actual) throw reject(`Rekor SET names a different payload (${entry.hash.algorithm}:${entry.hash.value}, not ${entry.hash.algorithm}:${actual})`);
  return {
    integratedTime: new Date(set.payload.integratedTime * 1000),
    logIndex: set.payload.logIndex,
    logID: set.payload.logID,
    entry,
    signerIndex,
  };
}
