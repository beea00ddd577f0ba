// Verification of cosign's legacy ("simple signing") signatures, offline, in containers/image's
// order: signature present → key / Rekor SET / certificate → cryptographic signature → payload →
// manifest digest → identity. Every rejection is an OCI_ERR_SIGNATURE with a one-line reason; an
// unusable trust configuration is OCI_ERR_BAD_KEY.
import { constants, verify, type KeyObject, type X509Certificate } from 'node:crypto';
import { OciToolError, isOciToolError } from '../errors.js';
import { digestOf, parseDigest } from '../image/digest.js';
import { formatReference, parseReference, type Reference } from '../registry/reference.js';
import { checkCertificateIdentity, parseCertificates, verifyCertificateChain, type CertificateIdentityPolicy } from './certificates.js';
import { checkRekorKeys, verifyRekorSet } from './rekor-set.js';
import {
  BUNDLE_ANNOTATION,
  CERTIFICATE_ANNOTATION,
  CHAIN_ANNOTATION,
  SIGNATURE_ANNOTATION,
  SIMPLE_SIGNING_MEDIA_TYPE,
  decodeBase64,
  parsePayload,
  type ParsedPayload,
} from './simple-signing.js';

export interface LegacySignature {
  /** The payload blob, exactly as stored. */
  payload: Buffer;
  /** Base64 (line breaks allowed); '' to take it from the annotation. */
  signature: string;
  annotations: Record<string, string>;
  /** The layer's media type; anything but simple signing is an attachment, not a signature. */
  mediaType?: string;
}

export interface LegacyTrust {
  /** Any one matching is enough. */
  publicKeys?: KeyObject[];
  /** When set, a Rekor SET is required and checked. */
  rekorPublicKeys?: KeyObject[];
  fulcio?: { roots: string[]; subjectEmail?: string; subjectRegExp?: RegExp; subject?: string; oidcIssuer?: string; oidcIssuerRegExp?: RegExp };
  pki?: { roots: string[]; intermediates?: string[]; subjectEmail?: string; subjectHostname?: string };
}

export interface LegacyExpectation {
  manifestDigest: string;
  dockerReference?: string;
  /** Default matchRepository; without a dockerReference only 'ignore' is possible. */
  identityPolicy?: 'matchRepository' | 'matchExact' | 'ignore';
}

export interface LegacySigner {
  kind: 'key' | 'fulcio' | 'pki';
  identity?: string;
  issuer?: string;
}

export interface LegacyVerification {
  payload: ParsedPayload;
  signer: LegacySigner;
  /** When a Rekor SET was checked: the time the log recorded the entry. */
  integratedTime?: Date;
}

const reject = (reason: string) => new OciToolError('OCI_ERR_SIGNATURE', reason);
const badKey = (reason: string) => new OciToolError('OCI_ERR_BAD_KEY', reason);
const MAX_PAYLOAD_BYTES = 1024 * 1024;

type Kind = LegacySigner['kind'];

/** Refuses a configuration that cannot verify anything; returns which kind of signer it accepts. */
function checkTrust(trust: LegacyTrust): Kind {
  const kinds: Kind[] = [];
  if (trust.publicKeys?.length) kinds.push('key');
  if (trust.fulcio) kinds.push('fulcio');
  if (trust.pki) kinds.push('pki');
  if (kinds.length !== 1) throw badKey(`legacy signature trust needs exactly one of public keys, Fulcio or PKI roots (got ${kinds.length ? kinds.join(', ') : 'none'})`);
  const kind = kinds[0] as Kind;
  if (trust.rekorPublicKeys !== undefined) checkRekorKeys(trust.rekorPublicKeys);
  if (kind === 'key') {
    (trust.publicKeys as KeyObject[]).forEach((key, i) => {
      if (key.type !== 'public' || !['ec', 'rsa', 'ed25519'].includes(key.asymmetricKeyType ?? '')) {
        throw badKey(`public key ${i + 1} is not an ECDSA, RSA or Ed25519 public key (it is ${key.type} ${key.asymmetricKeyType ?? 'secret'})`);
      }
    });
  } else if (kind === 'fulcio') {
    const f = trust.fulcio as NonNullable<LegacyTrust['fulcio']>;
    // The SET's integratedTime is the only trustworthy time to check a short-lived certificate at.
    if (trust.rekorPublicKeys === undefined) throw badKey('Fulcio trust requires Rekor public keys (a Rekor SET dates the short-lived certificate)');
    parseRoots(f.roots, 'Fulcio root');
    if (f.subject === undefined && f.subjectRegExp === undefined && f.subjectEmail === undefined) throw badKey('Fulcio trust needs a certificate identity (subject, subject regexp or e-mail)');
    if (f.oidcIssuer === undefined && f.oidcIssuerRegExp === undefined) throw badKey('Fulcio trust needs an OIDC issuer (exact or regexp)');
  } else {
    const p = trust.pki as NonNullable<LegacyTrust['pki']>;
    parseRoots(p.roots, 'PKI root');
    (p.intermediates ?? []).forEach((pem, i) => parseCertificates(pem, `PKI intermediate ${i + 1}`, 'OCI_ERR_BAD_KEY'));
    if (p.subjectEmail === undefined && p.subjectHostname === undefined) throw badKey('PKI trust needs a subject e-mail or host name');
  }
  return kind;
}

function parseRoots(roots: readonly string[], what: string): void {
  const certs = roots.flatMap((pem, i) => parseCertificates(pem, `${what} ${i + 1}`, 'OCI_ERR_BAD_KEY'));
  if (certs.length === 0) throw badKey(`no ${what} certificate is configured`);
}

function checkExpectation(expected: LegacyExpectation): void {
  try {
    parseDigest(expected.manifestDigest, 'expected manifest digest');
  } catch (e) {
    throw new OciToolError('OCI_ERR_USAGE', (e as Error).message);
  }
  const policy = expected.identityPolicy ?? 'matchRepository';
  if (policy !== 'ignore') {
    if (expected.dockerReference === undefined) throw new OciToolError('OCI_ERR_USAGE', `identity policy ${policy} needs the image's docker reference`);
    parseReference(expected.dockerReference);
  }
}

function annotation(sig: LegacySignature, name: string): string | undefined {
  return Object.hasOwn(sig.annotations, name) ? sig.annotations[name] : undefined;
}

function signatureText(sig: LegacySignature): string {
  const fromAnnotation = annotation(sig, SIGNATURE_ANNOTATION);
  if (sig.signature !== '' && fromAnnotation !== undefined && fromAnnotation !== sig.signature) {
    throw reject(`the signature differs from its ${SIGNATURE_ANNOTATION} annotation`);
  }
  const text = sig.signature !== '' ? sig.signature : fromAnnotation;
  if (text === undefined || text === '') throw reject(`missing ${SIGNATURE_ANNOTATION} annotation`);
  return text;
}

function required(sig: LegacySignature, name: string): string {
  const value = annotation(sig, name);
  if (value === undefined) throw reject(`missing ${name} annotation`);
  return value;
}

/** ECDSA (DER) with SHA-256, RSA PKCS#1 v1.5 with SHA-256, or Ed25519, over the exact bytes. */
function signatureVerifies(key: KeyObject, data: Buffer, signature: Buffer): boolean {
  try {
    switch (key.asymmetricKeyType) {
      case 'ec':
        return verify('sha256', data, { key, dsaEncoding: 'der' }, signature);
      case 'rsa':
        return verify('sha256', data, { key, padding: constants.RSA_PKCS1_PADDING }, signature);
      case 'ed25519':
        return verify(null, data, key, signature);
      default:
        return false;
    }
  } catch {
    return false;
  }
}

const spki = (key: KeyObject) => key.export({ type: 'spki', format: 'der' });

/**
 * The steps before the payload is read: media type, signature presence, key or certificate (with the
 * SET when Rekor keys are configured), and the cryptographic signature over the payload bytes.
 */
export function verifyLegacySigner(sig: LegacySignature, trust: LegacyTrust): { signer: LegacySigner; integratedTime?: Date } {
  const kind = checkTrust(trust);
  if (sig.mediaType !== undefined && sig.mediaType !== SIMPLE_SIGNING_MEDIA_TYPE) throw reject(`not a signature (media type ${sig.mediaType})`);
  if (sig.payload.length > MAX_PAYLOAD_BYTES) throw reject(`signature payload is ${sig.payload.length} bytes, more than ${MAX_PAYLOAD_BYTES}`);
  const signature = decodeBase64(signatureText(sig), `the ${SIGNATURE_ANNOTATION} annotation`);
  const rekor = trust.rekorPublicKeys;

  if (kind === 'key') {
    let keys = trust.publicKeys as KeyObject[];
    let integratedTime: Date | undefined;
    if (rekor !== undefined) {
      const set = verifyRekorSet(required(sig, BUNDLE_ANNOTATION), rekor, { payload: sig.payload, signature, signers: keys.map(spki) });
      keys = [keys[set.signerIndex] as KeyObject];
      integratedTime = set.integratedTime;
    }
    if (!keys.some((k) => signatureVerifies(k, sig.payload, signature))) throw reject('signature does not verify with the given key(s)');
    return { signer: { kind }, ...(integratedTime ? { integratedTime } : {}) };
  }

  const certificatePem = required(sig, CERTIFICATE_ANNOTATION);
  const leaves = parseCertificates(certificatePem, `the ${CERTIFICATE_ANNOTATION} annotation`);
  if (leaves.length !== 1) throw reject(`the ${CERTIFICATE_ANNOTATION} annotation holds ${leaves.length} certificates, not one`);
  const leaf = leaves[0] as X509Certificate;
  let integratedTime: Date | undefined;
  if (rekor !== undefined) {
    integratedTime = verifyRekorSet(required(sig, BUNDLE_ANNOTATION), rekor, { payload: sig.payload, signature, signers: [leaf.raw] }).integratedTime;
  }
  const chain = annotation(sig, CHAIN_ANNOTATION);
  let policy: CertificateIdentityPolicy;
  if (kind === 'fulcio') {
    const f = trust.fulcio as NonNullable<LegacyTrust['fulcio']>;
    verifyCertificateChain(certificatePem, chain !== undefined ? [chain] : [], f.roots, integratedTime as Date);
    policy = f;
  } else {
    const p = trust.pki as NonNullable<LegacyTrust['pki']>;
    // Long-lived PKI certificates are checked now, or at the logged time when a SET dates the signature.
    verifyCertificateChain(certificatePem, [...(p.intermediates ?? []), ...(chain !== undefined ? [chain] : [])], p.roots, integratedTime ?? new Date());
    policy = { subjectEmail: p.subjectEmail, subjectHostname: p.subjectHostname };
  }
  const { identity, issuer } = checkCertificateIdentity(leaf, policy);
  if (!signatureVerifies(leaf.publicKey, sig.payload, signature)) throw reject("signature does not verify with the certificate's key");
  return {
    signer: { kind, ...(identity !== undefined ? { identity } : {}), ...(issuer !== undefined ? { issuer } : {}) },
    ...(integratedTime ? { integratedTime } : {}),
  };
}

/** A reference as written, or quoted when it is not a valid one (it came from a signature). */
const shown = (s: string) => (/^[\w.:/@[\]-]{1,300}$/.test(s) ? s : JSON.stringify(s.slice(0, 300)));

// parseReference supplies "latest"; matchExact needs to know whether a tag or digest was written.
function hasTagOrDigest(input: string): boolean {
  return input.includes('@') || input.lastIndexOf(':') > input.lastIndexOf('/');
}

function checkIdentity(signed: string, expected: LegacyExpectation): void {
  const policy = expected.identityPolicy ?? 'matchRepository';
  if (policy === 'ignore') return;
  const wanted = expected.dockerReference as string;
  const image = parseReference(wanted);
  let ref: Reference;
  try {
    ref = parseReference(signed);
  } catch {
    throw reject(`signature names ${shown(signed)}, which is not a valid image reference`);
  }
  if (policy === 'matchRepository') {
    if (ref.registry !== image.registry || ref.repository !== image.repository) {
      throw reject(`signature names ${shown(signed)}, not repository ${image.registry}/${image.repository}`);
    }
    return;
  }
  if (!hasTagOrDigest(signed)) throw reject(`signature names ${shown(signed)} without a tag or digest, which matchExact does not accept`);
  if (!hasTagOrDigest(wanted)) throw reject(`signature names ${shown(signed)}, but matchExact needs a tagged image reference, not ${wanted}`);
  if (formatReference(ref) !== formatReference(image)) throw reject(`signature names ${shown(signed)}, not ${formatReference(image)}`);
}

/** Verifies one legacy signature for the manifest `expected.manifestDigest` and the image's reference. */
export function verifyLegacySignature(sig: LegacySignature, trust: LegacyTrust, expected: LegacyExpectation): LegacyVerification {
  checkExpectation(expected);
  const { signer, integratedTime } = verifyLegacySigner(sig, trust);
  const payload = parsePayload(sig.payload);
  if (payload.manifestDigest !== expected.manifestDigest) throw reject(`signature is for digest ${payload.manifestDigest}, not ${expected.manifestDigest}`);
  checkIdentity(payload.dockerReference, expected);
  return { payload, signer, ...(integratedTime ? { integratedTime } : {}) };
}

/**
 * An image is accepted when at least one of its signatures verifies. Attachments of other media
 * types are skipped; configuration and usage errors are thrown at once, not counted as rejections.
 */
export function verifyImageSignatures(signatures: readonly LegacySignature[], trust: LegacyTrust, expected: LegacyExpectation): LegacyVerification & { index: number } {
  checkTrust(trust);
  checkExpectation(expected);
  let skipped = 0;
  let checked = 0;
  let first: string | undefined;
  for (const [index, sig] of signatures.entries()) {
    if (sig.mediaType !== undefined && sig.mediaType !== SIMPLE_SIGNING_MEDIA_TYPE) {
      skipped++;
      continue;
    }
    checked++;
    try {
      return { ...verifyLegacySignature(sig, trust, expected), index };
    } catch (e) {
      if (!isOciToolError(e) || e.code !== 'OCI_ERR_SIGNATURE') throw e;
      first ??= `signature ${index + 1}: ${e.message}`;
    }
  }
  const attachments = `${skipped} non-signature attachment${skipped === 1 ? '' : 's'} skipped`;
  if (checked === 0) throw reject(`no signature to verify (${attachments})`);
  throw reject(`none of ${checked} signature${checked === 1 ? '' : 's'} verifies (${attachments}); ${first}`);
}

const SCHEMA1_SIGNED = 'application/vnd.docker.distribution.manifest.v1+prettyjws';
const BASE64URL = /^[A-Za-z0-9_-]*$/;

function base64url(s: unknown, what: string): Buffer {
  if (typeof s !== 'string' || !BASE64URL.test(s) || s.length % 4 === 1) throw new Error(`${what} is not base64url`);
  return Buffer.from(s, 'base64url');
}

/**
 * The digest a signature must name for these manifest bytes: their SHA-256, except that a signed
 * Docker schema1 manifest is hashed without its JWS signatures (libtrust's formatLength/formatTail),
 * and one whose signatures are malformed has no digest at all. No manifest means nothing to verify.
 */
export function manifestDigestForSignature(bytes: Uint8Array | null | undefined): string {
  if (bytes === null || bytes === undefined) throw reject('no image manifest to check the signature against');
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    return digestOf(bytes);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return digestOf(bytes);
  const m = doc as Record<string, unknown>;
  // containers/image's MIME-type guess: a schemaVersion 1 document with any "signatures" is signed.
  const signed = m.mediaType === SCHEMA1_SIGNED || ((m.mediaType === undefined || m.mediaType === '') && m.schemaVersion === 1 && m.signatures !== undefined && m.signatures !== null);
  if (!signed) return digestOf(bytes);
  try {
    const sigs = m.signatures;
    if (!Array.isArray(sigs) || sigs.length === 0) throw new Error('"signatures" is not a non-empty list');
    let range: { length: number; tail: Buffer } | undefined;
    for (const s of sigs) {
      if (typeof s !== 'object' || s === null || Array.isArray(s)) throw new Error('a signature is not an object');
      const header: unknown = JSON.parse(base64url((s as Record<string, unknown>).protected, 'a protected header').toString('utf8'));
      if (typeof header !== 'object' || header === null) throw new Error('a protected header is not an object');
      const { formatLength, formatTail } = header as Record<string, unknown>;
      if (typeof formatLength !== 'number' || !Number.isSafeInteger(formatLength) || formatLength < 0 || formatLength > bytes.length) {
        throw new Error('formatLength is not a length within the manifest');
      }
      const tail = base64url(formatTail, 'formatTail');
      if (range && (range.length !== formatLength || !range.tail.equals(tail))) throw new Error('the signatures disagree on the signed content');
      range = { length: formatLength, tail };
    }
    const r = range as { length: number; tail: Buffer };
    return digestOf(Buffer.concat([bytes.subarray(0, r.length), r.tail]));
  } catch (e) {
    throw reject(`cannot compute the manifest digest: schema1 manifest with malformed signatures (${(e as Error).message})`);
  }
}
