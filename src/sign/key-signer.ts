// Signing with a key held in this process: the raw signature cosign makes for each key type, the
// key hint cosign puts in bundles, and a Signer for @sigstore/sign's bundle builders.
import { createHash, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import type { Signature, Signer } from '@sigstore/sign';
import { OciToolError } from '../errors.js';

/** sha256 for ECDSA (DER signature) and RSA (PKCS#1 v1.5); none for Ed25519, which hashes itself. */
function digestFor(key: KeyObject): string | null {
  const type = key.asymmetricKeyType;
  if (type === 'ec' || type === 'rsa') return 'sha256';
  if (type === 'ed25519') return null;
  throw new OciToolError('OCI_ERR_BAD_KEY', `unsupported key type ${type ?? key.type} (ECDSA, RSA or Ed25519 expected)`);
}

export function signBytes(key: KeyObject, data: Uint8Array): Buffer {
  return sign(digestFor(key), data, key);
}

export function verifyBytes(key: KeyObject, data: Uint8Array, signature: Uint8Array): boolean {
  try {
    return verify(digestFor(key), data, key, signature);
  } catch {
    return false;
  }
}

export function publicKeyOf(key: KeyObject): KeyObject {
  return key.type === 'private' ? createPublicKey(key) : key;
}

/** SHA-256 of the DER SubjectPublicKeyInfo: cosign's key hint (base64) and Rekor's log ID (hex). */
export function spkiSha256(key: KeyObject): Buffer {
  return createHash('sha256').update(publicKeyOf(key).export({ type: 'spki', format: 'der' })).digest();
}

/** cosign's key hint: base64 of the SHA-256 of the DER SubjectPublicKeyInfo. */
export function keyHint(key: KeyObject): string {
  return spkiSha256(key).toString('base64');
}

/** A @sigstore/sign Signer over a private key: no certificate, no network. */
export class KeySigner implements Signer {
  private readonly publicPem: string;
  private readonly hint: string;

  constructor(private readonly key: KeyObject) {
    if (key.type !== 'private') throw new OciToolError('OCI_ERR_BAD_KEY', 'signing needs a private key');
    digestFor(key);
    this.publicPem = publicKeyOf(key).export({ type: 'spki', format: 'pem' }).toString();
    this.hint = keyHint(key);
  }

  sign(data: Buffer): Promise<Signature> {
    return Promise.resolve({ signature: signBytes(this.key, data), key: { $case: 'publicKey', publicKey: this.publicPem, hint: this.hint } });
  }
}
