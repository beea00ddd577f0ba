// The verify verb: find an image's signatures where cosign and skopeo put them (the `.sig` tag and
// sigstore bundle referrers), and accept the image when at least one verifies against the trust
// given: keys, or a trusted root with accepted keyless identities.
import type { KeyObject } from 'node:crypto';
import { OciToolError } from '../errors.js';
import type { Descriptor } from '../image/types.js';
import { openRepository, type RemoteOptions } from '../registry/open.js';
import { formatReference, parseReference, type Reference } from '../registry/reference.js';
import type { RemoteRepository } from '../registry/remote.js';
import { readSmallBlob } from '../registry/small-blob.js';
import { BUNDLE_MEDIA_TYPE, MAX_BUNDLE_BYTES, verifyCosignBundle } from './cosign-bundle.js';
import type { IdentityMatcher } from './identity.js';
import { signatureLayers, signatureTag } from './legacy-format.js';
import { verifyLegacySignature, type LegacyTrust } from './legacy-verify.js';
import { SIGNATURE_ANNOTATION, SIMPLE_SIGNING_MEDIA_TYPE } from './simple-signing.js';
import { existingSignatures, resolveSubject } from './sign.js';
import { trustedRootParts } from './trusted-root.js';

/** Payloads are a few hundred bytes; anything large is not a signature. */
const MAX_PAYLOAD_BYTES = 64 * 1024;

export interface TrustOptions {
  /** Public keys; a signature by any one is accepted. */
  publicKeys?: KeyObject[];
  /** A sigstore TrustedRoot (JSON): Fulcio CAs, Rekor and CT log keys, TSAs. Needed for keyless. */
  trustedRoot?: unknown;
  /** Keyless signers accepted (certificate identity and OIDC issuer). */
  identities?: IdentityMatcher[];
  /**
   * How a legacy signature's docker-reference must relate to the image: the same repository
   * (default, as containers' matchRepoDigestOrExact for digests), exactly the reference, or ignored.
   */
  identityPolicy?: 'matchRepository' | 'matchExact' | 'ignore';
  /** Where to look; default both. */
  formats?: readonly ('legacy' | 'bundle')[];
}

export interface VerifiedSignature {
  format: 'legacy' | 'bundle';
  /** The manifest that holds the signature. */
  source: string;
  signer: { kind: 'key' | 'fulcio' | 'pki' | 'certificate'; identity?: string; issuer?: string };
  /** Transparency-log time, when the signature carries one. */
  integratedTime?: string;
}

export interface RejectedSignature {
  format: 'legacy' | 'bundle';
  source: string;
  reason: string;
}

export interface VerifyResult {
  reference: string;
  digest: string;
  verified: VerifiedSignature[];
  rejected: RejectedSignature[];
}

export interface VerifyOptions extends RemoteOptions, TrustOptions {
  signal?: AbortSignal;
}

export async function verifyImage(input: string | Reference, opts: VerifyOptions): Promise<VerifyResult> {
  const ref = typeof input === 'string' ? parseReference(input) : input;
  const { repository, close } = await openRepository(ref, opts);
  try {
    const subject = await resolveSubject(repository, ref, opts.signal);
    return await verifyDigest(repository, ref, subject.digest, opts, opts.signal);
  } finally {
    await close();
  }
}

/**
 * Verifies the signatures of one manifest digest in `repo`. Throws OCI_ERR_SIGNATURE unless at
 * least one verifies; the result lists every signature found, accepted or not.
 */
export async function verifyDigest(repo: RemoteRepository, ref: Reference, digest: string, trust: TrustOptions, signal?: AbortSignal): Promise<VerifyResult> {
  if (!trust.publicKeys?.length && !(trust.trustedRoot && trust.identities?.length)) {
    throw new OciToolError('OCI_ERR_USAGE', 'verification needs a public key, or a trusted root with a certificate identity and OIDC issuer');
  }
  const formats = trust.formats ?? ['legacy', 'bundle'];
  const where = formatReference({ ...ref, tag: undefined, digest });
  const verified: VerifiedSignature[] = [];
  const rejected: RejectedSignature[] = [];
  let attachments = 0;
  const attempt = async (format: 'legacy' | 'bundle', source: string, check: () => Promise<VerifiedSignature>) => {
    try {
      verified.push(await check());
    } catch (e) {
      if (!(e instanceof OciToolError) || e.code === 'OCI_ERR_USAGE' || e.code === 'OCI_ERR_BAD_KEY') throw e;
      rejected.push({ format, source, reason: e.message });
    }
  };

  if (formats.includes('legacy')) {
    const tag = signatureTag(digest);
    const layers = await existingSignatures(repo, tag, signal);
    const legacyTrust = toLegacyTrust(trust);
    for (const [i, layer] of layers.entries()) {
      const source = `${repo.name}:${tag} layer ${i + 1}`;
      if (layer.mediaType !== SIMPLE_SIGNING_MEDIA_TYPE) {
        attachments++;
        continue;
      }
      await attempt('legacy', source, async () => {
        const payload = await readSmallBlob(repo, layer, MAX_PAYLOAD_BYTES, signal);
        const annotations = { ...(layer.annotations ?? {}) };
        const signature = annotations[SIGNATURE_ANNOTATION];
        if (signature === undefined) throw new OciToolError('OCI_ERR_SIGNATURE', `no ${SIGNATURE_ANNOTATION} annotation`);
        const check = (t: LegacyTrust) => verifyLegacySignature({ payload, signature, annotations, mediaType: layer.mediaType }, t, {
          manifestDigest: digest, dockerReference: `${ref.registry}/${ref.repository}${ref.tag ? `:${ref.tag}` : ''}`,
          identityPolicy: trust.identityPolicy ?? 'matchRepository',
        });
        let last: unknown;
        for (const { trust: t, at } of legacyTrust) {
          try {
            const ok = check(t);
            // Keys and CAs of a trusted root count only within their validity windows, at log time.
            if (at && ok.integratedTime) {
              try {
                check(at(ok.integratedTime));
              } catch {
                throw new OciToolError('OCI_ERR_SIGNATURE', `the trusted root's Rekor key or Fulcio CA for this signature was not valid at its log time ${ok.integratedTime.toISOString()}`);
              }
            }
            return { format: 'legacy', source, signer: ok.signer, ...(ok.integratedTime ? { integratedTime: ok.integratedTime.toISOString() } : {}) };
          } catch (e) {
            last = e;
          }
        }
        throw last;
      });
    }
  }

  if (formats.includes('bundle')) {
    for (const desc of await bundleReferrers(repo, digest, signal)) {
      const source = `${repo.name}@${desc.digest}`;
      await attempt('bundle', source, async () => {
        const bytes = await readBundle(repo, desc, signal);
        const ok = await verifyCosignBundle(bytes, trust, digest);
        return { format: 'bundle', source, signer: { kind: ok.kind, identity: ok.identity, issuer: ok.issuer } };
      });
    }
  }

  if (verified.length === 0) {
    if (rejected.length === 0) {
      const extra = attachments ? ` (${attachments} non-signature attachment${attachments > 1 ? 's' : ''})` : '';
      throw new OciToolError('OCI_ERR_SIGNATURE', `${where} is not signed: no signature under ${signatureTag(digest)} and no sigstore bundle referrer${extra}`);
    }
    const first = rejected[0] as RejectedSignature;
    throw new OciToolError('OCI_ERR_SIGNATURE', `${where}: none of ${rejected.length} signature${rejected.length > 1 ? 's' : ''} verifies; ${first.source}: ${first.reason}`);
  }
  return { reference: where, digest, verified, rejected };
}

async function bundleReferrers(repo: RemoteRepository, digest: string, signal?: AbortSignal): Promise<Descriptor[]> {
  const { manifests } = await repo.referrers(digest, { artifactType: BUNDLE_MEDIA_TYPE, signal });
  return manifests.filter((d) => d.artifactType === BUNDLE_MEDIA_TYPE);
}

async function readBundle(repo: RemoteRepository, desc: Descriptor, signal?: AbortSignal): Promise<Buffer> {
  const got = await repo.getManifest(desc.digest, { digest: desc.digest, size: desc.size }, signal);
  const layers = signatureLayers(got.bytes, `${repo.name}@${desc.digest}`);
  const layer = layers.find((l) => l.mediaType === BUNDLE_MEDIA_TYPE);
  if (!layer) throw new OciToolError('OCI_ERR_SIGNATURE', 'bundle manifest has no sigstore bundle layer');
  return readSmallBlob(repo, layer, MAX_BUNDLE_BYTES, signal);
}

/**
 * One legacy trust per way a signature may be accepted: by key, or by each keyless identity (with
 * `at`, the same trust narrowed to the trusted root's keys and CAs valid at a given time).
 */
function toLegacyTrust(trust: TrustOptions): { trust: LegacyTrust; at?: (time: Date) => LegacyTrust }[] {
  const out: { trust: LegacyTrust; at?: (time: Date) => LegacyTrust }[] = [];
  if (trust.publicKeys?.length) out.push({ trust: { publicKeys: trust.publicKeys } });
  const root = trust.trustedRoot;
  if (root) {
    for (const id of trust.identities ?? []) {
      const keyless = (time?: Date): LegacyTrust => {
        const parts = trustedRootParts(root, time);
        return {
          rekorPublicKeys: parts.rekorKeys,
          fulcio: {
            roots: parts.fulcioCertificates, subject: id.subject, subjectRegExp: id.subjectRegExp,
            oidcIssuer: id.issuer, oidcIssuerRegExp: id.issuerRegExp,
          },
        };
      };
      out.push({ trust: keyless(), at: keyless });
    }
  }
  return out;
}
