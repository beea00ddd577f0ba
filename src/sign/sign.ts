// The sign verb: resolve the reference to its manifest digest (a tag is never signed), sign that
// digest, and push the signature next to the image: cosign's `.sig` tag, a sigstore bundle
// referrer, or both.
import type { KeyObject } from 'node:crypto';
import type { Signer, Witness } from '@sigstore/sign';
import { OciToolError } from '../errors.js';
import { digestOf } from '../image/digest.js';
import { MANIFEST_MEDIA_TYPE } from '../image/media-types.js';
import type { Descriptor } from '../image/types.js';
import { openRepository, type RemoteOptions } from '../registry/open.js';
import { formatReference, parseReference, type Reference } from '../registry/reference.js';
import type { RemoteRepository } from '../registry/remote.js';
import { bundleArtifact, cosignStatement, createBundle, EMPTY_CONFIG } from './cosign-bundle.js';
import { KeySigner } from './key-signer.js';
import { signatureImage, signatureLayer, signatureLayers, signatureTag } from './legacy-format.js';
import { legacyKeylessAnnotations } from './legacy-keyless.js';
import { SIGNATURE_ANNOTATION, createPayload } from './simple-signing.js';

export type SignatureFormat = 'legacy' | 'bundle' | 'both';

export interface SignOptions extends RemoteOptions {
  /** A private key (from decryptPrivateKey); or give signer (and witnesses) for keyless signing. */
  key?: KeyObject;
  signer?: Signer;
  /** Transparency log and timestamp authorities that countersign (keyless). */
  witnesses?: Witness[];
  /** Default 'both': skopeo and containers/image read only legacy, cosign v3 prefers bundles. */
  format?: SignatureFormat;
  /** Extra claims for the legacy payload's `optional` member, as `cosign sign -a`. */
  annotations?: Record<string, string>;
  signal?: AbortSignal;
}

export interface PushedSignature {
  format: 'legacy' | 'bundle';
  /** Where it is: repo:tag for legacy, repo@digest for the bundle's manifest. */
  location: string;
  /** Digest of the manifest that holds the signature. */
  digest: string;
  /** How a bundle was made findable: the referrers API, or the tag-schema index. */
  referrers?: 'api' | 'tag';
}

export interface SignResult {
  reference: string;
  /** The signed manifest digest. */
  digest: string;
  signatures: PushedSignature[];
}

export async function signImage(input: string | Reference, opts: SignOptions): Promise<SignResult> {
  const ref = typeof input === 'string' ? parseReference(input) : input;
  const signer = opts.signer ?? (opts.key ? new KeySigner(opts.key) : undefined);
  if (!signer) throw new OciToolError('OCI_ERR_USAGE', 'signing needs a private key or a keyless signer');
  const format = opts.format ?? 'both';
  const { repository, close } = await openRepository(ref, opts, { push: true });
  try {
    const subject = await resolveSubject(repository, ref, opts.signal);
    const signatures: PushedSignature[] = [];
    try {
      if (format !== 'bundle') signatures.push(await pushLegacy(repository, ref, subject, signer, opts));
      if (format !== 'legacy') signatures.push(await pushBundle(repository, subject, signer, opts));
    } catch (e) {
      throw signingError(e);
    }
    return { reference: formatReference({ ...ref, tag: undefined, digest: subject.digest }), digest: subject.digest, signatures };
  } finally {
    await close();
  }
}

/**
 * What @sigstore/sign throws (Fulcio, Rekor, the identity provider) as one line. An identity token
 * error may quote the token, so its message is never repeated.
 */
function signingError(e: unknown): unknown {
  if (e instanceof OciToolError || !(e instanceof Error)) return e;
  const code = (e as { code?: unknown }).code;
  if (typeof code === 'string' && code.startsWith('IDENTITY_TOKEN')) {
    return new OciToolError('OCI_ERR_AUTH', `keyless signing: the OIDC identity token cannot be used (${code})`);
  }
  const cause = e.cause instanceof Error ? `: ${e.cause.message}` : '';
  return new OciToolError('OCI_ERR_NETWORK', `keyless signing failed${typeof code === 'string' ? ` (${code})` : ''}: ${e.message}${cause}`.replace(/\s+/g, ' '), { cause: e });
}

/** The manifest a reference names, as a descriptor; by tag, the digest of the bytes the registry serves. */
export async function resolveSubject(repo: RemoteRepository, ref: Reference, signal?: AbortSignal): Promise<Descriptor> {
  const reference = ref.digest ?? ref.tag ?? 'latest';
  const got = await repo.getManifest(reference, ref.digest ? { digest: ref.digest } : undefined, signal);
  const mediaType = got.mediaType ?? mediaTypeOf(got.bytes);
  return { mediaType, digest: got.digest, size: got.bytes.length };
}

function mediaTypeOf(bytes: Buffer): string {
  try {
    const mt = (JSON.parse(bytes.toString('utf8')) as { mediaType?: unknown }).mediaType;
    if (typeof mt === 'string') return mt;
  } catch {
    // fall through to the error below
  }
  throw new OciToolError('OCI_ERR_INVALID_CONTENT', 'the manifest to sign names no media type');
}

async function pushLegacy(repo: RemoteRepository, ref: Reference, subject: Descriptor, signer: Signer, opts: SignOptions): Promise<PushedSignature> {
  // cosign signs the repository without tag or digest: the digest is in the payload already.
  const payload = createPayload(`${ref.registry}/${ref.repository}`, subject.digest, opts.annotations ?? null);
  const annotations = opts.witnesses?.length
    ? await legacyKeylessAnnotations(payload, signer, opts.witnesses)
    : { [SIGNATURE_ANNOTATION]: (await signer.sign(payload)).signature.toString('base64') };
  const layer = signatureLayer(payload, annotations);
  const tag = signatureTag(subject.digest);
  const existing = await existingSignatures(repo, tag, opts.signal);
  const image = signatureImage(layer, existing);
  await repo.uploadBlob(layer, () => payload, { signal: opts.signal });
  const config = JSON.parse(image.manifest.toString('utf8')) as { config: Descriptor };
  await repo.uploadBlob(config.config, () => image.config, { signal: opts.signal });
  const put = await repo.putManifest(tag, image.manifest, MANIFEST_MEDIA_TYPE, opts.signal);
  return { format: 'legacy', location: `${repo.name}:${tag}`, digest: put.digest };
}

/** The layers of the signature image under `tag`; none when there is no such tag. */
export async function existingSignatures(repo: RemoteRepository, tag: string, signal?: AbortSignal): Promise<Descriptor[]> {
  try {
    const got = await repo.getManifest(tag, undefined, signal);
    return signatureLayers(got.bytes, `${repo.name}:${tag}`);
  } catch (e) {
    if (e instanceof OciToolError && e.code === 'OCI_ERR_NOT_FOUND') return [];
    throw e;
  }
}

async function pushBundle(repo: RemoteRepository, subject: Descriptor, signer: Signer, opts: SignOptions): Promise<PushedSignature> {
  const bundle = await createBundle(cosignStatement(subject.digest), signer, opts.witnesses ?? []);
  const art = bundleArtifact(bundle, subject);
  await repo.uploadBlob(art.config, () => EMPTY_CONFIG, { signal: opts.signal });
  await repo.uploadBlob(art.layer, () => bundle, { signal: opts.signal });
  const put = await repo.putManifest(digestOf(art.manifest), art.manifest, MANIFEST_MEDIA_TYPE, opts.signal);
  return { format: 'bundle', location: `${repo.name}@${put.digest}`, digest: put.digest, referrers: put.referrers };
}
