import { describe, expect, it } from 'vitest';
import {
  CONFIG_MEDIA_TYPE, DOCKER_CONFIG_MEDIA_TYPE, DOCKER_FOREIGN_LAYER_MEDIA_TYPE, DOCKER_LAYER_GZIP_MEDIA_TYPE,
  DOCKER_MANIFEST_LIST_MEDIA_TYPE, DOCKER_MANIFEST_MEDIA_TYPE, DOCKER_SCHEMA1_MEDIA_TYPE, DOCKER_SCHEMA1_SIGNED_MEDIA_TYPE,
  EMPTY_MEDIA_TYPE, INDEX_MEDIA_TYPE, LAYER_GZIP_MEDIA_TYPE, LAYER_MEDIA_TYPE, LAYER_NONDIST_GZIP_MEDIA_TYPE,
  LAYER_NONDIST_MEDIA_TYPE, LAYER_NONDIST_ZSTD_MEDIA_TYPE, LAYER_ZSTD_MEDIA_TYPE, MANIFEST_ACCEPT, MANIFEST_MEDIA_TYPE,
  isIndexMediaType, isLayerMediaType, isManifestMediaType, isNonDistributable, isSchema1MediaType, layerCompression, toOciMediaType,
} from '../../../src/image/media-types.js';

describe('media types', () => {
  it.each([
    [INDEX_MEDIA_TYPE, true, false],
    [DOCKER_MANIFEST_LIST_MEDIA_TYPE, true, false],
    [MANIFEST_MEDIA_TYPE, false, true],
    [DOCKER_MANIFEST_MEDIA_TYPE, false, true],
    [DOCKER_SCHEMA1_MEDIA_TYPE, false, false],
    [CONFIG_MEDIA_TYPE, false, false],
    ['application/json', false, false],
  ])('%s: index %s, manifest %s', (mt, index, manifest) => {
    expect(isIndexMediaType(mt)).toBe(index);
    expect(isManifestMediaType(mt)).toBe(manifest);
  });

  it.each([
    [LAYER_MEDIA_TYPE, 'none', false],
    [LAYER_GZIP_MEDIA_TYPE, 'gzip', false],
    [LAYER_ZSTD_MEDIA_TYPE, 'zstd', false],
    [LAYER_NONDIST_MEDIA_TYPE, 'none', true],
    [LAYER_NONDIST_GZIP_MEDIA_TYPE, 'gzip', true],
    [LAYER_NONDIST_ZSTD_MEDIA_TYPE, 'zstd', true],
    [DOCKER_LAYER_GZIP_MEDIA_TYPE, 'gzip', false],
    [DOCKER_FOREIGN_LAYER_MEDIA_TYPE, 'gzip', true],
    [CONFIG_MEDIA_TYPE, undefined, false],
    [EMPTY_MEDIA_TYPE, undefined, false],
    ['application/vnd.oci.image.layer.v1.tar+bzip2', undefined, false],
  ] as const)('%s: compression %s, non-distributable %s', (mt, compression, nondist) => {
    expect(layerCompression(mt)).toBe(compression);
    expect(isLayerMediaType(mt)).toBe(compression !== undefined);
    expect(isNonDistributable(mt)).toBe(nondist);
  });

  it.each([
    [DOCKER_MANIFEST_MEDIA_TYPE, MANIFEST_MEDIA_TYPE],
    [DOCKER_MANIFEST_LIST_MEDIA_TYPE, INDEX_MEDIA_TYPE],
    [DOCKER_CONFIG_MEDIA_TYPE, CONFIG_MEDIA_TYPE],
    [DOCKER_LAYER_GZIP_MEDIA_TYPE, LAYER_GZIP_MEDIA_TYPE],
    [DOCKER_FOREIGN_LAYER_MEDIA_TYPE, LAYER_NONDIST_GZIP_MEDIA_TYPE],
    [MANIFEST_MEDIA_TYPE, MANIFEST_MEDIA_TYPE],
    [LAYER_ZSTD_MEDIA_TYPE, LAYER_ZSTD_MEDIA_TYPE],
    [EMPTY_MEDIA_TYPE, EMPTY_MEDIA_TYPE],
    ['application/vnd.example.thing', 'application/vnd.example.thing'],
  ])('toOciMediaType(%s) = %s', (from, to) => {
    expect(toOciMediaType(from)).toBe(to);
  });

  it('recognises schema 1', () => {
    expect(isSchema1MediaType(DOCKER_SCHEMA1_MEDIA_TYPE)).toBe(true);
    expect(isSchema1MediaType(DOCKER_SCHEMA1_SIGNED_MEDIA_TYPE)).toBe(true);
    expect(isSchema1MediaType(DOCKER_MANIFEST_MEDIA_TYPE)).toBe(false);
  });

  it('asks for OCI first and schema 1 last, at the lowest q', () => {
    const entries = MANIFEST_ACCEPT.split(',').map((s) => s.trim());
    expect(entries[0]).toBe(MANIFEST_MEDIA_TYPE);
    expect(entries.slice(0, 4)).toEqual([MANIFEST_MEDIA_TYPE, INDEX_MEDIA_TYPE, DOCKER_MANIFEST_MEDIA_TYPE, DOCKER_MANIFEST_LIST_MEDIA_TYPE]);
    const q = (e: string) => Number(/;q=([\d.]+)/.exec(e)?.[1] ?? 1);
    const v1 = entries.filter((e) => isSchema1MediaType(e.split(';')[0] as string));
    expect(v1).toHaveLength(2);
    const lowest = Math.min(...entries.map(q));
    for (const e of v1) expect(q(e)).toBe(lowest);
    for (const e of entries.slice(0, 4)) expect(q(e)).toBeGreaterThan(lowest);
  });
});
