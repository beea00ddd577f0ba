// cosign's original signature storage, which skopeo and containers/image also read and write: an
// OCI image tagged `<alg>-<hex>.sig` in the image's repository, one layer per signature, each layer
// the simple-signing payload with the signature (and keyless evidence) in its annotations.
import { OciToolError } from '../errors.js';
import { digestOf, parseDigest } from '../image/digest.js';
import { CONFIG_MEDIA_TYPE, MANIFEST_MEDIA_TYPE } from '../image/media-types.js';
import type { Descriptor } from '../image/types.js';
import { SIMPLE_SIGNING_MEDIA_TYPE } from './simple-signing.js';

/** The tag cosign stores an image's signatures under. */
export function signatureTag(manifestDigest: string): string {
  const { algorithm, hex } = parseDigest(manifestDigest);
  return `${algorithm}-${hex}.sig`;
}

export interface SignatureImage {
  manifest: Buffer;
  config: Buffer;
  layers: Descriptor[];
}

// go-containerregistry's empty image, which cosign builds on, dates everything at Go's zero time.
const ZERO_TIME = '0001-01-01T00:00:00Z';

/** Descriptor JSON in go-containerregistry's field order, which is what cosign writes. */
function descriptorJson(d: Descriptor): Record<string, unknown> {
  return { mediaType: d.mediaType, size: d.size, digest: d.digest, ...(d.annotations ? { annotations: d.annotations } : {}) };
}

/** The layer for one signature: the payload blob, annotated with the signature and its evidence. */
export function signatureLayer(payload: Buffer, annotations: Record<string, string>): Descriptor {
  return { mediaType: SIMPLE_SIGNING_MEDIA_TYPE, size: payload.length, digest: digestOf(payload), annotations };
}

const sameSignature = (a: Descriptor, b: Descriptor) =>
  a.digest === b.digest && JSON.stringify(a.annotations ?? {}) === JSON.stringify(b.annotations ?? {});

/**
 * The signature image with `layer` added to the signatures already there (cosign appends, so
 * several signers can sign one image); an identical signature is not added twice.
 */
export function signatureImage(layer: Descriptor, existing: readonly Descriptor[] = []): SignatureImage {
  const layers = existing.some((l) => sameSignature(l, layer)) ? [...existing] : [...existing, layer];
  // The payloads are stored uncompressed, so each diff_id is the layer digest.
  const config = Buffer.from(JSON.stringify({
    architecture: '',
    created: ZERO_TIME,
    history: layers.map(() => ({ created: ZERO_TIME })),
    os: '',
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) },
    config: {},
  }));
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: MANIFEST_MEDIA_TYPE,
    config: descriptorJson({ mediaType: CONFIG_MEDIA_TYPE, size: config.length, digest: digestOf(config) }),
    layers: layers.map(descriptorJson),
  }));
  return { manifest, config, layers };
}

/** The layers of a stored signature image; anything that is not a manifest with layers is refused. */
export function signatureLayers(manifest: Buffer, where: string): Descriptor[] {
  let doc: { layers?: unknown };
  try {
    doc = JSON.parse(manifest.toString('utf8')) as typeof doc;
  } catch {
    throw new OciToolError('OCI_ERR_INVALID_CONTENT', `${where}: signature manifest is not JSON`);
  }
  if (!Array.isArray(doc.layers)) throw new OciToolError('OCI_ERR_INVALID_CONTENT', `${where}: signature manifest has no layers`);
  return (doc.layers as Descriptor[]).filter((l) => typeof l?.digest === 'string' && typeof l.size === 'number' && typeof l.mediaType === 'string');
}
