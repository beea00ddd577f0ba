// X.509 for cosign's certificate-based signatures (Fulcio and bring-your-own PKI): PEM, a minimal DER
// reader for what node's X509Certificate does not expose (exact validity times, extensions and their
// criticality, basic constraints with path length, SANs, Fulcio's OIDC issuer), path building and
// identity matching.
import { X509Certificate } from 'node:crypto';
import { OciToolError, type ErrorCode } from '../errors.js';

const reject = (reason: string, code: ErrorCode = 'OCI_ERR_SIGNATURE') => new OciToolError(code, reason);

export const OID = {
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  extKeyUsage: '2.5.29.37',
  anyExtendedKeyUsage: '2.5.29.37.0',
  codeSigning: '1.3.6.1.5.5.7.3.3',
  fulcioIssuerV1: '1.3.6.1.4.1.57264.1.1',
  fulcioIssuerV2: '1.3.6.1.4.1.57264.1.8',
} as const;

// Critical extensions this module enforces, or that carry no constraint; any other critical one
// (name or policy constraints, say) makes the certificate unusable rather than silently ignored.
const UNDERSTOOD_CRITICAL = new Set<string>([OID.keyUsage, OID.subjectAltName, OID.basicConstraints, OID.extKeyUsage, '2.5.29.14', '2.5.29.35']);
const MAX_PATH = 8;
const MAX_INTERMEDIATES = 32;

// ---------------------------------------------------------------------------------------------
// PEM

export interface PemBlock {
  label: string;
  der: Buffer;
}

/** PEM blocks; anything but whitespace outside them, or encapsulated headers, is refused. */
export function parsePem(text: string, what: string, code: ErrorCode = 'OCI_ERR_SIGNATURE'): PemBlock[] {
  const bad = (reason: string) => reject(`${what} cannot be parsed: ${reason}`, code);
  const blocks: PemBlock[] = [];
  const re = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([A-Za-z0-9+/=\r\n]*?)\r?\n?-----END \1-----/g;
  let last = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    if (text.slice(last, m.index).trim() !== '') throw bad('data outside the PEM blocks');
    const body = (m[2] as string).replace(/[\r\n]/g, '');
    if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(body)) throw bad('invalid base64 in a PEM block');
    blocks.push({ label: m[1] as string, der: Buffer.from(body, 'base64') });
    last = re.lastIndex;
  }
  if (text.slice(last).trim() !== '') throw bad(blocks.length ? 'data outside the PEM blocks' : 'not PEM');
  return blocks;
}

/** Every certificate in a PEM text; each must be a well-formed X.509 certificate. */
export function parseCertificates(text: string, what: string, code: ErrorCode = 'OCI_ERR_SIGNATURE'): X509Certificate[] {
  return parsePem(text, what, code).map((block) => {
    if (block.label !== 'CERTIFICATE') throw reject(`${what} holds a ${block.label}, not a CERTIFICATE`, code);
    try {
      const cert = new X509Certificate(block.der);
      readCertificateFields(cert.raw);
      return cert;
    } catch (e) {
      throw reject(`${what} cannot be parsed: ${(e as Error).message.split('\n')[0]}`, code);
    }
  });
}

// ---------------------------------------------------------------------------------------------
// DER

interface Tlv {
  tag: number;
  valueStart: number;
  end: number;
}

class DerError extends Error {}

function readTlv(buf: Uint8Array, pos: number, limit: number): Tlv {
  if (pos + 2 > limit) throw new DerError('truncated DER');
  const tag = buf[pos] as number;
  if ((tag & 0x1f) === 0x1f) throw new DerError('unsupported DER tag');
  let length = buf[pos + 1] as number;
  let valueStart = pos + 2;
  if (length & 0x80) {
    const n = length & 0x7f;
    // Indefinite lengths are BER, not DER; four length bytes are far beyond any certificate.
    if (n === 0 || n > 4) throw new DerError('unsupported DER length');
    if (valueStart + n > limit) throw new DerError('truncated DER');
    length = 0;
    for (let i = 0; i < n; i++) length = length * 256 + (buf[valueStart + i] as number);
    valueStart += n;
  }
  const end = valueStart + length;
  if (end > limit) throw new DerError('truncated DER');
  return { tag, valueStart, end };
}

function childrenOf(buf: Uint8Array, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let p = parent.valueStart; p < parent.end; ) {
    const child = readTlv(buf, p, parent.end);
    out.push(child);
    p = child.end;
  }
  return out;
}

function expectTag(t: Tlv | undefined, tag: number, what: string): Tlv {
  if (t === undefined || t.tag !== tag) throw new DerError(`malformed ${what}`);
  return t;
}

function decodeOid(bytes: Uint8Array): string {
  if (bytes.length === 0) throw new DerError('empty OID');
  const arcs: number[] = [];
  let value = 0;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i] as number;
    if (value === 0 && b === 0x80) throw new DerError('non-minimal OID');
    value = value * 128 + (b & 0x7f);
    if (value > Number.MAX_SAFE_INTEGER / 128) throw new DerError('OID arc too large');
    if (!(b & 0x80)) {
      if (arcs.length === 0) {
        const first = Math.min(Math.floor(value / 40), 2);
        arcs.push(first, value - first * 40);
      } else {
        arcs.push(value);
      }
      value = 0;
    } else if (i === bytes.length - 1) {
      throw new DerError('truncated OID');
    }
  }
  return arcs.join('.');
}

function decodeTime(buf: Uint8Array, t: Tlv): Date {
  const s = Buffer.from(buf.subarray(t.valueStart, t.end)).toString('latin1');
  let m: RegExpExecArray | null;
  let year: number;
  if (t.tag === 0x17) {
    m = /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(s);
    if (!m) throw new DerError('malformed UTCTime');
    const yy = Number(m[1]);
    year = yy >= 50 ? 1900 + yy : 2000 + yy;
  } else if (t.tag === 0x18) {
    m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(s);
    if (!m) throw new DerError('malformed GeneralizedTime');
    year = Number(m[1]);
  } else {
    throw new DerError('malformed validity time');
  }
  const [mo, d, h, mi, se] = m.slice(2).map(Number) as [number, number, number, number, number];
  const date = new Date(Date.UTC(year, mo - 1, d, h, mi, se));
  if (date.getUTCMonth() !== mo - 1 || date.getUTCDate() !== d || h > 23 || mi > 59 || se > 59) throw new DerError('invalid validity time');
  return date;
}

export interface CertificateExtension {
  critical: boolean;
  value: Buffer;
}

export interface CertificateFields {
  notBefore: Date;
  notAfter: Date;
  extensions: Map<string, CertificateExtension>;
}

/** Walks Certificate → tbsCertificate → validity and extensions (RFC 5280 §4.1). */
export function readCertificateFields(der: Uint8Array): CertificateFields {
  const cert = readTlv(der, 0, der.length);
  if (cert.tag !== 0x30 || cert.end !== der.length) throw new DerError('not a DER certificate');
  const tbs = expectTag(childrenOf(der, cert)[0], 0x30, 'tbsCertificate');
  const fields = childrenOf(der, tbs);
  let i = fields[0]?.tag === 0xa0 ? 1 : 0; // [0] EXPLICIT version
  expectTag(fields[i++], 0x02, 'serial number');
  expectTag(fields[i++], 0x30, 'signature algorithm');
  expectTag(fields[i++], 0x30, 'issuer');
  const validity = childrenOf(der, expectTag(fields[i++], 0x30, 'validity'));
  expectTag(fields[i++], 0x30, 'subject');
  expectTag(fields[i++], 0x30, 'subject public key info');
  if (validity.length !== 2) throw new DerError('malformed validity');
  const extensions = new Map<string, CertificateExtension>();
  for (const field of fields.slice(i)) {
    if (field.tag === 0x81 || field.tag === 0x82) continue; // issuer/subject unique IDs
    if (field.tag !== 0xa3) throw new DerError('unexpected field in tbsCertificate');
    const list = childrenOf(der, field);
    for (const ext of childrenOf(der, expectTag(list[0], 0x30, 'extensions'))) {
      const parts = childrenOf(der, expectTag(ext, 0x30, 'extension'));
      const oid = decodeOid(der.subarray(expectTag(parts[0], 0x06, 'extension id').valueStart, (parts[0] as Tlv).end));
      let critical = false;
      let next = 1;
      if (parts[1]?.tag === 0x01) {
        const b = parts[1];
        if (b.end - b.valueStart !== 1) throw new DerError('malformed critical flag');
        critical = der[b.valueStart] !== 0;
        next = 2;
      }
      const value = expectTag(parts[next], 0x04, 'extension value');
      if (parts.length !== next + 1) throw new DerError('malformed extension');
      // RFC 5280 §4.2: an extension appears at most once; two could be read two ways.
      if (extensions.has(oid)) throw new DerError(`duplicate extension ${oid}`);
      extensions.set(oid, { critical, value: Buffer.from(der.subarray(value.valueStart, value.end)) });
    }
  }
  return {
    notBefore: decodeTime(der, validity[0] as Tlv),
    notAfter: decodeTime(der, validity[1] as Tlv),
      extensions,
  };
}

export interface SubjectAlternativeNames {
  emails: string[];
  dnsNames: string[];
  uris: string[];
}

function ia5(buf: Buffer, t: Tlv): string {
  const bytes = buf.subarray(t.valueStart, t.end);
  if (bytes.some((b) => b > 0x7e || b < 0x20)) throw new DerError('non-ASCII subject alternative name');
  return bytes.toString('latin1');
}

/** E-mail, DNS and URI names of the SAN extension (other kinds are not matched against). */
export function subjectAlternativeNames(cert: X509Certificate): SubjectAlternativeNames {
  const out: SubjectAlternativeNames = { emails: [], dnsNames: [], uris: [] };
  const ext = readCertificateFields(cert.raw).extensions.get(OID.subjectAltName);
  if (!ext) return out;
  const v = ext.value;
  const seq = readTlv(v, 0, v.length);
  if (seq.tag !== 0x30 || seq.end !== v.length) throw new DerError('malformed subject alternative names');
  for (const name of childrenOf(v, seq)) {
    if (name.tag === 0x81) out.emails.push(ia5(v, name));
    else if (name.tag === 0x82) out.dnsNames.push(ia5(v, name));
    else if (name.tag === 0x86) out.uris.push(ia5(v, name));
  }
  return out;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * The OIDC issuer Fulcio recorded: 1.3.6.1.4.1.57264.1.1 holds the raw string, its successor ….1.8 a
 * DER UTF8String. Two extensions that disagree make the certificate ambiguous, so it is refused.
 */
export function fulcioIssuer(cert: X509Certificate): string | undefined {
  const { extensions } = readCertificateFields(cert.raw);
  const v1raw = extensions.get(OID.fulcioIssuerV1)?.value;
  const v2raw = extensions.get(OID.fulcioIssuerV2)?.value;
  let v1: string | undefined;
  let v2: string | undefined;
  try {
    if (v1raw) v1 = utf8.decode(v1raw);
    if (v2raw) {
      const t = readTlv(v2raw, 0, v2raw.length);
      if (t.tag !== 0x0c || t.end !== v2raw.length) throw new DerError('not a UTF8String');
      v2 = utf8.decode(v2raw.subarray(t.valueStart, t.end));
    }
  } catch (e) {
    throw reject(`certificate has a malformed OIDC issuer extension: ${(e as Error).message}`);
  }
  if (v1 !== undefined && v2 !== undefined && v1 !== v2) {
    throw reject(`certificate has two different OIDC issuers: ${JSON.stringify(v1)} and ${JSON.stringify(v2)}`);
  }
  return v2 ?? v1;
}

interface BasicConstraints {
  ca: boolean;
  pathLen?: number;
}

function basicConstraints(fields: CertificateFields): BasicConstraints | undefined {
  const v = fields.extensions.get(OID.basicConstraints)?.value;
  if (!v) return undefined;
  const seq = readTlv(v, 0, v.length);
  if (seq.tag !== 0x30 || seq.end !== v.length) throw new DerError('malformed basic constraints');
  const parts = childrenOf(v, seq);
  const out: BasicConstraints = { ca: false };
  let i = 0;
  if (parts[0]?.tag === 0x01) {
    out.ca = v[parts[0].valueStart] !== 0;
    i = 1;
  }
  const len = parts[i];
  if (len) {
    if (len.tag !== 0x02 || len.end - len.valueStart > 4 || ((v[len.valueStart] as number) & 0x80)) throw new DerError('malformed path length');
    out.pathLen = v.subarray(len.valueStart, len.end).reduce((n, b) => n * 256 + b, 0);
  }
  return out;
}

/** Key usage bits by RFC 5280 number (0 digitalSignature … 5 keyCertSign), or undefined without the extension. */
function keyUsageHas(fields: CertificateFields, bit: number): boolean | undefined {
  const v = fields.extensions.get(OID.keyUsage)?.value;
  if (!v) return undefined;
  const t = readTlv(v, 0, v.length);
  if (t.tag !== 0x03 || t.end !== v.length || t.end - t.valueStart < 1) throw new DerError('malformed key usage');
  const byte = v[t.valueStart + 1 + (bit >> 3)];
  return byte !== undefined && (byte & (0x80 >> (bit & 7))) !== 0;
}

function extKeyUsages(fields: CertificateFields): string[] | undefined {
  const v = fields.extensions.get(OID.extKeyUsage)?.value;
  if (!v) return undefined;
  const seq = readTlv(v, 0, v.length);
  if (seq.tag !== 0x30 || seq.end !== v.length) throw new DerError('malformed extended key usage');
  return childrenOf(v, seq).map((t) => {
    if (t.tag !== 0x06) throw new DerError('malformed extended key usage');
    return decodeOid(v.subarray(t.valueStart, t.end));
  });
}

// ---------------------------------------------------------------------------------------------
// Paths

function describe(cert: X509Certificate, leaf: boolean): string {
  if (leaf) return 'the certificate';
  // Node leaves `subject` undefined for an empty Name (Fulcio leaves have one).
  return `CA certificate "${(cert.subject ?? '').split('\n').join(', ')}"`;
}

/** Why a certificate cannot stand at its place in a path, or undefined when it can. */
function problemOf(cert: X509Certificate, at: Date, role: { leaf: boolean; below: number }): string | undefined {
  let fields: CertificateFields;
  try {
    fields = readCertificateFields(cert.raw);
    const who = describe(cert, role.leaf);
    for (const [oid, ext] of fields.extensions) if (ext.critical && !UNDERSTOOD_CRITICAL.has(oid)) return `${who} has an unsupported critical extension ${oid}`;
    if (at < fields.notBefore) return `${who} is not yet valid at ${at.toISOString()} (valid from ${fields.notBefore.toISOString()})`;
    if (at > fields.notAfter) return `${who} has expired at ${at.toISOString()} (valid until ${fields.notAfter.toISOString()})`;
    // Go's x509 with KeyUsages=[CodeSigning]: every certificate that restricts usage must allow it.
    const eku = extKeyUsages(fields);
    if (eku && !eku.includes(OID.codeSigning) && !eku.includes(OID.anyExtendedKeyUsage)) return `${who} is not valid for code signing`;
    if (role.leaf) {
      if (keyUsageHas(fields, 0) === false) return `${who} is not valid for digital signatures`;
      return undefined;
    }
    const bc = basicConstraints(fields);
    if (!bc?.ca || !cert.ca) return `${who} is not a CA`;
    if (keyUsageHas(fields, 5) === false) return `${who} may not sign certificates`;
    if (bc.pathLen !== undefined && role.below > bc.pathLen) return `${who} allows at most ${bc.pathLen} intermediate(s) below it`;
    return undefined;
  } catch (e) {
    return `${describe(cert, role.leaf)} cannot be parsed: ${(e as Error).message}`;
  }
}

function signedBy(cert: X509Certificate, issuer: X509Certificate): boolean {
  try {
    return cert.checkIssued(issuer) && cert.verify(issuer.publicKey);
  } catch {
    return false;
  }
}

/**
 * Builds a path leaf → intermediates → one of the roots, every certificate valid at `at`, and
 * returns it (leaf first). Intermediates are untrusted candidates; trust comes only from `rootsPem`.
 */
export function verifyCertificateChain(leafPem: string, intermediatesPem: string[], rootsPem: string[], at: Date): X509Certificate[] {
  const roots = rootsPem.flatMap((pem, i) => parseCertificates(pem, `trusted root ${i + 1}`, 'OCI_ERR_BAD_KEY'));
  if (roots.length === 0) throw reject('no trusted root certificates are configured', 'OCI_ERR_BAD_KEY');
  const leaves = parseCertificates(leafPem, 'the certificate');
  if (leaves.length !== 1) throw reject(`the certificate holds ${leaves.length} certificates, not one`);
  const leaf = leaves[0] as X509Certificate;
  const intermediates = intermediatesPem.flatMap((pem) => parseCertificates(pem, 'the certificate chain'));
  if (intermediates.length > MAX_INTERMEDIATES) throw reject(`the certificate chain holds ${intermediates.length} certificates, more than ${MAX_INTERMEDIATES}`);

  const leafProblem = problemOf(leaf, at, { leaf: true, below: 0 });
  if (leafProblem) throw reject(leafProblem);
  // A leaf configured as a root is trusted as itself (as Go's x509 does).
  if (roots.some((r) => r.raw.equals(leaf.raw))) return [leaf];

  let firstProblem: string | undefined;
  const extend = (path: X509Certificate[]): X509Certificate[] | undefined => {
    const current = path[path.length - 1] as X509Certificate;
    const below = path.length - 1;
    for (const root of roots) {
      if (!signedBy(current, root)) continue;
      const problem = problemOf(root, at, { leaf: false, below });
      if (!problem) return [...path, root];
      firstProblem ??= problem;
    }
    if (path.length >= MAX_PATH) return undefined;
    for (const next of intermediates) {
      if (path.some((c) => c.raw.equals(next.raw)) || !signedBy(current, next)) continue;
      const problem = problemOf(next, at, { leaf: false, below });
      if (problem) {
        firstProblem ??= problem;
        continue;
      }
      const found = extend([...path, next]);
      if (found) return found;
    }
    return undefined;
  };
  const path = extend([leaf]);
  if (!path) throw reject(`no valid certificate path to a trusted root${firstProblem ? `: ${firstProblem}` : ''}`);
  return path;
}

// ---------------------------------------------------------------------------------------------
// Identities

export interface CertificateIdentityPolicy {
  /** One SAN (e-mail, URI or DNS name) must equal this: cosign's --certificate-identity. */
  subject?: string;
  /** One SAN must match (unanchored, as cosign's --certificate-identity-regexp). */
  subjectRegExp?: RegExp;
  /** An e-mail SAN must equal this exactly. */
  subjectEmail?: string;
  /** A DNS SAN must match this host name (wildcards as in TLS). */
  subjectHostname?: string;
  /** The Fulcio OIDC issuer must equal this: cosign's --certificate-oidc-issuer. */
  oidcIssuer?: string;
  oidcIssuerRegExp?: RegExp;
}

// A caller's /g or /y regexp would carry lastIndex from one test to the next.
const fresh = (re: RegExp) => new RegExp(re.source, re.flags.replace(/[gy]/g, ''));
const listed = (names: string[]) => (names.length ? names.map((n) => JSON.stringify(n)).join(', ') : 'none');

/** Checks every constraint the policy sets; returns the identity that matched and the OIDC issuer. */
export function checkCertificateIdentity(cert: X509Certificate, policy: CertificateIdentityPolicy): { identity?: string; issuer?: string } {
  let sans: SubjectAlternativeNames;
  try {
    sans = subjectAlternativeNames(cert);
  } catch (e) {
    throw reject(`the certificate's subject alternative names cannot be parsed: ${(e as Error).message}`);
  }
  const all = [...sans.emails, ...sans.uris, ...sans.dnsNames];
  let identity: string | undefined;
  if (policy.subjectEmail !== undefined) {
    if (!sans.emails.includes(policy.subjectEmail)) {
      throw reject(`certificate does not name e-mail ${JSON.stringify(policy.subjectEmail)} (its e-mail names: ${listed(sans.emails)})`);
    }
    identity = policy.subjectEmail;
  }
  if (policy.subjectHostname !== undefined) {
    const host = cert.checkHost(policy.subjectHostname, { subject: 'never', partialWildcards: false });
    if (host === undefined) throw reject(`certificate does not name host ${JSON.stringify(policy.subjectHostname)} (its DNS names: ${listed(sans.dnsNames)})`);
    identity ??= policy.subjectHostname;
  }
  if (policy.subject !== undefined) {
    if (!all.includes(policy.subject)) throw reject(`certificate does not name ${JSON.stringify(policy.subject)} (its names: ${listed(all)})`);
    identity ??= policy.subject;
  }
  if (policy.subjectRegExp !== undefined) {
    const re = fresh(policy.subjectRegExp);
    const match = all.find((n) => re.test(n));
    if (match === undefined) throw reject(`no name of the certificate matches ${policy.subjectRegExp} (its names: ${listed(all)})`);
    identity ??= match;
  }
  let issuer: string | undefined;
  if (policy.oidcIssuer !== undefined || policy.oidcIssuerRegExp !== undefined) {
    issuer = fulcioIssuer(cert);
    if (issuer === undefined) throw reject('certificate has no OIDC issuer extension');
    if (policy.oidcIssuer !== undefined && issuer !== policy.oidcIssuer) {
      throw reject(`certificate was issued for OIDC issuer ${JSON.stringify(issuer)}, not ${JSON.stringify(policy.oidcIssuer)}`);
    }
    if (policy.oidcIssuerRegExp !== undefined && !fresh(policy.oidcIssuerRegExp).test(issuer)) {
      throw reject(`certificate's OIDC issuer ${JSON.stringify(issuer)} does not match ${policy.oidcIssuerRegExp}`);
    }
  }
  return { ...(identity !== undefined ? { identity } : {}), ...(issuer !== undefined ? { issuer } : {}) };
}
