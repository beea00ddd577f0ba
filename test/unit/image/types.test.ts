import { describe, expect, it } from 'vitest';
import { OciToolError } from '../../../src/errors.js';
import {
  DOCKER_MANIFEST_LIST_MEDIA_TYPE, DOCKER_MANIFEST_MEDIA_TYPE, DOCKER_SCHEMA1_MEDIA_TYPE, DOCKER_SCHEMA1_SIGNED_MEDIA_TYPE,
  INDEX_MEDIA_TYPE, MANIFEST_MEDIA_TYPE,
} from '../../../src/image/media-types.js';
import { parseManifestDocument } from '../../../src/image/types.js';

const WHERE = 'docker.io/library/busybox:latest';
const D = `sha256:${'a'.repeat(64)}`;
const desc = (extra: object = {}) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: D, size: 10, ...extra });
const manifest = (extra: object = {}) => ({ schemaVersion: 2, config: desc({ mediaType: 'application/vnd.oci.image.config.v1+json' }), layers: [desc()], ...extra });
const index = (extra: object = {}) => ({ schemaVersion: 2, manifests: [desc({ mediaType: MANIFEST_MEDIA_TYPE, platform: { os: 'linux', architecture: 'amd64' } })], ...extra });
const bytes = (v: unknown) => new TextEncoder().encode(typeof v === 'string' ? v : JSON.stringify(v));

function failure(fn: () => unknown): OciToolError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(OciToolError);
    return e as OciToolError;
  }
  throw new Error('expected a throw');
}

describe('parseManifestDocument: kind', () => {
  it.each([
    ['body mediaType index', index({ mediaType: INDEX_MEDIA_TYPE }), undefined, 'index'],
    ['body mediaType manifest', manifest({ mediaType: MANIFEST_MEDIA_TYPE }), undefined, 'manifest'],
    ['docker list by content type', index(), DOCKER_MANIFEST_LIST_MEDIA_TYPE, 'index'],
    ['docker manifest by content type', manifest(), DOCKER_MANIFEST_MEDIA_TYPE, 'manifest'],
    ['content type with parameters', manifest(), `${MANIFEST_MEDIA_TYPE}; charset=utf-8`, 'manifest'],
    ['body and content type agree', index({ mediaType: INDEX_MEDIA_TYPE }), INDEX_MEDIA_TYPE, 'index'],
    ['fields: manifests', index(), undefined, 'index'],
    ['fields: layers', manifest(), undefined, 'manifest'],
    ['fields under a generic content type', index(), 'application/json', 'index'],
    ['body type wins over a generic content type', manifest({ mediaType: MANIFEST_MEDIA_TYPE }), 'application/octet-stream', 'manifest'],
    ['unknown body type falls back to fields', manifest({ mediaType: 'application/vnd.example+json' }), undefined, 'manifest'],
    ['unknown content type falls back to fields', index(), 'application/vnd.example+json', 'index'],
  ])('%s', (_name, doc, ct, kind) => {
    const got = parseManifestDocument(bytes(doc), ct, WHERE);
    expect(got.kind).toBe(kind);
    if (got.kind === 'index') expect(got.index.manifests).toHaveLength(1);
    else expect(got.manifest.layers).toHaveLength(1);
  });

  it('keeps fields it does not check', () => {
    const got = parseManifestDocument(bytes(manifest({ annotations: { a: 'b' }, extra: 1 })), undefined, WHERE);
    expect(got.kind === 'manifest' && got.manifest.annotations).toEqual({ a: 'b' });
    expect(got).toMatchObject({ manifest: { extra: 1 } });
  });

  it('accepts artifact manifests with an empty config and a subject', () => {
    const doc = manifest({
      mediaType: MANIFEST_MEDIA_TYPE, artifactType: 'application/vnd.example.sig',
      config: desc({ mediaType: 'application/vnd.oci.empty.v1+json', size: 2, data: 'e30=' }), subject: desc({ mediaType: MANIFEST_MEDIA_TYPE }),
    });
    expect(parseManifestDocument(bytes(doc), MANIFEST_MEDIA_TYPE, WHERE).kind).toBe('manifest');
  });
});

describe('parseManifestDocument: errors', () => {
  it.each([
    ['schema 1 by body', { schemaVersion: 1, name: 'x', fsLayers: [] }, undefined],
    ['schema 1 by content type', { schemaVersion: 1 }, DOCKER_SCHEMA1_SIGNED_MEDIA_TYPE],
    ['schema 1 content type, v2-looking body', manifest(), DOCKER_SCHEMA1_MEDIA_TYPE],
    ['schema 1 body mediaType', { schemaVersion: 1, mediaType: DOCKER_SCHEMA1_MEDIA_TYPE }, undefined],
  ])('refuses %s', (_name, doc, ct) => {
    const e = failure(() => parseManifestDocument(bytes(doc), ct, WHERE));
    expect(e.code).toBe('OCI_ERR_UNSUPPORTED');
    expect(e.message).toBe(`${WHERE}: Docker schema 1 manifests are not supported; push the image again with a current client`);
  });

  it.each([
    ['not JSON', '{"schemaVersion":', undefined, 'manifest is not valid JSON'],
    ['invalid UTF-8', new Uint8Array([0x7b, 0xff, 0x7d]), undefined, 'manifest is not valid JSON'],
    ['a JSON array', [], undefined, 'manifest is not a JSON object'],
    ['no schemaVersion', { layers: [] }, undefined, 'unsupported manifest schemaVersion undefined'],
    ['schemaVersion 3', manifest({ schemaVersion: 3 }), undefined, 'unsupported manifest schemaVersion 3'],
    ['non-string mediaType', manifest({ mediaType: 5 }), undefined, 'manifest mediaType is not a string'],
    ['body/content type mismatch', index({ mediaType: INDEX_MEDIA_TYPE }), MANIFEST_MEDIA_TYPE,
      `manifest declares mediaType ${INDEX_MEDIA_TYPE} but was served as ${MANIFEST_MEDIA_TYPE}`],
    ['neither manifests nor layers', { schemaVersion: 2 }, undefined, 'cannot tell whether this is an image index or an image manifest'],
    ['both manifests and layers', { ...manifest(), manifests: [] }, 'application/json', 'cannot tell whether'],
    ['index without manifests', { schemaVersion: 2, mediaType: INDEX_MEDIA_TYPE }, undefined, 'image index has no manifests array'],
    ['manifest without config', { schemaVersion: 2, layers: [] }, undefined, 'config is not a descriptor object'],
    ['manifest without layers', { schemaVersion: 2, config: desc() }, undefined, 'image manifest has no layers array'],
    ['bad digest', manifest({ layers: [desc({ digest: 'sha256' })] }), undefined, 'layers[0].digest "sha256" is not a digest'],
    ['upper-case algorithm', manifest({ layers: [desc({ digest: `SHA256:${'a'.repeat(64)}` })] }), undefined, 'is not a digest'],
    ['negative size', manifest({ layers: [desc(), desc({ size: -1 })] }), undefined, 'layers[1].size -1 is not a non-negative integer'],
    ['fractional size', manifest({ layers: [desc({ size: 1.5 })] }), undefined, 'layers[0].size 1.5 is not'],
    ['string size', manifest({ layers: [desc({ size: '10' })] }), undefined, 'layers[0].size "10" is not'],
    ['missing mediaType', manifest({ layers: [{ digest: D, size: 1 }] }), undefined, 'layers[0].mediaType is missing'],
    ['urls not strings', manifest({ layers: [desc({ urls: [1] })] }), undefined, 'layers[0].urls is not a list of strings'],
    ['annotations not strings', manifest({ annotations: { a: 1 } }), undefined, 'annotations is not a map of strings'],
    ['descriptor annotations', manifest({ config: desc({ annotations: [] }) }), undefined, 'config.annotations is not a map of strings'],
    ['bad subject', manifest({ subject: {} }), undefined, 'subject.mediaType is missing'],
    ['platform without os', index({ manifests: [desc({ platform: { architecture: 'amd64' } })] }), undefined, 'manifests[0].platform needs os and architecture strings'],
    ['platform variant', index({ manifests: [desc({ platform: { os: 'linux', architecture: 'arm', variant: 7 } })] }), undefined, 'manifests[0].platform.variant is not a string'],
    ['platform os.features', index({ manifests: [desc({ platform: { os: 'windows', architecture: 'amd64', 'os.features': 'win32k' } })] }), undefined, 'os.features is not a list of strings'],
    ['artifactType', manifest({ artifactType: 1 }), undefined, 'artifactType is not a string'],
  ])('rejects %s', (_name, doc, ct, msg) => {
    const e = failure(() => parseManifestDocument(doc instanceof Uint8Array ? doc : bytes(doc), ct, WHERE));
    expect(e.code).toBe('OCI_ERR_INVALID_CONTENT');
    expect(e.message.startsWith(`${WHERE}: `)).toBe(true);
    expect(e.message).toContain(msg);
  });

  it('reports a media type it does not know when the fields do not tell', () => {
    const e = failure(() => parseManifestDocument(bytes({ schemaVersion: 2, blobs: [] }), 'application/vnd.oci.artifact.manifest.v1+json', WHERE));
    expect(e.code).toBe('OCI_ERR_UNSUPPORTED');
    expect(e.message).toBe(`${WHERE}: unsupported manifest media type application/vnd.oci.artifact.manifest.v1+json`);
  });
});
