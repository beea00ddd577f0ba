// The pre-manifest.json parts of the `docker save` format that skopeo still writes for old
// `docker load`s: one directory per layer ("<id>/VERSION", "<id>/json", "<id>/layer.tar" as a
// symlink to the real layer file) and a `repositories` file mapping repo → tag → top layer id.
// The ids only need to be unique and stable (current docker allocates its own on load); they are
// derived as containers/image's docker/internal/tarfile/writer.go derives them.
import { createHash } from 'node:crypto';
import type { TarEntry } from './archive-write.js';

// Image config fields the top layer's json carries, as skopeo copies them.
const TOP_FIELDS = ['architecture', 'config', 'container', 'container_config', 'created', 'docker_version', 'os'] as const;

const sha256Hex = (s: string) => createHash('sha256').update(s).digest('hex');

/** JSON with top-level keys sorted, as Go's encoding of a map orders them. */
function sortedJson(obj: Record<string, unknown>): string {
  return JSON.stringify(Object.fromEntries(Object.entries(obj).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))));
}

export interface LegacyMetadata {
  readonly entries: TarEntry[];
  /** repositories file contents. */
  readonly repositories: Record<string, Record<string, string>>;
}

/**
 * Legacy entries for one image whose layers (in order) are stored as the given files.
 * `tags` are [repository name, tag] pairs.
 */
export function legacyMetadata(config: Record<string, unknown>, layers: readonly { diffId: string; file: string }[], tags: readonly [string, string][]): LegacyMetadata {
  const entries: TarEntry[] = [];
  const written = new Set<string>();
  let chainId = '';
  let parent = '';
  layers.forEach((layer, i) => {
    const layerConfig: Record<string, unknown> = {};
    if (parent) layerConfig.parent = parent;
    if (i === layers.length - 1) for (const field of TOP_FIELDS) layerConfig[field] = config[field] ?? null;
    chainId = chainId === '' ? layer.diffId : `sha256:${sha256Hex(`${chainId} ${layer.diffId}`)}`;
    const id = sha256Hex(sortedJson({ ...layerConfig, layer_id: chainId }));
    if (!written.has(id)) {
      written.add(id);
      entries.push(
        { name: `${id}/layer.tar`, type: 'symlink', linkname: `../${layer.file}` },
        { name: `${id}/VERSION`, type: 'file', bytes: Buffer.from('1.0') },
        { name: `${id}/json`, type: 'file', bytes: Buffer.from(sortedJson({ ...layerConfig, id })) },
      );
    }
    parent = id;
  });
  const repositories: Record<string, Record<string, string>> = {};
  if (parent) for (const [name, tag] of tags) repositories[name] = { ...repositories[name], [tag]: parent };
  return { entries, repositories };
}
