// cosign's "new bundle format" (cosign BUNDLE_SPEC.md): a sigstore bundle v0.3 holding a DSSE
// envelope over an in-toto statement whose subject is the manifest digest and whose predicate type
// is cosign's sign predicate, attached to the image as an OCI 1.1 artifact with `subject`.
import type { KeyObject } from 'node:crypto';
import type { Signer, Witness } from '@sigstore/sign';
import { OciToolError } from '../errors.js';
import { digestOf, parseDigest } from '../image/digest.js';
import { EMPTY_MEDIA_TYPE, MANIFEST_MEDIA_TYPE } from '../image/media-types.js';
import type { Descriptor } from '../image/types.js';
import { matchIdentity, type IdentityMatcher } from './identity.js';

export const BUNDLE_MEDIA_TYPE = 'application/vnd.dev.sigstore.bundle.v0.3+json';
export const INTOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';
export const INTOTO_STATEMENT_V1 = 'https://in-toto.io/Statement/v1';
export const COSIGN_SIGN_PREDICATE = 'https://sigstore.dev/cosign/sign/v1';
export const ANNOTATION_CONTENT = 'dev.sigstore.bundle.content';
export const ANNOTATION_PREDICATE = 'dev.sigstore.bundle.predicateType';
export const ANNOTATION_CREATED = 'org.opencontainers.image.created';
/** The image-spec's empty descriptor: the two bytes `{}`. */
export const EMPTY_CONFIG = Buffer.from('{}');

/** Bundles bigger than this are refused before parsing: a signature needs a few KiB. */
export const MAX_BUNDLE_BYTES = 1024 * 1024;

/** The statement cosign signs: the manifest digest as the only subject, an empty predicate. */
export function cosignStatement(manifestDigest: string): Buffer {
  const { algorithm, hex } = parseDigest(manifestDigest);
  return Buffer.from(JSON.stringify({
    _type: INTOTO_STATEMENT_V1,
    subject: [{ digest: { [algorithm]: hex } }],
    predicateType: COSIGN_SIGN_PREDICATE,
    predicate: {},
  }));
}

/** Signs a statement into a serialized bundle; witnesses (Rekor, a TSA) only for keyless signing. */
export async function createBundle(statement: Buffer, signer: Signer, witnesses: Witness[] = []): Promise<Buffer> {
  // Loaded on use: the signing libraries are large and most commands never sign.
  const [{ DSSEBundleBuilder }, { bundleToJSON }] = await Promise.all([import('@sigstore/sign'), import('@sigstore/bundle')]);
  const bundle = await new DSSEBundleBuilder({ signer, witnesses }).create({ data: statement, type: INTOTO_PAYLOAD_TYPE });
  return Buffer.from(JSON.stringify(bundleToJSON(bundle)));
}

export interface BundleArtifact {
  manifest: Buffer;
  /** The bundle blob's descriptor (the one layer). */
  layer: Descriptor;
  config: Descriptor;
}

/** The referrer manifest that attaches a bundle to `subject`, annotated as BUNDLE_SPEC.md describes. */
export function bundleArtifact(bundle: Buffer, subject: Descriptor, created = new Date()): BundleArtifact {
  const layer: Descriptor = { mediaType: BUNDLE_MEDIA_TYPE, digest: digestOf(bundle), size: bundle.length };
  const config: Descriptor = { mediaType: EMPTY_MEDIA_TYPE, digest: digestOf(EMPTY_CONFIG), size: EMPTY_CONFIG.length };
  const manifest = {
    schemaVersion: 2,
    mediaType: MANIFEST_MEDIA_TYPE,
    artifactType: BUNDLE_MEDIA_TYPE,
    config,
    layers: [layer],
    subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
    annotations: {
      [ANNOTATION_CONTENT]: 'dsse-envelope',
      [ANNOTATION_PREDICATE]: COSIGN_SIGN_PREDICATE,
      [ANNOTATION_CREATED]: created.toISOString().replace(/\.\d{3}Z$/, 'Z'),
    },
  };
  return { manifest: Buffer.from(JSON.stringify(manifest)), layer, config };
}

export interface BundleTrust {
  /** Any one verifying is enough. */
  publicKeys?: KeyObject[];
  /** A sigstore TrustedRoot (JSON), needed for certificate (keyless) bundles and transparency-log entries. */
  trustedRoot?: unknown;
  /** Keyless: the certificate must match one of these. */
  identities?: IdentityMatcher[];
}

export interface VerifiedBundle {
  kind: 'key' | 'certificate';
  identity?: string;
  issuer?: string;
  tlogEntries: number;
  timestamps: number;
}

const invalid = (why: string) => new OciToolError('OCI_ERR_SIGNATURE', why);

/**
 * Verifies a serialized cosign bundle for `manifestDigest`: the DSSE signature by a trusted key (or
 * a certificate chaining to the trusted root, with its transparency-log and timestamp evidence, and
 * a matching identity), then that the signed statement is cosign's and names exactly this digest.
 */
export async function verifyCosignBundle(bytes: Buffer, trust: BundleTrust, manifestDigest: string): Promise<VerifiedBundle> {
  if (bytes.length > MAX_BUNDLE_BYTES) throw invalid(`sigstore bundle is ${bytes.length} bytes, over the ${MAX_BUNDLE_BYTES}-byte limit`);
  const [{ bundleFromJSON }, verifyLib, { TrustedRoot }] = await Promise.all([
    import('@sigstore/bundle'), import('@sigstore/verify'), import('@sigstore/protobuf-specs'),
  ]);
  let bundle: ReturnType<typeof bundleFromJSON>;
  try {
    bundle = bundleFromJSON(JSON.parse(bytes.toString('utf8')));
  } catch (e) {
    throw invalid(`not a valid sigstore bundle: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (bundle.content.$case !== 'dsseEnvelope') throw invalid('sigstore bundle holds a message signature, not the DSSE envelope cosign signs images with');
  const envelope = bundle.content.dsseEnvelope;
  if (envelope.payloadType !== INTOTO_PAYLOAD_TYPE) throw invalid(`DSSE payload type is ${JSON.stringify(envelope.payloadType)}, not ${INTOTO_PAYLOAD_TYPE}`);

  const material = bundle.verificationMaterial.content;
  const keyed = material.$case === 'publicKey';
  if (keyed && !trust.publicKeys?.length) throw invalid('bundle is signed with a key, and no public key was given to verify it');
  if (!keyed && !trust.trustedRoot) throw invalid('bundle is signed with a certificate (keyless); verifying it needs a trusted root');
  const root = trust.trustedRoot
    ? TrustedRoot.fromJSON(trust.trustedRoot)
    : TrustedRoot.fromJSON({ mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1', tlogs: [], certificateAuthorities: [], ctlogs: [], timestampAuthorities: [] });
  const entity = verifyLib.toSignedEntity(bundle);
  const tlogEntries = bundle.verificationMaterial.tlogEntries.length;
  const timestamps = bundle.verificationMaterial.timestampVerificationData?.rfc3161Timestamps.length ?? 0;

  let signer: { identity?: { subjectAlternativeName?: string; extensions?: { issuer?: string } } } | undefined;
  let lastError: unknown;
  const keys = keyed ? trust.publicKeys ?? [] : [undefined];
  for (const key of keys) {
    const trustMaterial = verifyLib.toTrustMaterial(root, key ? () => ({ publicKey: key, validFor: () => true }) : undefined);
    // A key needs no timestamp; any transparency-log entry the bundle carries must still verify.
    const thresholds = keyed
      ? { tlogThreshold: trust.trustedRoot ? tlogEntries : 0, ctlogThreshold: 0, timestampThreshold: 0 }
      : { tlogThreshold: 1, ctlogThreshold: 1, timestampThreshold: 1 };
    try {
      signer = new verifyLib.Verifier(trustMaterial, thresholds).verify(entity);
      break;
    } catch (e) {
      lastError = e;
    }
  }
  if (!signer) {
    const msg = lastError instanceof Error ? lastError.message : String(lastError);
    throw invalid(keyed ? `bundle signature does not verify with the given key${keys.length > 1 ? 's' : ''} (${msg})` : `bundle does not verify against the trusted root (${msg})`);
  }

  const identity = signer.identity?.subjectAlternativeName;
  const issuer = signer.identity?.extensions?.issuer;
  if (!keyed) {
    if (!trust.identities?.length) throw invalid('keyless bundle: a certificate identity and OIDC issuer are required to verify it');
    if (!trust.identities.some((m) => matchIdentity(m, identity, issuer))) {
      throw invalid(`certificate identity ${JSON.stringify(identity ?? '')} (issuer ${JSON.stringify(issuer ?? '')}) is not among the accepted identities`);
    }
  }
  checkStatement(Buffer.from(envelope.payload), manifestDigest);
  return { kind: keyed ? 'key' : 'certificate', identity, issuer, tlogEntries, timestamps };
}

/** The signed statement must be cosign's signature statement with this manifest digest as a subject. */
export function checkStatement(payload: Buffer, manifestDigest: string): void {
  let statement: { _type?: unknown; predicateType?: unknown; subject?: unknown };
  try {
    statement = JSON.parse(payload.toString('utf8')) as typeof statement;
  } catch {
    throw invalid('signed payload is not JSON');
  }
  if (statement._type !== INTOTO_STATEMENT_V1) throw invalid(`signed payload is not an in-toto v1 statement (_type ${JSON.stringify(statement._type)})`);
  if (statement.predicateType !== COSIGN_SIGN_PREDICATE) {
    throw invalid(`signed statement has predicate type ${JSON.stringify(statement.predicateType)}, not cosign's signature predicate ${COSIGN_SIGN_PREDICATE}`);
  }
  const { algorithm, hex } = parseDigest(manifestDigest);
  const subjects = Array.isArray(statement.subject) ? (statement.subject as { digest?: Record<string, unknown> }[]) : [];
  if (!subjects.some((s) => s?.digest?.[algorithm] === hex)) {
    const named = subjects.flatMap((s) => Object.entries(s?.digest ?? {}).map(([a, h]) => `${a}:${String(h)}`));
    throw invalid(`signature is for ${named.join(', ') || 'no digest'}, not ${manifestDigest}`);
  }
}
