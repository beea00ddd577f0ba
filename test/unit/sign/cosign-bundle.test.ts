// cosign's bundle format, signed with a local key and verified, and every way it must fail.
import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { digestOf } from '../../../src/image/digest.js';
import {
  BUNDLE_MEDIA_TYPE, bundleArtifact, checkStatement, COSIGN_SIGN_PREDICATE, cosignStatement, createBundle, verifyCosignBundle,
} from '../../../src/sign/cosign-bundle.js';
import { KeySigner, keyHint } from '../../../src/sign/key-signer.js';

const ec = () => generateKeyPairSync('ec', { namedCurve: 'P-256' });
const DIGEST = digestOf(Buffer.from('a manifest'));
const OTHER = digestOf(Buffer.from('another manifest'));

async function signed(key = ec().privateKey, digest = DIGEST): Promise<Buffer> {
  return createBundle(cosignStatement(digest), new KeySigner(key));
}

interface BundleJson {
  dsseEnvelope: { payload: string; signatures: { sig: string }[] };
  verificationMaterial: { publicKey?: unknown; certificate?: unknown };
}

/** Re-serializes a bundle after changing it. */
function edit(bytes: Buffer, change: (b: BundleJson) => void): Buffer {
  const b = JSON.parse(bytes.toString()) as BundleJson;
  change(b);
  return Buffer.from(JSON.stringify(b));
}

describe('cosign bundle format', () => {
  it('writes the statement cosign signs: in-toto v1, the digest as subject, the sign predicate', () => {
    expect(JSON.parse(cosignStatement(DIGEST).toString())).toEqual({
      _type: 'https://in-toto.io/Statement/v1',
      subject: [{ digest: { sha256: DIGEST.slice(7) } }],
      predicateType: COSIGN_SIGN_PREDICATE,
      predicate: {},
    });
  });

  it('makes a v0.3 bundle with a DSSE envelope and the key hint cosign uses', async () => {
    const { privateKey, publicKey } = ec();
    const b = JSON.parse((await signed(privateKey)).toString());
    expect(b.mediaType).toBe(BUNDLE_MEDIA_TYPE);
    expect(b.verificationMaterial.publicKey.hint).toBe(keyHint(publicKey));
    expect(b.dsseEnvelope.payloadType).toBe('application/vnd.in-toto+json');
    expect(Buffer.from(b.dsseEnvelope.payload, 'base64')).toEqual(cosignStatement(DIGEST));
    expect(b.dsseEnvelope.signatures).toHaveLength(1);
  });

  it('verifies with the signing key, and with any one of several keys', async () => {
    const { privateKey, publicKey } = ec();
    const bytes = await signed(privateKey);
    await expect(verifyCosignBundle(bytes, { publicKeys: [publicKey] }, DIGEST)).resolves.toMatchObject({ kind: 'key', tlogEntries: 0 });
    await expect(verifyCosignBundle(bytes, { publicKeys: [ec().publicKey, publicKey] }, DIGEST)).resolves.toMatchObject({ kind: 'key' });
  });

  it('signs and verifies with RSA and Ed25519 keys too', async () => {
    for (const pair of [generateKeyPairSync('rsa', { modulusLength: 2048 }), generateKeyPairSync('ed25519')]) {
      const bytes = await signed(pair.privateKey);
      await expect(verifyCosignBundle(bytes, { publicKeys: [pair.publicKey] }, DIGEST)).resolves.toMatchObject({ kind: 'key' });
    }
  });

  it('refuses another key, another digest, a tampered payload and a tampered signature', async () => {
    const { privateKey, publicKey } = ec();
    const bytes = await signed(privateKey);
    await expect(verifyCosignBundle(bytes, { publicKeys: [ec().publicKey] }, DIGEST)).rejects.toThrow(/does not verify with the given key/);
    await expect(verifyCosignBundle(bytes, { publicKeys: [publicKey] }, OTHER)).rejects.toThrow(`signature is for ${DIGEST}, not ${OTHER}`);
    const payload = edit(bytes, (b) => {
      b.dsseEnvelope.payload = cosignStatement(OTHER).toString('base64');
    });
    await expect(verifyCosignBundle(payload, { publicKeys: [publicKey] }, OTHER)).rejects.toThrow(/does not verify/);
    const sig = edit(bytes, (b) => {
      const first = b.dsseEnvelope.signatures[0] as { sig: string };
      const s = Buffer.from(first.sig, 'base64');
      s.writeUInt8((s.at(-1) as number) ^ 1, s.length - 1);
      first.sig = s.toString('base64');
    });
    await expect(verifyCosignBundle(sig, { publicKeys: [publicKey] }, DIGEST)).rejects.toThrow(/does not verify/);
  });

  it('refuses a keyed bundle without keys, a keyless one without a trusted root, and junk', async () => {
    const bytes = await signed();
    await expect(verifyCosignBundle(bytes, {}, DIGEST)).rejects.toMatchObject({ code: 'OCI_ERR_SIGNATURE', message: expect.stringMatching(/no public key was given/) });
    const keyless = edit(bytes, (b) => {
      delete b.verificationMaterial.publicKey;
      b.verificationMaterial.certificate = { rawBytes: Buffer.from('not a certificate').toString('base64') };
    });
    await expect(verifyCosignBundle(keyless, { publicKeys: [ec().publicKey] }, DIGEST)).rejects.toThrow(/needs a trusted root/);
    await expect(verifyCosignBundle(Buffer.from('{"mediaType":"x"}'), {}, DIGEST)).rejects.toThrow(/not a valid sigstore bundle/);
    await expect(verifyCosignBundle(Buffer.from('nope'), {}, DIGEST)).rejects.toThrow(/not a valid sigstore bundle/);
  });

  it('checks the statement: type, predicate and subject', () => {
    const statement = (s: object) => Buffer.from(JSON.stringify(s));
    const good = JSON.parse(cosignStatement(DIGEST).toString()) as Record<string, unknown>;
    expect(() => checkStatement(cosignStatement(DIGEST), DIGEST)).not.toThrow();
    expect(() => checkStatement(statement({ ...good, _type: 'x' }), DIGEST)).toThrow(/not an in-toto v1 statement/);
    expect(() => checkStatement(statement({ ...good, predicateType: 'https://slsa.dev/provenance/v1' }), DIGEST)).toThrow(/predicate type/);
    expect(() => checkStatement(statement({ ...good, subject: [] }), DIGEST)).toThrow(/for no digest/);
  });

  it('attaches the bundle as an artifact manifest with subject and cosign annotations', () => {
    const bundle = Buffer.from('{"bundle":true}');
    const subject = { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: DIGEST, size: 10 };
    const art = bundleArtifact(bundle, subject, new Date('2026-01-02T03:04:05.678Z'));
    expect(JSON.parse(art.manifest.toString())).toEqual({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      artifactType: BUNDLE_MEDIA_TYPE,
      config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a', size: 2 },
      layers: [{ mediaType: BUNDLE_MEDIA_TYPE, digest: digestOf(bundle), size: bundle.length }],
      subject,
      annotations: {
        'dev.sigstore.bundle.content': 'dsse-envelope',
        'dev.sigstore.bundle.predicateType': COSIGN_SIGN_PREDICATE,
        'org.opencontainers.image.created': '2026-01-02T03:04:05Z',
      },
    });
  });
});
