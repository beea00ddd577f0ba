// Media types from OCI image-spec v1.1 and the Docker registry formats it grew out of.

export const MANIFEST_MEDIA_TYPE = 'application/vnd.oci.image.manifest.v1+json';
export const INDEX_MEDIA_TYPE = 'application/vnd.oci.image.index.v1+json';
export const CONFIG_MEDIA_TYPE = 'application/vnd.oci.image.config.v1+json';
export const LAYER_MEDIA_TYPE = 'application/vnd.oci.image.layer.v1.tar';
export const LAYER_GZIP_MEDIA_TYPE = 'application/vnd.oci.image.layer.v1.tar+gzip';
export const LAYER_ZSTD_MEDIA_TYPE = 'application/vnd.oci.image.layer.v1.tar+zstd';
// Deprecated by image-spec v1.1 but still found in the wild, so still read.
export const LAYER_NONDIST_MEDIA_TYPE = 'application/vnd.oci.image.layer.nondistributable.v1.tar';
export const LAYER_NONDIST_GZIP_MEDIA_TYPE = 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip';
export const LAYER_NONDIST_ZSTD_MEDIA_TYPE = 'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd';
export const EMPTY_MEDIA_TYPE = 'application/vnd.oci.empty.v1+json';

export const DOCKER_MANIFEST_MEDIA_TYPE = 'application/vnd.docker.distribution.manifest.v2+json';
export const DOCKER_MANIFEST_LIST_MEDIA_TYPE = 'application/vnd.docker.distribution.manifest.list.v2+json';
export const DOCKER_CONFIG_MEDIA_TYPE = 'application/vnd.docker.container.image.v1+json';
export const DOCKER_LAYER_GZIP_MEDIA_TYPE = 'application/vnd.docker.image.rootfs.diff.tar.gzip';
/** Uncompressed Docker layers: what docker-archive holds, and what containers/image calls them. */
export const DOCKER_LAYER_MEDIA_TYPE = 'application/vnd.docker.image.rootfs.diff.tar';
export const DOCKER_FOREIGN_LAYER_MEDIA_TYPE = 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip';
export const DOCKER_SCHEMA1_MEDIA_TYPE = 'application/vnd.docker.distribution.manifest.v1+json';
export const DOCKER_SCHEMA1_SIGNED_MEDIA_TYPE = 'application/vnd.docker.distribution.manifest.v1+prettyjws';

/** Accept header for manifest GETs. Schema 1 is asked for last only so that we can recognise and refuse it. */
export const MANIFEST_ACCEPT = [
  MANIFEST_MEDIA_TYPE,
  INDEX_MEDIA_TYPE,
  DOCKER_MANIFEST_MEDIA_TYPE,
  DOCKER_MANIFEST_LIST_MEDIA_TYPE,
  `${DOCKER_SCHEMA1_SIGNED_MEDIA_TYPE};q=0.1`,
  `${DOCKER_SCHEMA1_MEDIA_TYPE};q=0.1`,
].join(', ');

export function isIndexMediaType(mt: string): boolean {
  return mt === INDEX_MEDIA_TYPE || mt === DOCKER_MANIFEST_LIST_MEDIA_TYPE;
}

export function isManifestMediaType(mt: string): boolean {
  return mt === MANIFEST_MEDIA_TYPE || mt === DOCKER_MANIFEST_MEDIA_TYPE;
}

export function isSchema1MediaType(mt: string): boolean {
  return mt === DOCKER_SCHEMA1_MEDIA_TYPE || mt === DOCKER_SCHEMA1_SIGNED_MEDIA_TYPE;
}

const layerCompressions: ReadonlyMap<string, 'gzip' | 'zstd' | 'none'> = new Map([
  [LAYER_MEDIA_TYPE, 'none'],
  [LAYER_GZIP_MEDIA_TYPE, 'gzip'],
  [LAYER_ZSTD_MEDIA_TYPE, 'zstd'],
  [LAYER_NONDIST_MEDIA_TYPE, 'none'],
  [LAYER_NONDIST_GZIP_MEDIA_TYPE, 'gzip'],
  [LAYER_NONDIST_ZSTD_MEDIA_TYPE, 'zstd'],
  [DOCKER_LAYER_GZIP_MEDIA_TYPE, 'gzip'],
  [DOCKER_LAYER_MEDIA_TYPE, 'none'],
  [DOCKER_FOREIGN_LAYER_MEDIA_TYPE, 'gzip'],
]);

export function isLayerMediaType(mt: string): boolean {
  return layerCompressions.has(mt);
}

/** How a layer blob is compressed, or undefined when the media type is not a known layer type. */
export function layerCompression(mt: string): 'gzip' | 'zstd' | 'none' | undefined {
  return layerCompressions.get(mt);
}

/** Layers whose blobs may live outside the registry (listed in `urls`) and must not be redistributed. */
export function isNonDistributable(mt: string): boolean {
  return mt === LAYER_NONDIST_MEDIA_TYPE || mt === LAYER_NONDIST_GZIP_MEDIA_TYPE
    || mt === LAYER_NONDIST_ZSTD_MEDIA_TYPE || mt === DOCKER_FOREIGN_LAYER_MEDIA_TYPE;
}

const dockerToOci: ReadonlyMap<string, string> = new Map([
  [DOCKER_MANIFEST_MEDIA_TYPE, MANIFEST_MEDIA_TYPE],
  [DOCKER_MANIFEST_LIST_MEDIA_TYPE, INDEX_MEDIA_TYPE],
  [DOCKER_CONFIG_MEDIA_TYPE, CONFIG_MEDIA_TYPE],
  [DOCKER_LAYER_GZIP_MEDIA_TYPE, LAYER_GZIP_MEDIA_TYPE],
  [DOCKER_LAYER_MEDIA_TYPE, LAYER_MEDIA_TYPE],
  [DOCKER_FOREIGN_LAYER_MEDIA_TYPE, LAYER_NONDIST_GZIP_MEDIA_TYPE],
]);

/** The OCI media type for the same bytes, as skopeo's --format oci maps them; anything else is returned unchanged. */
export function toOciMediaType(mt: string): string {
  return dockerToOci.get(mt) ?? mt;
}
