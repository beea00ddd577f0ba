// cosign's .sig image: the tag, the layer per signature, appending, and the config go-containerregistry writes.
import { describe, expect, it } from 'vitest';
import { digestOf } from '../../../src/image/digest.js';
import { signatureImage, signatureLayer, signatureLayers, signatureTag } from '../../../src/sign/legacy-format.js';

const DIGEST = `sha256:${'ab'.repeat(32)}`;

describe('legacy signature image', () => {
  it('is tagged <alg>-<hex>.sig', () => {
    expect(signatureTag(DIGEST)).toBe(`sha256-${'ab'.repeat(32)}.sig`);
    expect(() => signatureTag('latest')).toThrow();
  });

  it('has one simple-signing layer per signature, and a config whose diff_ids are the payload digests', () => {
    const a = signatureLayer(Buffer.from('payload a'), { 'dev.cosignproject.cosign/signature': 'sig-a' });
    const b = signatureLayer(Buffer.from('payload b'), { 'dev.cosignproject.cosign/signature': 'sig-b' });
    const first = signatureImage(a);
    const both = signatureImage(b, first.layers);
    const manifest = JSON.parse(both.manifest.toString()) as { config: { digest: string; size: number }; layers: { mediaType: string; digest: string }[] };
    expect(manifest.layers.map((l) => l.digest)).toEqual([digestOf(Buffer.from('payload a')), digestOf(Buffer.from('payload b'))]);
    expect(manifest.layers.every((l) => l.mediaType === 'application/vnd.dev.cosign.simplesigning.v1+json')).toBe(true);
    expect(manifest.config).toEqual({ mediaType: 'application/vnd.oci.image.config.v1+json', size: both.config.length, digest: digestOf(both.config) });
    expect(JSON.parse(both.config.toString())).toEqual({
      architecture: '', created: '0001-01-01T00:00:00Z',
      history: [{ created: '0001-01-01T00:00:00Z' }, { created: '0001-01-01T00:00:00Z' }],
      os: '', rootfs: { type: 'layers', diff_ids: manifest.layers.map((l) => l.digest) }, config: {},
    });
    // Descriptor fields in go-containerregistry's order, as cosign writes them.
    expect(Object.keys(manifest.layers[0] as object)).toEqual(['mediaType', 'size', 'digest', 'annotations']);
  });

  it('does not add the same signature twice, but keeps a second signature over the same payload', () => {
    const a = signatureLayer(Buffer.from('p'), { 'dev.cosignproject.cosign/signature': 'one' });
    const again = signatureImage(a, signatureImage(a).layers);
    expect(again.layers).toHaveLength(1);
    const other = signatureLayer(Buffer.from('p'), { 'dev.cosignproject.cosign/signature': 'two' });
    expect(signatureImage(other, again.layers).layers).toHaveLength(2);
  });

  it('reads the layers of a stored signature manifest and refuses what is not one', () => {
    const image = signatureImage(signatureLayer(Buffer.from('p'), { k: 'v' }));
    expect(signatureLayers(image.manifest, 'x')).toHaveLength(1);
    expect(() => signatureLayers(Buffer.from('nope'), 'repo:tag')).toThrow('repo:tag: signature manifest is not JSON');
    expect(() => signatureLayers(Buffer.from('{"manifests":[]}'), 'repo:tag')).toThrow('repo:tag: signature manifest has no layers');
  });
});
