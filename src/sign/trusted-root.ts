// The parts of a sigstore TrustedRoot (JSON, as `cosign trusted-root create` or TUF deliver it)
// that legacy signature checks use: Rekor log keys and Fulcio CA certificates.
import { createPublicKey, type KeyObject } from 'node:crypto';
import { OciToolError } from '../errors.js';
import { pemEncode } from './keys.js';

interface Validity {
  validFor?: { start?: string; end?: string };
}

interface TrustedRootJson {
  tlogs?: ({ publicKey?: { rawBytes?: string } & Validity })[];
  certificateAuthorities?: ({ certChain?: { certificates?: { rawBytes?: string }[] } } & Validity)[];
}

/** Whether a key's or CA's validity window (open at either end when absent) holds `at`. */
function validAt(v: Validity['validFor'], at: Date | undefined): boolean {
  if (!at || !v) return true;
  const t = at.getTime();
  return (!v.start || Date.parse(v.start) <= t) && (!v.end || t <= Date.parse(v.end));
}

export interface TrustedRootParts {
  rekorKeys: KeyObject[];
  /** PEM, every CA certificate of every chain: each is a trust anchor. */
  fulcioCertificates: string[];
}

/** PEM of a certificate given as base64 DER. */
export const certificatePem = (b64: string): string => pemEncode('CERTIFICATE', Buffer.from(b64, 'base64'));

/** The log keys and CA certificates, only those valid at `at` when it is given. */
export function trustedRootParts(root: unknown, at?: Date): TrustedRootParts {
  if (typeof root !== 'object' || root === null) throw new OciToolError('OCI_ERR_BAD_KEY', 'trusted root is not a JSON object');
  const r = root as TrustedRootJson;
  const rekorKeys = (r.tlogs ?? []).flatMap((t) => {
    const raw = t.publicKey?.rawBytes;
    if (!raw || !validAt(t.publicKey?.validFor, at)) return [];
    try {
      return [createPublicKey({ key: Buffer.from(raw, 'base64'), format: 'der', type: 'spki' })];
    } catch {
      throw new OciToolError('OCI_ERR_BAD_KEY', 'trusted root: a transparency log key is not a DER public key');
    }
  });
  const fulcioCertificates = (r.certificateAuthorities ?? [])
    .filter((ca) => validAt(ca.validFor, at))
    .flatMap((ca) => (ca.certChain?.certificates ?? []).flatMap((c) => (c.rawBytes ? [certificatePem(c.rawBytes)] : [])));
  return { rekorKeys, fulcioCertificates };
}

/** Sigstore's public-good trusted root through TUF (network on first use, then a local cache). */
export async function fetchTrustedRoot(env: NodeJS.ProcessEnv = process.env): Promise<unknown> {
  const [{ getTrustedRoot }, { TrustedRoot }, { homedir }, { join }] = await Promise.all([
    import('@sigstore/tuf'), import('@sigstore/protobuf-specs'), import('node:os'), import('node:path'),
  ]);
  const cachePath = join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'oci-tool', 'sigstore-tuf');
  try {
    return TrustedRoot.toJSON(await getTrustedRoot({ cachePath }));
  } catch (e) {
    throw new OciToolError('OCI_ERR_NETWORK', `cannot get Sigstore's trusted root over TUF (${e instanceof Error ? e.message : String(e)}); give --trusted-root FILE`);
  }
}
