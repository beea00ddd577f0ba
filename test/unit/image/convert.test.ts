import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { indexToOci, manifestToOci } from '../../../src/image/convert.js';
import {
  CONFIG_MEDIA_TYPE, DOCKER_CONFIG_MEDIA_TYPE, DOCKER_FOREIGN_LAYER_MEDIA_TYPE, DOCKER_LAYER_GZIP_MEDIA_TYPE,
  DOCKER_MANIFEST_LIST_MEDIA_TYPE, DOCKER_MANIFEST_MEDIA_TYPE, INDEX_MEDIA_TYPE, LAYER_GZIP_MEDIA_TYPE,
  LAYER_NONDIST_GZIP_MEDIA_TYPE, LAYER_ZSTD_MEDIA_TYPE, MANIFEST_MEDIA_TYPE,
} from '../../../src/image/media-types.js';
import type { Descriptor, ImageIndex, ImageManifest } from '../../../src/image/types.js';

const digest = (c: string) => `sha256:${c.repeat(64)}`;
const sha256 = (b: Uint8Array) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

const dockerManifest: ImageManifest = {
  schemaVersion: 2,
  mediaType: DOCKER_MANIFEST_MEDIA_TYPE,
  config: { mediaType: DOCKER_CONFIG_MEDIA_TYPE, digest: digest('c'), size: 1469 },
  layers: [
    { mediaType: DOCKER_LAYER_GZIP_MEDIA_TYPE, digest: digest('1'), size: 2_000_000 },
    { mediaType: DOCKER_FOREIGN_LAYER_MEDIA_TYPE, digest: digest('2'), size: 3_000_000, urls: ['https://example.com/layer'] },
    { mediaType: DOCKER_LAYER_GZIP_MEDIA_TYPE, digest: digest('3'), size: 4 },
  ],
};

describe('manifestToOci', () => {
  it('gives a Docker v2s2 manifest OCI media types and keeps every digest, size and url', () => {
    const { bytes, descriptor } = manifestToOci(dockerManifest);
    const doc = JSON.parse(bytes.toString('utf8')) as ImageManifest;
    expect(doc).toEqual({
      schemaVersion: 2,
      mediaType: MANIFEST_MEDIA_TYPE,
      config: { mediaType: CONFIG_MEDIA_TYPE, digest: digest('c'), size: 1469 },
      layers: [
        { mediaType: LAYER_GZIP_MEDIA_TYPE, digest: digest('1'), size: 2_000_000 },
        { mediaType: LAYER_NONDIST_GZIP_MEDIA_TYPE, digest: digest('2'), size: 3_000_000, urls: ['https://example.com/layer'] },
        { mediaType: LAYER_GZIP_MEDIA_TYPE, digest: digest('3'), size: 4 },
      ],
    });
    expect(descriptor).toEqual({ mediaType: MANIFEST_MEDIA_TYPE, digest: sha256(bytes), size: bytes.length });
    expect(bytes.toString('utf8')).not.toContain('docker');
  });

  it('does not change the manifest it is given', () => {
    const before = JSON.stringify(dockerManifest);
    manifestToOci(dockerManifest);
    expect(JSON.stringify(dockerManifest)).toBe(before);
  });

  it('puts the platform on the new descriptor only', () => {
    const platform = { os: 'linux', architecture: 'arm64', variant: 'v8' };
    const { bytes, descriptor } = manifestToOci(dockerManifest, platform);
    expect(descriptor.platform).toEqual(platform);
    expect(JSON.parse(bytes.toString('utf8'))).not.toHaveProperty('platform');
    expect(manifestToOci(dockerManifest).descriptor).not.toHaveProperty('platform');
  });

  it('leaves OCI media types, annotations and unknown types alone', () => {
    const oci: ImageManifest = {
      schemaVersion: 2,
      config: { mediaType: CONFIG_MEDIA_TYPE, digest: digest('c'), size: 2 },
      layers: [
        { mediaType: LAYER_ZSTD_MEDIA_TYPE, digest: digest('1'), size: 1, annotations: { a: 'b' } },
        { mediaType: 'application/x-unknown', digest: digest('2'), size: 1 },
      ],
      annotations: { 'org.opencontainers.image.created': '2024-01-01T00:00:00Z' },
    };
    const doc = JSON.parse(manifestToOci(oci).bytes.toString('utf8')) as ImageManifest;
    expect(doc).toEqual({ ...oci, mediaType: MANIFEST_MEDIA_TYPE });
  });

  it('is deterministic: the same input gives the same digest', () => {
    expect(manifestToOci(dockerManifest).descriptor.digest).toBe(manifestToOci(structuredClone(dockerManifest)).descriptor.digest);
  });
});

describe('indexToOci', () => {
  const amd64 = { os: 'linux', architecture: 'amd64' };
  const arm64 = { os: 'linux', architecture: 'arm64', variant: 'v8' };
  const list: ImageIndex = {
    schemaVersion: 2,
    mediaType: DOCKER_MANIFEST_LIST_MEDIA_TYPE,
    manifests: [
      { mediaType: DOCKER_MANIFEST_MEDIA_TYPE, digest: digest('a'), size: 528, platform: amd64 },
      { mediaType: DOCKER_MANIFEST_MEDIA_TYPE, digest: digest('b'), size: 529, platform: arm64, annotations: { k: 'v' } },
      { mediaType: MANIFEST_MEDIA_TYPE, digest: digest('d'), size: 840, platform: { os: 'unknown', architecture: 'unknown' } },
    ],
  };

  it('rewrites converted children to their new descriptors, keeping platform and annotations', () => {
    const convA = manifestToOci({ ...dockerManifest }, amd64).descriptor;
    const convB: Descriptor = { mediaType: MANIFEST_MEDIA_TYPE, digest: digest('e'), size: 600 };
    const { bytes, descriptor } = indexToOci(list, new Map([[digest('a'), convA], [digest('b'), convB]]));
    const doc = JSON.parse(bytes.toString('utf8')) as ImageIndex;
    expect(doc).toEqual({
      schemaVersion: 2,
      mediaType: INDEX_MEDIA_TYPE,
      manifests: [
        { mediaType: MANIFEST_MEDIA_TYPE, digest: convA.digest, size: convA.size, platform: amd64 },
        { mediaType: MANIFEST_MEDIA_TYPE, digest: digest('e'), size: 600, platform: arm64, annotations: { k: 'v' } },
        // Not converted, already OCI: unchanged.
        list.manifests[2],
      ],
    });
    expect(descriptor).toEqual({ mediaType: INDEX_MEDIA_TYPE, digest: sha256(bytes), size: bytes.length });
    expect(descriptor).not.toHaveProperty('platform');
  });

  it('keeps index-level fields and does not change its input', () => {
    const withExtras: ImageIndex = { ...list, annotations: { 'org.example': 'x' } };
    const before = JSON.stringify(withExtras);
    const doc = JSON.parse(indexToOci(withExtras, new Map()).bytes.toString('utf8')) as ImageIndex;
    expect(doc.annotations).toEqual({ 'org.example': 'x' });
    expect(doc.mediaType).toBe(INDEX_MEDIA_TYPE);
    expect(doc.manifests.map((d) => d.digest)).toEqual(list.manifests.map((d) => d.digest));
    expect(JSON.stringify(withExtras)).toBe(before);
  });
});
