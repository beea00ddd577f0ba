// Signing keys in the files cosign and skopeo use. A private key is PEM "ENCRYPTED SIGSTORE PRIVATE
// KEY" (older cosign: "ENCRYPTED COSIGN PRIVATE KEY") around go-securesystemslib's `encrypted` JSON:
// scrypt turns the password into a NaCl secretbox key that seals the PKCS#8 DER of the key.
// A public key is PEM "PUBLIC KEY" (SubjectPublicKeyInfo). Passwords never reach an error message.
import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, scryptSync, X509Certificate, type KeyObject } from 'node:crypto';
import { xsalsa20poly1305 } from '@noble/ciphers/salsa';
import { OciToolError, oneLine } from '../errors.js';

export const SIGSTORE_PRIVATE_KEY_LABEL = 'ENCRYPTED SIGSTORE PRIVATE KEY';
export const COSIGN_PRIVATE_KEY_LABEL = 'ENCRYPTED COSIGN PRIVATE KEY';

// What we write: go-securesystemslib's "legacy" set, the only one go-tuf's older decoder (used by
// cosign before v2.2 and by containers/image) accepts; newer readers accept it too.
const WRITE_PARAMS = { N: 32768, r: 8, p: 1 } as const;
const SALT_BYTES = 32;
const NONCE_BYTES = 24;
const TAG_BYTES = 16;
// N·r·p of go-securesystemslib's strongest set (N=2^17, r=8, p=1: 128 MiB, well under a second).
// A key file asking for more is refused before scrypt allocates anything.
const MAX_SCRYPT_WORK = 2 ** 20;

export type Password = Buffer | string;

const badKey = (source: string, why: string) => new OciToolError('OCI_ERR_BAD_KEY', `${oneLine(source)}: ${why}`);

/** A new ECDSA P-256 key pair, as `cosign generate-key-pair` writes it. */
export function generateKeyPair(password: Password): { privateKeyPem: string; publicKeyPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { privateKeyPem: encryptPrivateKey(privateKey, password), publicKeyPem: publicKeyPem(publicKey) };
}

/** The key's PKCS#8 DER sealed with the password, as PEM "ENCRYPTED SIGSTORE PRIVATE KEY". */
export function encryptPrivateKey(key: KeyObject, password: Password): string {
  if (key.type !== 'private') throw new OciToolError('OCI_ERR_BAD_KEY', 'only a private key can be encrypted');
  const der = key.export({ type: 'pkcs8', format: 'der' });
  const salt = randomBytes(SALT_BYTES);
  const nonce = randomBytes(NONCE_BYTES);
  const boxKey = deriveKey(password, salt, WRITE_PARAMS);
  const sealed = xsalsa20poly1305(boxKey, nonce).encrypt(der);
  boxKey.fill(0);
  der.fill(0);
  // Members in the order Go's encoding/json writes the struct fields; []byte is padded base64.
  const body = JSON.stringify({
    kdf: { name: 'scrypt', params: { N: WRITE_PARAMS.N, r: WRITE_PARAMS.r, p: WRITE_PARAMS.p }, salt: salt.toString('base64') },
    cipher: { name: 'nacl/secretbox', nonce: nonce.toString('base64') },
    ciphertext: Buffer.from(sealed).toString('base64'),
  });
  return pemEncode(SIGSTORE_PRIVATE_KEY_LABEL, Buffer.from(body));
}

/** True when the PEM private key needs a password (so a CLI knows whether to ask for one). */
export function privateKeyNeedsPassword(pem: string): boolean {
  const label = firstPemBlock(pem)?.label;
  return label === SIGSTORE_PRIVATE_KEY_LABEL || label === COSIGN_PRIVATE_KEY_LABEL;
}

/**
 * The private key in a cosign/skopeo key file; an unencrypted PEM private key ("PRIVATE KEY",
 * "EC PRIVATE KEY", "RSA PRIVATE KEY") is taken as is and the password ignored. ECDSA, RSA and
 * Ed25519 keys only, the types cosign signs with.
 */
export function decryptPrivateKey(pem: string, password: Password, source = 'private key'): KeyObject {
  const block = firstPemBlock(pem);
  if (!block) throw badKey(source, 'not a PEM private key');
  let key: KeyObject;
  switch (block.label) {
    case SIGSTORE_PRIVATE_KEY_LABEL:
    case COSIGN_PRIVATE_KEY_LABEL: {
      const der = openEnvelope(block.der, password, source);
      try {
        key = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
      } catch {
        throw badKey(source, 'the decrypted key is not a PKCS#8 private key');
      } finally {
        der.fill(0);
      }
      break;
    }
    case 'PRIVATE KEY':
    case 'EC PRIVATE KEY':
    case 'RSA PRIVATE KEY': {
      const type = block.label === 'PRIVATE KEY' ? 'pkcs8' : block.label === 'EC PRIVATE KEY' ? 'sec1' : 'pkcs1';
      try {
        key = createPrivateKey({ key: block.der, format: 'der', type });
      } catch {
        throw badKey(source, `malformed ${block.label}`);
      }
      break;
    }
    default:
      throw badKey(source, `PEM "${oneLine(block.label)}" is not a private key cosign can use (expected ${SIGSTORE_PRIVATE_KEY_LABEL})`);
  }
  checkKeyType(key, source);
  return key;
}

/**
 * A verification key from PEM: a "PUBLIC KEY" (SubjectPublicKeyInfo), a PKCS#1 "RSA PUBLIC KEY",
 * or the public key of a "CERTIFICATE". ECDSA P-256/P-384/P-521, RSA (2048 bits or more), Ed25519.
 */
export function loadPublicKey(pem: string, source = 'public key'): KeyObject {
  const block = firstPemBlock(pem);
  if (!block) throw badKey(source, 'not a PEM public key or certificate');
  let key: KeyObject;
  try {
    if (block.label === 'PUBLIC KEY') key = createPublicKey({ key: block.der, format: 'der', type: 'spki' });
    else if (block.label === 'RSA PUBLIC KEY') key = createPublicKey({ key: block.der, format: 'der', type: 'pkcs1' });
    else if (block.label === 'CERTIFICATE') key = new X509Certificate(block.der).publicKey;
    else throw badKey(source, `PEM "${oneLine(block.label)}" is not a public key or certificate`);
  } catch (e) {
    if (e instanceof OciToolError) throw e;
    throw badKey(source, `malformed ${block.label}`);
  }
  checkKeyType(key, source);
  return key;
}

/** PEM "PUBLIC KEY" of a public key, or of a private key's public half. */
export function publicKeyPem(key: KeyObject): string {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  return pub.export({ type: 'spki', format: 'pem' }).toString();
}

// ---- the encrypted envelope ----

interface ScryptParams { N: number; r: number; p: number }

function openEnvelope(body: Buffer, password: Password, source: string): Buffer {
  let doc: unknown;
  try {
    doc = JSON.parse(body.toString('utf8'));
  } catch {
    throw badKey(source, 'the encrypted key is not JSON');
  }
  const kdf = member(doc, 'kdf');
  const cipher = member(doc, 'cipher');
  if (!isObject(kdf) || !isObject(cipher)) throw badKey(source, 'the encrypted key lacks "kdf" or "cipher"');
  if (kdf.name !== 'scrypt') throw badKey(source, `unsupported key derivation ${describe(kdf.name)} (only scrypt)`);
  if (cipher.name !== 'nacl/secretbox') throw badKey(source, `unsupported cipher ${describe(cipher.name)} (only nacl/secretbox)`);
  const params = scryptParams(kdf.params, source);
  const salt = base64Member(kdf, 'salt', source);
  const nonce = base64Member(cipher, 'nonce', source);
  const sealed = base64Member(doc as Record<string, unknown>, 'ciphertext', source);
  if (nonce.length !== NONCE_BYTES) throw badKey(source, `the nonce is ${nonce.length} bytes, not ${NONCE_BYTES}`);
  if (sealed.length < TAG_BYTES) throw badKey(source, 'the ciphertext is too short');
  const boxKey = deriveKey(password, salt, params);
  try {
    return Buffer.from(xsalsa20poly1305(boxKey, nonce).decrypt(sealed));
  } catch {
    // The authenticator failed: almost always the password, else a damaged file.
    throw new OciToolError('OCI_ERR_BAD_PASSWORD', `${oneLine(source)}: wrong password for the encrypted private key (or the file is damaged)`);
  } finally {
    boxKey.fill(0);
  }
}

function scryptParams(value: unknown, source: string): ScryptParams {
  if (!isObject(value)) throw badKey(source, 'the encrypted key lacks scrypt parameters');
  const { N, r, p } = value;
  const ok = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n >= 1;
  if (!ok(N) || !ok(r) || !ok(p) || N < 2 || !Number.isInteger(Math.log2(N))) {
    throw badKey(source, `invalid scrypt parameters N=${describe(N)} r=${describe(r)} p=${describe(p)}`);
  }
  if (N * r * p > MAX_SCRYPT_WORK) {
    throw badKey(source, `scrypt parameters N=${N} r=${r} p=${p} ask for more work than oci-tool allows (N·r·p up to 2^20)`);
  }
  return { N, r, p };
}

function deriveKey(password: Password, salt: Buffer, { N, r, p }: ScryptParams): Buffer {
  // OpenSSL needs 128·r·(N+p+2) bytes; Node's default limit (32 MiB) is below N=32768, r=8.
  const maxmem = 128 * r * (N + p + 2) + 1024 * 1024;
  return scryptSync(typeof password === 'string' ? Buffer.from(password, 'utf8') : password, salt, 32, { N, r, p, maxmem });
}

function base64Member(obj: Record<string, unknown>, name: string, source: string): Buffer {
  const v = obj[name];
  // Go's encoding/json decodes []byte as strict, padded standard base64.
  if (typeof v !== 'string' || v.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(v)) {
    throw badKey(source, `"${name}" in the encrypted key is not base64`);
  }
  return Buffer.from(v, 'base64');
}

// ---- PEM and checks ----

function checkKeyType(key: KeyObject, source: string): void {
  const type = key.asymmetricKeyType;
  const details = key.asymmetricKeyDetails ?? {};
  if (type === 'ec') {
    if (!['prime256v1', 'secp384r1', 'secp521r1'].includes(details.namedCurve ?? '')) {
      throw badKey(source, `unsupported elliptic curve ${details.namedCurve ?? '(unknown)'} (P-256, P-384 or P-521 expected)`);
    }
  } else if (type === 'rsa') {
    if ((details.modulusLength ?? 0) < 2048) throw badKey(source, `RSA key of ${details.modulusLength ?? 0} bits is too small (2048 at least)`);
  } else if (type !== 'ed25519') {
    throw badKey(source, `unsupported key type ${type ?? key.type} (ECDSA, RSA or Ed25519 expected)`);
  }
}

interface PemBlock { label: string; der: Buffer }

/**
 * The first PEM block in the text, as Go's pem.Decode finds it, except that an "EC PARAMETERS"
 * block (which `openssl ecparam -genkey` puts before the key) is passed over. Headers (RFC 1421
 * "Name: value" lines) are skipped.
 */
function firstPemBlock(text: string): PemBlock | undefined {
  const re = /-----BEGIN ([^\r\n-]+(?:-[^\r\n-]+)*)-----\r?\n([\s\S]*?)\r?\n?-----END ([^\r\n]+?)-----/g;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    if (m[3] !== m[1]) return undefined;
    if (m[1] === 'EC PARAMETERS') continue;
    const body = m[2]!.split(/\r?\n/).filter((line) => !line.includes(':')).join('').replace(/\s+/g, '');
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(body) || body.length % 4 !== 0) return undefined;
    return { label: m[1]!, der: Buffer.from(body, 'base64') };
  }
  return undefined;
}

export function pemEncode(label: string, der: Buffer): string {
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}${lines.length ? '\n' : ''}-----END ${label}-----\n`;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const member = (v: unknown, name: string): unknown => (isObject(v) ? v[name] : undefined);
const describe = (v: unknown): string => (typeof v === 'string' ? JSON.stringify(v.slice(0, 40)) : typeof v === 'number' ? String(v) : typeof v);
