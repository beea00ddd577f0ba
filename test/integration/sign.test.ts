// oci-tool sign and verify against Debian's docker-registry (no referrers API, so bundles go through
// the tag schema): the legacy signature matches cosign's layout field for field, both formats
// verify, and every way a signature can be wrong is refused with its reason and exit code 5.
import { createPublicKey, verify as verifySignature } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeImage } from '../../fixtures/build-image.js';
import { busybox } from '../../fixtures/images.js';
import { digestOf } from '../../src/image/digest.js';
import { openRepository } from '../../src/registry/open.js';
import { parseReference } from '../../src/registry/reference.js';
import { generateKeyPair } from '../../src/sign/keys.js';
import { runCli } from '../support/cli.js';
import { startRegistry, type RunningRegistry } from '../support/docker-registry.js';
import { pushLayout } from '../support/push.js';
import { REFERENCE_DIR } from '../support/reference.js';

const PASSWORD = 'correct horse';
let work: string;
let reg: RunningRegistry;
let keys: { key: string; pub: string; otherPub: string };
const env = () => ({ ...process.env, COSIGN_PASSWORD: PASSWORD });
const digests: Record<string, string> = {};

interface Manifest {
  mediaType: string;
  config: { mediaType: string; digest: string; size: number };
  layers: { mediaType: string; digest: string; size: number; annotations?: Record<string, string> }[];
}

async function registryGet(path: string, accept = 'application/vnd.oci.image.manifest.v1+json'): Promise<{ status: number; body: Buffer }> {
  const res = await fetch(`${reg.url}${path}`, { headers: { accept } });
  return { status: res.status, body: Buffer.from(await res.arrayBuffer()) };
}

const sigTag = (digest: string) => `sha256-${digest.slice(7)}.sig`;

async function pushImage(repository: string, tag: string, seed: number): Promise<string> {
  const src = join(work, `src-${repository.replace(/\//g, '_')}`);
  await writeImage(src, { layers: [{ entries: [{ path: `seed-${seed}`, content: `image ${seed}` }] }], config: { Cmd: ['sh'] } }, 'img');
  const desc = await pushLayout(src, { url: reg.url, repository, tag }, 'img');
  return desc.digest;
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'oci-tool-sign-'));
  reg = await startRegistry();
  const src = join(work, 'src');
  await writeImage(src, busybox(), 'busybox');
  digests.busybox = (await pushLayout(src, { url: reg.url, repository: 'library/busybox', tag: 'latest' }, 'busybox')).digest;
  digests.unsigned = await pushImage('team/unsigned', 'v1', 1);
  digests.other = await pushImage('team/other', 'v1', 2);
  digests.tamper = await pushImage('team/tamper', 'v1', 3);
  digests.never = await pushImage('team/never-signed', 'v1', 4);
  const pair = generateKeyPair(PASSWORD);
  const other = generateKeyPair(PASSWORD);
  keys = { key: join(work, 'cosign.key'), pub: join(work, 'cosign.pub'), otherPub: join(work, 'other.pub') };
  await writeFile(keys.key, pair.privateKeyPem);
  await writeFile(keys.pub, pair.publicKeyPem);
  await writeFile(keys.otherPub, other.publicKeyPem);
}, 60_000);

afterAll(async () => {
  await reg?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('sign --format legacy', () => {
  it('writes a .sig manifest shaped like cosign\'s, field for field', async () => {
    const ref = `${reg.host}/library/busybox:latest`;
    const res = await runCli(['sign', '--key', keys.key, '--format', 'legacy', ref], { env: env() });
    expect(res.stderr).toContain(`legacy signature at ${reg.host}/library/busybox:${sigTag(digests.busybox as string)}`);
    expect(res.code).toBe(0);

    const vector = JSON.parse(await readFile(join(REFERENCE_DIR, 'cosign', 'dir-img-cosign-valid--signature-1.json'), 'utf8')) as {
      mimeType: string; payload: string; dockerReference: string; manifestDigest: string; annotations: Record<string, string>;
    };
    const got = await registryGet(`/v2/library/busybox/manifests/${sigTag(digests.busybox as string)}`);
    expect(got.status).toBe(200);
    const manifest = JSON.parse(got.body.toString()) as Manifest & { schemaVersion: number };
    expect(Object.keys(manifest)).toEqual(['schemaVersion', 'mediaType', 'config', 'layers']);
    expect(manifest.mediaType).toBe('application/vnd.oci.image.manifest.v1+json');
    expect(manifest.config.mediaType).toBe('application/vnd.oci.image.config.v1+json');
    expect(manifest.layers).toHaveLength(1);
    const layer = manifest.layers[0] as Manifest['layers'][number];
    expect(layer.mediaType).toBe(vector.mimeType);
    // A key signature carries the signature annotation and nothing else, as in the vector.
    expect(Object.keys(layer.annotations ?? {})).toEqual(['dev.cosignproject.cosign/signature', ...Object.keys(vector.annotations)]);

    const payload = (await registryGet(`/v2/library/busybox/blobs/${layer.digest}`)).body;
    const expected = vector.payload
      .replace(vector.dockerReference, `${reg.host}/library/busybox`)
      .replace(vector.manifestDigest, digests.busybox as string);
    expect(payload.toString()).toBe(expected);
    expect(digestOf(payload)).toBe(layer.digest);
    const signature = Buffer.from(layer.annotations?.['dev.cosignproject.cosign/signature'] ?? '', 'base64');
    const pub = createPublicKey(await readFile(keys.pub, 'utf8'));
    expect(verifySignature('sha256', payload, pub, signature)).toBe(true);

    const config = JSON.parse((await registryGet(`/v2/library/busybox/blobs/${manifest.config.digest}`)).body.toString()) as { rootfs: { diff_ids: string[] } };
    expect(config.rootfs.diff_ids).toEqual([layer.digest]);
  });

  it('verifies with the public key; --json lists the signature', async () => {
    const res = await runCli(['verify', '--key', keys.pub, '--format', 'legacy', '--json', `${reg.host}/library/busybox:latest`]);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    const out = JSON.parse(res.stdout) as { digest: string; verified: { format: string; signer: { kind: string } }[] };
    expect(out.digest).toBe(digests.busybox);
    expect(out.verified).toEqual([expect.objectContaining({ format: 'legacy', signer: expect.objectContaining({ kind: 'key' }) })]);
  });

  it('appends a second signature instead of replacing the first', async () => {
    const second = join(work, 'second');
    const pair = generateKeyPair(PASSWORD);
    await writeFile(`${second}.key`, pair.privateKeyPem);
    await writeFile(`${second}.pub`, pair.publicKeyPem);
    const ref = `${reg.host}/library/busybox@${digests.busybox}`;
    expect((await runCli(['sign', '--key', `${second}.key`, '--format', 'legacy', '-q', ref], { env: env() })).code).toBe(0);
    const manifest = JSON.parse((await registryGet(`/v2/library/busybox/manifests/${sigTag(digests.busybox as string)}`)).body.toString()) as Manifest;
    expect(manifest.layers).toHaveLength(2);
    for (const pub of [keys.pub, `${second}.pub`]) {
      expect((await runCli(['verify', '--key', pub, '--format', 'legacy', '-q', ref])).code).toBe(0);
    }
  });
});

describe('sign --format bundle through the tag schema', () => {
  it('attaches a sigstore bundle that verify finds through the sha256-<hex> index', async () => {
    const ref = `${reg.host}/team/other:v1`;
    const res = await runCli(['sign', '--key', keys.key, '--format', 'bundle', '--json', ref], { env: env() });
    expect(res.code).toBe(0);
    const out = JSON.parse(res.stdout) as { signatures: { format: string; referrers: string; digest: string }[] };
    expect(out.signatures).toEqual([expect.objectContaining({ format: 'bundle', referrers: 'tag' })]);
    const index = JSON.parse((await registryGet(`/v2/team/other/manifests/sha256-${(digests.other as string).slice(7)}`, 'application/vnd.oci.image.index.v1+json')).body.toString()) as {
      manifests: { digest: string; artifactType: string; annotations: Record<string, string> }[];
    };
    expect(index.manifests).toEqual([expect.objectContaining({
      digest: out.signatures[0]?.digest,
      artifactType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
      annotations: expect.objectContaining({ 'dev.sigstore.bundle.predicateType': 'https://sigstore.dev/cosign/sign/v1' }),
    })]);
    const verified = await runCli(['verify', '--key', keys.pub, '--format', 'bundle', '--json', ref]);
    expect(verified.code).toBe(0);
    expect((JSON.parse(verified.stdout) as { verified: { format: string }[] }).verified.map((v) => v.format)).toEqual(['bundle']);
    // Nothing legacy was written.
    expect((await registryGet(`/v2/team/other/manifests/${sigTag(digests.other as string)}`)).status).toBe(404);
  });
});

describe('refusals', () => {
  it('an unsigned image: exit 5, "is not signed"', async () => {
    const res = await runCli(['verify', '--key', keys.pub, `${reg.host}/team/unsigned:v1`]);
    expect(res.code).toBe(5);
    expect(res.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^oci-tool: .*team\/unsigned@sha256:[0-9a-f]{64} is not signed/)]);
  });

  it('a signature by another key: exit 5', async () => {
    const res = await runCli(['verify', '--key', keys.otherPub, `${reg.host}/library/busybox:latest`]);
    expect(res.code).toBe(5);
    expect(res.stderr).toMatch(/does not verify/);
  });

  it('a signature for another digest, copied under this image\'s tag: exit 5 naming both digests', async () => {
    const sig = await registryGet(`/v2/library/busybox/manifests/${sigTag(digests.busybox as string)}`);
    const { repository, close } = await openRepository(parseReference(`${reg.host}/team/tamper`), {}, { push: true });
    try {
      const manifest = JSON.parse(sig.body.toString()) as Manifest;
      for (const d of [manifest.config, ...manifest.layers]) {
        const blob = (await registryGet(`/v2/library/busybox/blobs/${d.digest}`)).body;
        await repository.uploadBlob(d, () => blob);
      }
      await repository.putManifest(sigTag(digests.tamper as string), sig.body, manifest.mediaType);
    } finally {
      await close();
    }
    const res = await runCli(['verify', '--key', keys.pub, `${reg.host}/team/tamper:v1`]);
    expect(res.code).toBe(5);
    expect(res.stderr).toContain(digests.busybox);
    expect(res.stderr).toContain(digests.tamper);
  });

  it('a tampered payload or a tampered signature: exit 5', async () => {
    const ref = parseReference(`${reg.host}/team/unsigned`);
    const sign = await runCli(['sign', '--key', keys.key, '--format', 'legacy', '-q', `${reg.host}/team/unsigned:v1`], { env: env() });
    expect(sign.code).toBe(0);
    const tag = sigTag(digests.unsigned as string);
    const original = JSON.parse((await registryGet(`/v2/team/unsigned/manifests/${tag}`)).body.toString()) as Manifest;
    const layer = original.layers[0] as Manifest['layers'][number];
    const payload = (await registryGet(`/v2/team/unsigned/blobs/${layer.digest}`)).body;
    const { repository, close } = await openRepository(ref, {}, { push: true });
    try {
      // Same signature, payload changed by one claim.
      const changed = Buffer.from(payload.toString().replace('"optional":null', '"optional":{"creator":"mallory"}'));
      const changedLayer = { ...layer, digest: digestOf(changed), size: changed.length };
      await repository.uploadBlob(changedLayer, () => changed);
      await repository.putManifest(tag, Buffer.from(JSON.stringify({ ...original, layers: [changedLayer] })), original.mediaType);
      let res = await runCli(['verify', '--key', keys.pub, `${reg.host}/team/unsigned:v1`]);
      expect(res.code).toBe(5);
      expect(res.stderr).toMatch(/does not verify/);

      // Original payload, one bit of the signature flipped.
      const sig = Buffer.from(layer.annotations?.['dev.cosignproject.cosign/signature'] ?? '', 'base64');
      sig.writeUInt8((sig.at(-1) as number) ^ 1, sig.length - 1);
      const flipped = { ...layer, annotations: { 'dev.cosignproject.cosign/signature': sig.toString('base64') } };
      await repository.putManifest(tag, Buffer.from(JSON.stringify({ ...original, layers: [flipped] })), original.mediaType);
      res = await runCli(['verify', '--key', keys.pub, `${reg.host}/team/unsigned:v1`]);
      expect(res.code).toBe(5);
      expect(res.stderr).toMatch(/does not verify/);
    } finally {
      await repository.putManifest(tag, Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: original.mediaType, config: original.config, layers: [] })), original.mediaType).catch(() => {});
      await close();
    }
  });

  it('a wrong key password: exit 4, the password never printed', async () => {
    const res = await runCli(['sign', '--key', keys.key, `${reg.host}/team/other:v1`], { env: { ...process.env, COSIGN_PASSWORD: 'wrong horse' } });
    expect(res.code).toBe(4);
    expect(res.stderr.trim().split('\n')).toHaveLength(1);
    expect(res.stderr).not.toContain('wrong horse');
  });
});

describe('pull and unpack with a signature policy', () => {
  it('pull --verify-key of an unsigned image fails and leaves index.json unchanged', async () => {
    const layout = join(work, 'policy-layout');
    expect((await runCli(['pull', '-q', '--layout', layout, `${reg.host}/library/busybox:latest`])).code).toBe(0);
    const before = await readFile(join(layout, 'index.json'));
    const unsigned = await runCli(['pull', '-q', '--layout', layout, '--verify-key', keys.pub, `${reg.host}/team/never-signed:v1`]);
    expect(unsigned.code).toBe(5);
    expect(unsigned.stderr).toMatch(/policy \(scope default\) requires a signature: .*is not signed/);
    const otherKey = await runCli(['pull', '-q', '--layout', layout, '--verify-key', keys.otherPub, `${reg.host}/library/busybox:latest`]);
    expect(otherKey.code).toBe(5);
    expect(otherKey.stderr).toMatch(/does not verify/);
    expect(await readFile(join(layout, 'index.json'))).toEqual(before);
  });

  it('pull --verify-key of a signed image stores it; --policy scopes reject and sigstoreSigned', async () => {
    const layout = join(work, 'policy-layout-2');
    const ok = await runCli(['pull', '-q', '--json', '--layout', layout, '--verify-key', keys.pub, `${reg.host}/library/busybox:latest`]);
    expect(ok.code).toBe(0);
    expect((JSON.parse(ok.stdout) as { digest: string }).digest).toBe(digests.busybox);

    const policy = join(work, 'policy.json');
    await writeFile(policy, JSON.stringify({
      default: [{ type: 'reject' }],
      transports: { docker: { [`${reg.host}/library`]: [{ type: 'sigstoreSigned', keyPath: 'cosign.pub', signedIdentity: { type: 'matchRepository' } }] } },
    }));
    const allowed = await runCli(['pull', '-q', '--layout', layout, '--policy', policy, `${reg.host}/library/busybox:latest`]);
    expect(allowed.stderr).toBe('');
    expect(allowed.code).toBe(0);
    const rejected = await runCli(['pull', '-q', '--layout', layout, '--policy', policy, `${reg.host}/team/other:v1`]);
    expect(rejected.code).toBe(5);
    expect(rejected.stderr).toContain('rejected by policy (scope default)');
  });

  it('unpack --verify-key checks the registry even when the image is in the layout', async () => {
    const layout = join(work, 'policy-layout-3');
    expect((await runCli(['pull', '-q', '--layout', layout, `${reg.host}/team/other:v1`])).code).toBe(0);
    const res = await runCli(['unpack', '-q', '--layout', layout, '--verify-key', keys.otherPub, `${reg.host}/team/other:v1`, join(work, 'bundle-rejected')]);
    expect(res.code).toBe(5);
    const ok = await runCli(['unpack', '-q', '--layout', layout, '--verify-key', keys.pub, `${reg.host}/team/other:v1`, join(work, 'bundle-ok')]);
    expect(ok.stderr).toBe('');
    expect(ok.code).toBe(0);
  });
});
