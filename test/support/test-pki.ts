// A throwaway Sigstore-like PKI for keyless tests, built in memory with node:crypto: a root CA, an
// intermediate, Fulcio-style short-lived leaves (empty subject, critical SAN, code signing, the
// OIDC issuer extensions 1.3.6.1.4.1.57264.1.1 and .1.8, and an embedded SCT from a test CT log),
// a test Rekor key, and a sigstore TrustedRoot naming all of them.
//
// Certificates are DER-encoded here rather than with `openssl x509`: an embedded SCT signs the
// certificate's TBS without the SCT extension, so the TBS must be built, signed by the CT log,
// extended and signed again, and validity must be minutes, not days.
import { createHash, generateKeyPairSync, randomBytes, sign, X509Certificate, type KeyObject } from 'node:crypto';

// ---------------------------------------------------------------------------------------------
// DER

function length(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

export function tlv(tag: number, ...content: Buffer[]): Buffer {
  const body = Buffer.concat(content);
  return Buffer.concat([Buffer.from([tag]), length(body.length), body]);
}

function oidBytes(dotted: string): Buffer {
  const parts = dotted.split('.').map(Number);
  const first = (parts[0] as number) * 40 + (parts[1] as number);
  const out: number[] = [];
  for (const n of [first, ...parts.slice(2)]) {
    const group: number[] = [n & 0x7f];
    for (let v = Math.floor(n / 128); v > 0; v = Math.floor(v / 128)) group.unshift((v & 0x7f) | 0x80);
    out.push(...group);
  }
  return Buffer.from(out);
}

function integerBytes(v: bigint): Buffer {
  let hex = v.toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  const b = Buffer.from(hex, 'hex');
  return (b[0] as number) & 0x80 ? Buffer.concat([Buffer.from([0]), b]) : b;
}

function utcTime(d: Date): Buffer {
  const p = (n: number) => String(n).padStart(2, '0');
  const y = d.getUTCFullYear();
  const text = `${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}Z`;
  // RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050.
  return y < 2050 ? tlv(0x17, Buffer.from(`${p(y % 100)}${text}`)) : tlv(0x18, Buffer.from(`${y}${text}`));
}

export const der = {
  seq: (...c: Buffer[]) => tlv(0x30, ...c),
  set: (...c: Buffer[]) => tlv(0x31, ...c),
  int: (v: bigint | number) => tlv(0x02, integerBytes(BigInt(v))),
  oid: (dotted: string) => tlv(0x06, oidBytes(dotted)),
  utf8: (s: string) => tlv(0x0c, Buffer.from(s, 'utf8')),
  octets: (b: Buffer) => tlv(0x04, b),
  /** A BIT STRING of whole bytes, or of named bits (RFC 5280 KeyUsage: bit 0 is the byte's top bit). */
  bits: (b: Buffer, unused = 0) => tlv(0x03, Buffer.from([unused]), b),
  bool: (v: boolean) => tlv(0x01, Buffer.from([v ? 0xff : 0])),
  explicit: (n: number, ...c: Buffer[]) => tlv(0xa0 + n, ...c),
  time: utcTime,
};

// ---------------------------------------------------------------------------------------------
// Certificates

export const OIDS = {
  commonName: '2.5.4.3',
  organization: '2.5.4.10',
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  subjectKeyId: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  authorityKeyId: '2.5.29.35',
  extKeyUsage: '2.5.29.37',
  codeSigning: '1.3.6.1.5.5.7.3.3',
  fulcioIssuerV1: '1.3.6.1.4.1.57264.1.1',
  fulcioIssuerV2: '1.3.6.1.4.1.57264.1.8',
  sctList: '1.3.6.1.4.1.11129.2.4.2',
} as const;

export interface Extension {
  oid: string;
  critical?: boolean;
  /** The extnValue contents (what the OCTET STRING wraps). */
  value: Buffer;
}

const extension = (e: Extension) => der.seq(der.oid(e.oid), ...(e.critical ? [der.bool(true)] : []), der.octets(e.value));

/** A Name of one RDN per attribute; no attributes gives the empty Name Fulcio leaves have. */
export function name(attrs: { cn?: string; o?: string } = {}): Buffer {
  const rdns: Buffer[] = [];
  if (attrs.o !== undefined) rdns.push(der.set(der.seq(der.oid(OIDS.organization), der.utf8(attrs.o))));
  if (attrs.cn !== undefined) rdns.push(der.set(der.seq(der.oid(OIDS.commonName), der.utf8(attrs.cn))));
  return der.seq(...rdns);
}

export const spkiDer = (key: KeyObject): Buffer => key.export({ type: 'spki', format: 'der' });
/** A log's ID (Rekor, CT): SHA-256 of its DER SubjectPublicKeyInfo. */
export const logIdOf = (key: KeyObject): Buffer => createHash('sha256').update(spkiDer(key)).digest();
/** RFC 5280's method 1 key identifier: SHA-1 of the subjectPublicKey bits. */
function keyIdentifier(key: KeyObject): Buffer {
  const spki = spkiDer(key);
  // For an EC key the SPKI ends with the BIT STRING of the point: 0x00 unused bits, then the point.
  const point = spki.subarray(spki.length - 65);
  return createHash('sha1').update(point).digest();
}

export interface TbsSpec {
  serial?: bigint;
  issuer: Buffer;
  subject: Buffer;
  notBefore: Date;
  notAfter: Date;
  publicKey: KeyObject;
  extensions: Extension[];
}

const ALGORITHM = der.seq(der.oid(OIDS.ecdsaWithSha256));

export function tbsCertificate(spec: TbsSpec): Buffer {
  const serial = spec.serial ?? BigInt(`0x${randomBytes(16).toString('hex')}`) >> 1n;
  return der.seq(
    der.explicit(0, der.int(2)),
    der.int(serial),
    ALGORITHM,
    spec.issuer,
    der.seq(der.time(spec.notBefore), der.time(spec.notAfter)),
    spec.subject,
    spkiDer(spec.publicKey),
    der.explicit(3, der.seq(...spec.extensions.map(extension))),
  );
}

export interface Certificate {
  der: Buffer;
  pem: string;
  x509: X509Certificate;
}

export function toPem(derBytes: Buffer): string {
  return `-----BEGIN CERTIFICATE-----\n${derBytes.toString('base64').match(/.{1,64}/g)?.join('\n')}\n-----END CERTIFICATE-----\n`;
}

export function signCertificate(tbs: Buffer, issuerKey: KeyObject): Certificate {
  const signature = sign('sha256', tbs, { key: issuerKey, dsaEncoding: 'der' });
  const bytes = der.seq(tbs, ALGORITHM, der.bits(signature));
  return { der: bytes, pem: toPem(bytes), x509: new X509Certificate(bytes) };
}

// ---------------------------------------------------------------------------------------------
// Certificate transparency (RFC 6962 §3.2): an SCT over the precertificate's TBS

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}

function u24(n: number): Buffer {
  return Buffer.from([(n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff]);
}

/** The SignedCertificateTimestampList extension value for one SCT by `log` at `at`. */
export function sctListExtension(log: KeyPair, tbsWithoutSct: Buffer, issuerKey: KeyObject, at: Date): Buffer {
  const timestamp = Buffer.alloc(8);
  timestamp.writeBigUInt64BE(BigInt(at.getTime()));
  const issuerKeyHash = createHash('sha256').update(spkiDer(issuerKey)).digest();
  const signed = Buffer.concat([
    Buffer.from([0, 0]), // version v1, signature type certificate_timestamp
    timestamp,
    u16(1), // entry type precert_entry
    issuerKeyHash,
    u24(tbsWithoutSct.length),
    tbsWithoutSct,
    u16(0), // no extensions
  ]);
  const signature = sign('sha256', signed, { key: log.privateKey, dsaEncoding: 'der' });
  const sct = Buffer.concat([
    Buffer.from([0]), logIdOf(log.publicKey), timestamp, u16(0),
    Buffer.from([4, 3]), // sha256, ecdsa
    u16(signature.length), signature,
  ]);
  const list = Buffer.concat([u16(sct.length), sct]);
  return der.octets(Buffer.concat([u16(list.length), list]));
}

// ---------------------------------------------------------------------------------------------
// The PKI

export interface KeyPair {
  privateKey: KeyObject;
  publicKey: KeyObject;
}

export const p256 = (): KeyPair => generateKeyPairSync('ec', { namedCurve: 'P-256' });

export interface CertificateAuthority extends Certificate, KeyPair {
  name: Buffer;
}

export interface LeafOptions {
  publicKey: KeyObject;
  email?: string;
  uri?: string;
  /** The OIDC issuer; default https://issuer.example. */
  issuer?: string;
  /** Which issuer extensions to write: v1 (raw string), v2 (UTF8String) or both (default). */
  issuerExtensions?: 'v1' | 'v2' | 'both';
  /** Default a minute ago (at issuance, as Fulcio backdates); notAfter default ten minutes later. */
  notBefore?: Date;
  notAfter?: Date;
  /** Embed an SCT by this CT log (default the PKI's); false for none. */
  sct?: KeyPair | false;
  /** Issuing CA; default the intermediate. */
  ca?: CertificateAuthority;
}

export interface TrustedRootOptions {
  rekorBaseUrl?: string;
  rekorKeys?: KeyObject[];
  /** validFor of every tlog key; default from an hour ago, open-ended. */
  tlogValidFor?: { start: Date; end?: Date };
  ctlogKeys?: KeyObject[];
  /** The CA chain(s), each issuing CA first; default [[intermediate, root]]. */
  chains?: Certificate[][];
  caValidFor?: { start: Date; end?: Date };
}

export interface TestPki {
  root: CertificateAuthority;
  intermediate: CertificateAuthority;
  rekor: KeyPair;
  ctlog: KeyPair;
  issueLeaf(opts: LeafOptions): Certificate;
  trustedRoot(opts?: TrustedRootOptions): TrustedRootJson;
}

export interface TrustedRootJson {
  mediaType: string;
  tlogs: unknown[];
  certificateAuthorities: unknown[];
  ctlogs: unknown[];
  timestampAuthorities: unknown[];
}

export const TEST_ISSUER = 'https://issuer.example';
export const TEST_REKOR_URL = 'https://rekor.test.example';
const HOUR = 3_600_000;
const YEAR = 365 * 24 * HOUR;

function authority(cn: string, issuer: CertificateAuthority | undefined, pathLen: number, now: Date): CertificateAuthority {
  const keys = p256();
  const subject = name({ o: 'oci-tool test', cn });
  const tbs = tbsCertificate({
    issuer: issuer?.name ?? subject,
    subject,
    notBefore: new Date(now.getTime() - YEAR),
    notAfter: new Date(now.getTime() + YEAR),
    publicKey: keys.publicKey,
    extensions: [
      { oid: OIDS.keyUsage, critical: true, value: der.bits(Buffer.from([0x06]), 1) }, // keyCertSign, cRLSign
      { oid: OIDS.basicConstraints, critical: true, value: der.seq(der.bool(true), der.int(pathLen)) },
      { oid: OIDS.subjectKeyId, value: der.octets(keyIdentifier(keys.publicKey)) },
      ...(issuer ? [{ oid: OIDS.authorityKeyId, value: der.seq(tlv(0x80, keyIdentifier(issuer.publicKey))) }] : []),
      ...(issuer ? [{ oid: OIDS.extKeyUsage, value: der.seq(der.oid(OIDS.codeSigning)) }] : []),
    ],
  });
  return { ...signCertificate(tbs, (issuer ?? keys).privateKey), ...keys, name: subject };
}

const b64 = (b: Buffer) => b.toString('base64');

export function createTestPki(now = new Date()): TestPki {
  const root = authority('oci-tool test root', undefined, 1, now);
  const intermediate = authority('oci-tool test intermediate', root, 0, now);
  const rekor = p256();
  const ctlog = p256();

  const issueLeaf = (opts: LeafOptions): Certificate => {
    const ca = opts.ca ?? intermediate;
    const issuer = opts.issuer ?? TEST_ISSUER;
    const which = opts.issuerExtensions ?? 'both';
    const names: Buffer[] = [];
    if (opts.email !== undefined) names.push(tlv(0x81, Buffer.from(opts.email, 'ascii')));
    if (opts.uri !== undefined) names.push(tlv(0x86, Buffer.from(opts.uri, 'ascii')));
    const notBefore = opts.notBefore ?? new Date(Date.now() - 60_000);
    const extensions: Extension[] = [
      { oid: OIDS.keyUsage, critical: true, value: der.bits(Buffer.from([0x80]), 7) }, // digitalSignature
      { oid: OIDS.extKeyUsage, value: der.seq(der.oid(OIDS.codeSigning)) },
      { oid: OIDS.subjectKeyId, value: der.octets(keyIdentifier(opts.publicKey)) },
      { oid: OIDS.authorityKeyId, value: der.seq(tlv(0x80, keyIdentifier(ca.publicKey))) },
      // Fulcio leaves have an empty subject, so the SAN is critical (RFC 5280 §4.2.1.6).
      { oid: OIDS.subjectAltName, critical: true, value: der.seq(...names) },
      ...(which !== 'v2' ? [{ oid: OIDS.fulcioIssuerV1, value: Buffer.from(issuer, 'ascii') }] : []),
      ...(which !== 'v1' ? [{ oid: OIDS.fulcioIssuerV2, value: der.utf8(issuer) }] : []),
    ];
    const spec: TbsSpec = {
      serial: BigInt(`0x${randomBytes(16).toString('hex')}`) >> 1n,
      issuer: ca.name,
      subject: name(),
      notBefore,
      notAfter: opts.notAfter ?? new Date(notBefore.getTime() + 10 * 60_000),
      publicKey: opts.publicKey,
      extensions,
    };
    const log = opts.sct === undefined ? ctlog : opts.sct;
    if (log) {
      const sct = sctListExtension(log, tbsCertificate(spec), ca.publicKey, notBefore);
      spec.extensions = [...extensions, { oid: OIDS.sctList, value: sct }];
    }
    return signCertificate(tbsCertificate(spec), ca.privateKey);
  };

  const trustedRoot = (opts: TrustedRootOptions = {}): TrustedRootJson => {
    const tlogStart = opts.tlogValidFor?.start ?? new Date(now.getTime() - HOUR);
    const validFor = (v: { start: Date; end?: Date }) => ({ start: v.start.toISOString(), ...(v.end ? { end: v.end.toISOString() } : {}) });
    const logEntry = (key: KeyObject, baseUrl: string, v: { start: Date; end?: Date }) => ({
      baseUrl,
      hashAlgorithm: 'SHA2_256',
      publicKey: { rawBytes: b64(spkiDer(key)), keyDetails: 'PKIX_ECDSA_P256_SHA_256', validFor: validFor(v) },
      logId: { keyId: b64(logIdOf(key)) },
    });
    return {
      mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
      tlogs: (opts.rekorKeys ?? [rekor.publicKey]).map((k) => logEntry(k, opts.rekorBaseUrl ?? TEST_REKOR_URL, { ...opts.tlogValidFor, start: tlogStart })),
      certificateAuthorities: (opts.chains ?? [[intermediate, root]]).map((chain) => ({
        subject: { organization: 'oci-tool test', commonName: 'oci-tool test Fulcio' },
        uri: 'https://fulcio.test.example',
        certChain: { certificates: chain.map((c) => ({ rawBytes: b64(c.der) })) },
        validFor: validFor(opts.caValidFor ?? { start: new Date(now.getTime() - YEAR) }),
      })),
      ctlogs: (opts.ctlogKeys ?? [ctlog.publicKey]).map((k) => logEntry(k, 'https://ctfe.test.example/test', { start: new Date(now.getTime() - 24 * HOUR) })),
      timestampAuthorities: [],
    };
  };

  return { root, intermediate, rekor, ctlog, issueLeaf, trustedRoot };
}
