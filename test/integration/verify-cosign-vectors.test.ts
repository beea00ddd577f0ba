// The cosign-made signatures of the reference corpus, served by a registry: each vector's manifest
// is pushed as an image and its signature as that image's sha256-<hex>.sig layer, exactly as cosign
// stores them, and `oci-tool verify --key` (the CLI, over HTTP) accepts the valid ones and refuses
// the others for their reason. The signed docker-reference names the host the vectors were made
// on, not this test registry, so the repository check is set aside with --match ignore; the
// repository rules are covered by the library-level vector tests.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { digestOf } from '../../src/image/digest.js';
import { openRepository } from '../../src/registry/open.js';
import { parseReference } from '../../src/registry/reference.js';
import { signatureImage, signatureLayer, signatureTag } from '../../src/sign/legacy-format.js';
import { runCli } from '../support/cli.js';
import { cosignIndex, cosignVector, rawText, type CosignVector } from '../support/cosign-vectors.js';
import { startDistributionServer, type DistributionServer } from '../support/distribution-server.js';

let work: string;
let server: DistributionServer;

/** Key-only vectors whose image has a manifest: the ones a registry can serve. */
const vectors = cosignIndex()
  .filter((e) => e.trust === 'publicKey' || e.trust === 'publicKey+rekor')
  .map((e) => cosignVector(e.file))
  .filter((v) => v.manifest !== null && v.rawManifestFile && !v.expect.includes('manifest digest'));

async function publish(repo: string, v: CosignVector): Promise<void> {
  const { repository, close } = await openRepository(parseReference(`${server.host}/${repo}`), {}, { push: true });
  try {
    // The corpus has the manifests but not the blobs they name, so the manifest goes straight into
    // the test registry's store (a real registry would refuse it); the signature goes through HTTP.
    const manifest = Buffer.from(v.manifest as string);
    const mediaType = (JSON.parse(v.manifest as string) as { mediaType: string }).mediaType;
    const stored = { blobs: new Set<string>(), manifests: new Map([[digestOf(manifest), { bytes: manifest, mediaType }]]), tags: new Map([['v1', digestOf(manifest)]]) };
    server.store.repos.set(repo, stored);
    const payload = Buffer.from(v.payloadBase64, 'base64');
    const layer = { ...signatureLayer(payload, { 'dev.cosignproject.cosign/signature': v.signature, ...v.annotations }), mediaType: v.mimeType };
    const image = signatureImage(layer);
    const config = JSON.parse(image.manifest.toString()) as { config: { digest: string; size: number; mediaType: string } };
    await repository.uploadBlob(layer, () => payload);
    await repository.uploadBlob(config.config, () => image.config);
    await repository.putManifest(signatureTag(digestOf(manifest)), image.manifest, 'application/vnd.oci.image.manifest.v1+json');
  } finally {
    await close();
  }
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'oci-tool-cosign-vectors-'));
  server = await startDistributionServer({ referrersApi: true });
  await writeFile(join(work, 'cosign.pub'), rawText('cosign.pub'));
  await writeFile(join(work, 'cosign2.pub'), rawText('cosign2.pub'));
  for (const [i, v] of vectors.entries()) await publish(`vectors/v${i}`, v);
});

afterAll(async () => {
  await server?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('oci-tool verify on cosign-made signatures in a registry', () => {
  it('covers the key vectors', () => {
    expect(vectors.map((v) => v.name)).toEqual(expect.arrayContaining([
      'dir-img-cosign-valid--signature-1', 'dir-img-cosign-modified-manifest--signature-1', 'dir-img-cosign-mixed--signature-1',
      'dir-img-cosign-key-rekor-valid--signature-1', 'dir-img-cosign-valid-with-tag--signature-1',
    ]));
  });

  for (const [i, v] of vectors.entries()) {
    it(`${v.name}: ${v.expect.slice(0, 60)}`, async () => {
      const key = v.publicKeyFile?.endsWith('cosign2.pub') ? 'cosign2.pub' : 'cosign.pub';
      const res = await runCli(['verify', '--key', join(work, key), '--match', 'ignore', '--format', 'legacy', '--json', `${server.host}/vectors/v${i}:v1`]);
      if (v.expect === 'valid') {
        expect(res.stderr).toBe('');
        expect(res.code).toBe(0);
        const out = JSON.parse(res.stdout) as { digest: string; verified: unknown[] };
        expect(out.digest).toBe(v.manifestDigest);
        expect(out.verified).toHaveLength(1);
      } else {
        expect(res.code).toBe(5);
        const reason = v.expect.includes('does not match') ? /signature is for digest sha256:634a8f35/
          : v.expect.includes('not a signature') ? /is not signed: .*\(1 non-signature attachment\)/
            : /does not verify with the given key/;
        expect(res.stderr.trim().split('\n')).toEqual([expect.stringMatching(reason)]);
      }
    });
  }
});
