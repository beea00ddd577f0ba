// Reading an image's config from a layout: verified by digest, parsed, and its diff_ids matched
// to the manifest's layers. Pull and unpack both rely on it.
import { OciToolError } from '../errors.js';
import type { Layout } from './layout.js';
import { CONFIG_MEDIA_TYPE, DOCKER_CONFIG_MEDIA_TYPE } from './media-types.js';
import type { ImageConfig, ImageManifest } from './types.js';

/** The image config, or undefined when the manifest is an artifact whose config is not an image config. */
export async function readImageConfig(layout: Layout, manifest: ImageManifest, where: string): Promise<ImageConfig | undefined> {
  const mt = manifest.config.mediaType;
  if (mt !== CONFIG_MEDIA_TYPE && mt !== DOCKER_CONFIG_MEDIA_TYPE) return undefined;
  let config: ImageConfig;
  try {
    config = JSON.parse((await layout.readBlob(manifest.config)).toString('utf8')) as ImageConfig;
  } catch (e) {
    if (e instanceof OciToolError) throw e;
    throw new OciToolError('OCI_ERR_INVALID_CONTENT', `image config ${manifest.config.digest} of ${where} is not valid JSON`);
  }
  const ids = config.rootfs?.diff_ids;
  if (!Array.isArray(ids) || ids.length !== manifest.layers.length) {
    throw new OciToolError('OCI_ERR_INVALID_CONTENT', `image config ${manifest.config.digest} of ${where} lists ${Array.isArray(ids) ? ids.length : 'no'} diff_ids for ${manifest.layers.length} layers`);
  }
  return config;
}
