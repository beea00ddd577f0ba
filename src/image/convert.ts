// Docker v2 schema 2 → OCI media types (pull --format oci), as skopeo converts: the same config
// and layer bytes under OCI media types, so only the manifest (and so its digest) changes.
import { digestOf } from './digest.js';
import { INDEX_MEDIA_TYPE, MANIFEST_MEDIA_TYPE, toOciMediaType } from './media-types.js';
import type { Descriptor, ImageIndex, ImageManifest } from './types.js';

export interface Converted {
  bytes: Buffer;
  descriptor: Descriptor;
}

function convertDescriptor(d: Descriptor): Descriptor {
  return { ...d, mediaType: toOciMediaType(d.mediaType) };
}

function finish(doc: object, mediaType: string, platform?: Descriptor['platform']): Converted {
  const bytes = Buffer.from(JSON.stringify(doc));
  return { bytes, descriptor: { mediaType, digest: digestOf(bytes), size: bytes.length, ...(platform ? { platform } : {}) } };
}

export function manifestToOci(manifest: ImageManifest, platform?: Descriptor['platform']): Converted {
  const doc: ImageManifest = {
    ...manifest,
    mediaType: MANIFEST_MEDIA_TYPE,
    config: convertDescriptor(manifest.config),
    layers: manifest.layers.map(convertDescriptor),
  };
  return finish(doc, MANIFEST_MEDIA_TYPE, platform);
}

/** Converts an index whose children were converted already; `children` maps old digests to new descriptors. */
export function indexToOci(index: ImageIndex, children: ReadonlyMap<string, Descriptor>): Converted {
  const doc: ImageIndex = {
    ...index,
    mediaType: INDEX_MEDIA_TYPE,
    manifests: index.manifests.map((d) => {
      const c = children.get(d.digest);
      return c ? { ...d, mediaType: c.mediaType, digest: c.digest, size: c.size } : convertDescriptor(d);
    }),
  };
  return finish(doc, INDEX_MEDIA_TYPE);
}
