// Keyless signing and verification without the network: an injected Signer holding a test-PKI
// certificate (what FulcioSigner returns) and an injected Witness over a fake transparency log
// (what RekorWitness returns), then the real FulcioSigner and RekorWitness that keylessSigning()
// builds, talking to local fake Fulcio, Rekor and GitHub Actions OIDC servers. Signatures go through
// the in-process registry and are verified against a trusted root naming the test CAs and logs.
//
// What these tests cannot cover is the public-good instance itself: a real OIDC issuer, Fulcio's
// token checks, Rekor's API as deployed, RFC 3161 timestamp authorities, and fetching the trusted
// root over TUF (fetchTrustedRoot).
import { createHash, verify, X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { bundleToJSON } from '@sigstore/bundle';
import { MessageSignatureBundleBuilder, RekorWitness, TSAWitness } from '@sigstore/sign';
import { digestOf } from '../../../src/image/digest.js';
import { MANIFEST_MEDIA_TYPE } from '../../../src/image/media-types.js';
import { openRepository } from '../../../src/registry/open.js';
import { parseReference } from '../../../src/registry/reference.js';
import { BUNDLE_MEDIA_TYPE, cosignStatement, createBundle, verifyCosignBundle } from '../../../src/sign/cosign-bundle.js';
import { keylessSigning } from '../../../src/sign/keyless.js';
import { legacyAnnotationsFromBundle, legacyKeylessAnnotations } from '../../../src/sign/legacy-keyless.js';
import { verifyLegacySignature, type LegacySignature, type LegacyTrust } from '../../../src/sign/legacy-verify.js';
import { signImage } from '../../../src/sign/sign.js';
import {
  BUNDLE_ANNOTATION, CERTIFICATE_ANNOTATION, CHAIN_ANNOTATION, SIGNATURE_ANNOTATION, SIMPLE_SIGNING_MEDIA_TYPE, createPayload,
} from '../../../src/sign/simple-signing.js';
import { verifyImage } from '../../../src/sign/verify.js';
import { startDistributionServer, type DistributionServer } from '../../support/distribution-server.js';
import {
  canonicalize, certificateSigner, FakeRekorLog, logWitness, startFakeActionsOidc, startFakeFulcio, startFakeRekor, unsignedJwt,
  type FakeFulcio, type FakeRekor,
} from '../../support/fake-sigstore.js';
import { createTestPki, logIdOf, p256, TEST_ISSUER, type Certificate, type KeyPair, type TestPki } from '../../support/test-pki.js';

const EMAIL = 'dev@example.com';
const WORKFLOW = 'https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main';
const GITHUB_ISSUER = 'https://token.actions.githubusercontent.com';
const REPO = 'registry.example/team/app';
const DIGEST = digestOf(Buffer.from('a manifest'));
const OTHER_DIGEST = digestOf(Buffer.from('another manifest'));
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest();

let pki: TestPki;
let key: KeyPair;
let leaf: Certificate;
let server: DistributionServer;

beforeAll(async () => {
  pki = createTestPki();
  key = p256();
  leaf = pki.issueLeaf({ publicKey: key.publicKey, email: EMAIL });
  server = await startDistributionServer({ referrersApi: true });
});

afterAll(async () => {
  await server?.close();
});

/**
 * A fresh log per test, so entries and indexes do not depend on test order. Indexes start at 0, the
 * case proto3 JSON omits (a zero int64) and the SET annotation must still carry as 0.
 */
const newLog = (firstIndex = 0) => new FakeRekorLog(pki.rekor, 'rekor.test.example', firstIndex);

function fulcioTrust(over: Partial<NonNullable<LegacyTrust['fulcio']>> = {}, rekorPublicKeys = [pki.rekor.publicKey]): LegacyTrust {
  return { rekorPublicKeys, fulcio: { roots: [pki.root.pem, pki.intermediate.pem], subject: EMAIL, oidcIssuer: TEST_ISSUER, ...over } };
}

const legacySignature = (payload: Buffer, annotations: Record<string, string>): LegacySignature =>
  ({ payload, signature: '', annotations, mediaType: SIMPLE_SIGNING_MEDIA_TYPE });
const expectation = { manifestDigest: DIGEST, dockerReference: REPO };

interface SetAnnotation {
  SignedEntryTimestamp: string;
  Payload: { body: string; integratedTime: number; logIndex: number; logID: string };
}

/** Rewrites the Rekor SET annotation. */
function editSet(annotations: Record<string, string>, change: (set: SetAnnotation) => void): Record<string, string> {
  const set = JSON.parse(annotations[BUNDLE_ANNOTATION] as string) as SetAnnotation;
  change(set);
  return { ...annotations, [BUNDLE_ANNOTATION]: JSON.stringify(set) };
}

describe('legacy keyless signatures with an injected signer and Rekor witness', () => {
  it('writes the signature, the certificate and the Rekor SET cosign writes, from what the signer and witness return', async () => {
    const payload = createPayload(REPO, DIGEST, null);
    const signer = certificateSigner(key.privateKey, leaf);
    const log = newLog(4000);
    const witness = logWitness(log);
    const annotations = await legacyKeylessAnnotations(payload, signer, [witness]);

    // The payload bytes themselves are signed, and the witness sees the signature and the certificate.
    expect(signer.signed).toEqual([payload]);
    expect(witness.calls).toHaveLength(1);
    const call = witness.calls[0];
    expect(call?.publicKey).toBe(leaf.pem);
    expect(call?.content.$case).toBe('messageSignature');
    if (call?.content.$case !== 'messageSignature') return;
    expect(call.content.messageSignature.messageDigest?.digest).toEqual(sha256(payload));

    expect(Object.keys(annotations).sort()).toEqual([SIGNATURE_ANNOTATION, BUNDLE_ANNOTATION, CERTIFICATE_ANNOTATION].sort());
    const signature = Buffer.from(annotations[SIGNATURE_ANNOTATION] as string, 'base64');
    expect(signature).toEqual(call.content.messageSignature.signature);
    expect(verify('sha256', payload, key.publicKey, signature)).toBe(true);
    expect(annotations[CERTIFICATE_ANNOTATION]).toBe(leaf.pem);

    // The SET annotation: cosign's member order, the log's entry, the log ID in hex.
    const entry = log.entries[0];
    if (!entry) throw new Error('nothing was logged');
    expect(annotations[BUNDLE_ANNOTATION]).toBe(JSON.stringify({
      SignedEntryTimestamp: entry.signedEntryTimestamp.toString('base64'),
      Payload: { body: entry.body.toString('base64'), integratedTime: entry.integratedTime, logIndex: 4000, logID: logIdOf(pki.rekor.publicKey).toString('hex') },
    }));
    const set = JSON.parse(annotations[BUNDLE_ANNOTATION] as string) as SetAnnotation;
    expect(verify('sha256', Buffer.from(canonicalize(set.Payload)), pki.rekor.publicKey, Buffer.from(set.SignedEntryTimestamp, 'base64'))).toBe(true);
    expect(JSON.parse(Buffer.from(set.Payload.body, 'base64').toString())).toEqual({
      apiVersion: '0.0.1',
      kind: 'hashedrekord',
      spec: {
        data: { hash: { algorithm: 'sha256', value: sha256(payload).toString('hex') } },
        signature: { content: signature.toString('base64'), publicKey: { content: Buffer.from(leaf.pem).toString('base64') } },
      },
    });
  });

  it('verifies: the SET by the Rekor key, the path to the Fulcio CA at the logged time, identity, issuer, signature', async () => {
    const payload = createPayload(REPO, DIGEST, null);
    const log = newLog(7);
    const annotations = await legacyKeylessAnnotations(payload, certificateSigner(key.privateKey, leaf), [logWitness(log)]);
    const ok = verifyLegacySignature(legacySignature(payload, annotations), fulcioTrust(), expectation);
    expect(ok.signer).toEqual({ kind: 'fulcio', identity: EMAIL, issuer: TEST_ISSUER });
    expect(ok.integratedTime).toEqual(new Date((log.entries[0]?.integratedTime ?? 0) * 1000));
    expect(ok.payload.manifestDigest).toBe(DIGEST);
    // Any accepted form of the identity: e-mail, regexp, issuer regexp.
    expect(verifyLegacySignature(legacySignature(payload, annotations), fulcioTrust({ subject: undefined, subjectEmail: EMAIL }), expectation).signer.identity).toBe(EMAIL);
    expect(verifyLegacySignature(legacySignature(payload, annotations), fulcioTrust({ subject: undefined, subjectRegExp: /@example\.com$/, oidcIssuer: undefined, oidcIssuerRegExp: /^https:\/\/issuer\./ }), expectation).signer)
      .toEqual({ kind: 'fulcio', identity: EMAIL, issuer: TEST_ISSUER });
  });

  it('refuses another identity, another issuer, another Rekor key, a tampered SET and another payload, saying why', async () => {
    const payload = createPayload(REPO, DIGEST, null);
    const annotations = await legacyKeylessAnnotations(payload, certificateSigner(key.privateKey, leaf), [logWitness(newLog())]);
    const check = (a: Record<string, string>, trust: LegacyTrust, p = payload, expected = expectation) => () => verifyLegacySignature(legacySignature(p, a), trust, expected);

    expect(check(annotations, fulcioTrust({ subject: 'eve@example.com' }))).toThrow('certificate does not name "eve@example.com" (its names: "dev@example.com")');
    expect(check(annotations, fulcioTrust({ subject: undefined, subjectRegExp: /@acme\.example$/ }))).toThrow('no name of the certificate matches /@acme\\.example$/ (its names: "dev@example.com")');
    expect(check(annotations, fulcioTrust({ oidcIssuer: 'https://accounts.other.example' })))
      .toThrow('certificate was issued for OIDC issuer "https://issuer.example", not "https://accounts.other.example"');
    expect(check(annotations, fulcioTrust({}, [p256().publicKey]))).toThrow(/^Rekor SET is not signed by a configured Rekor key \(its log ID [0-9a-f]{64} names none of them\)$/);

    const badSet = editSet(annotations, (s) => {
      const sig = Buffer.from(s.SignedEntryTimestamp, 'base64');
      sig.writeUInt8((sig.at(-1) as number) ^ 1, sig.length - 1);
      s.SignedEntryTimestamp = sig.toString('base64');
    });
    expect(check(badSet, fulcioTrust())).toThrow(/^Rekor SET is not signed by a configured Rekor key \(its signature does not verify with the key of log [0-9a-f]{64}\)$/);
    const movedTime = editSet(annotations, (s) => {
      s.Payload.integratedTime += 1;
    });
    expect(check(movedTime, fulcioTrust())).toThrow(/its signature does not verify/);

    // The same annotations on a payload for another image: the SET names this payload's hash only.
    const other = createPayload(REPO, OTHER_DIGEST, null);
    expect(check(annotations, fulcioTrust(), other, { ...expectation, manifestDigest: OTHER_DIGEST })).toThrow(/^Rekor SET names a different payload \(sha256:[0-9a-f]{64}, not sha256:[0-9a-f]{64}\)$/);
    // A certificate swapped in after logging.
    const otherLeaf = pki.issueLeaf({ publicKey: key.publicKey, email: EMAIL });
    expect(check({ ...annotations, [CERTIFICATE_ANNOTATION]: otherLeaf.pem }, fulcioTrust())).toThrow('Rekor SET names a different public key or certificate than the signer');
    // Roots of another PKI.
    const stranger = createTestPki();
    expect(check(annotations, fulcioTrust({ roots: [stranger.root.pem, stranger.intermediate.pem] }))).toThrow(/^no valid certificate path to a trusted root$/);
    // A signature by another key under the same certificate and log entry.
    const forged = { ...annotations, [SIGNATURE_ANNOTATION]: (await certificateSigner(p256().privateKey, leaf).sign(payload)).signature.toString('base64') };
    expect(check(forged, fulcioTrust())).toThrow('Rekor SET names a different signature than the signature annotation');
  });

  it('checks the short-lived certificate at the time the log recorded, not now', async () => {
    const payload = createPayload(REPO, DIGEST, null);
    const late = newLog();
    late.now = () => Math.floor(Date.now() / 1000) + 3600; // logged an hour later: the leaf had expired
    const annotations = await legacyKeylessAnnotations(payload, certificateSigner(key.privateKey, leaf), [logWitness(late)]);
    expect(() => verifyLegacySignature(legacySignature(payload, annotations), fulcioTrust(), expectation)).toThrow(/^the certificate has expired at .* \(valid until .*\)$/);

    // A certificate that expired long ago still verifies when the log dated the signature inside its validity.
    const old = new Date(Date.now() - 30 * 24 * 3_600_000);
    const oldLeaf = pki.issueLeaf({ publicKey: key.publicKey, email: EMAIL, notBefore: old });
    const then = newLog();
    then.now = () => Math.floor(old.getTime() / 1000) + 120;
    const oldAnnotations = await legacyKeylessAnnotations(payload, certificateSigner(key.privateKey, oldLeaf), [logWitness(then)]);
    const ok = verifyLegacySignature(legacySignature(payload, oldAnnotations), fulcioTrust(), expectation);
    expect(ok.integratedTime?.getTime()).toBe((Math.floor(old.getTime() / 1000) + 120) * 1000);
  });

  it('reads both OIDC issuer extensions and URI identities, as GitHub Actions certificates carry', async () => {
    for (const issuerExtensions of ['v1', 'v2'] as const) {
      const ci = p256();
      const ciLeaf = pki.issueLeaf({ publicKey: ci.publicKey, uri: WORKFLOW, issuer: GITHUB_ISSUER, issuerExtensions });
      const payload = createPayload(REPO, DIGEST, { run: issuerExtensions });
      const annotations = await legacyKeylessAnnotations(payload, certificateSigner(ci.privateKey, ciLeaf), [logWitness(newLog())]);
      const trust = fulcioTrust({ subject: undefined, subjectRegExp: /^https:\/\/github\.com\/acme\/app\/\.github\/workflows\//, oidcIssuer: GITHUB_ISSUER });
      expect(verifyLegacySignature(legacySignature(payload, annotations), trust, expectation).signer).toEqual({ kind: 'fulcio', identity: WORKFLOW, issuer: GITHUB_ISSUER });
      expect(() => verifyLegacySignature(legacySignature(payload, annotations), fulcioTrust({ oidcIssuer: GITHUB_ISSUER }), expectation))
        .toThrow(`certificate does not name "dev@example.com" (its names: "${WORKFLOW}")`);
    }
  });

  it('writes the chain annotation when the bundle carries one, so a root alone is enough to verify', async () => {
    const payload = createPayload(REPO, DIGEST, null);
    const bundle = await new MessageSignatureBundleBuilder({ signer: certificateSigner(key.privateKey, leaf), witnesses: [logWitness(newLog())] }).create({ data: payload });
    const json = bundleToJSON(bundle) as { verificationMaterial: { x509CertificateChain: { certificates: { rawBytes: string }[] } } };
    json.verificationMaterial.x509CertificateChain.certificates.push({ rawBytes: pki.intermediate.der.toString('base64') });
    const annotations = legacyAnnotationsFromBundle(json as Parameters<typeof legacyAnnotationsFromBundle>[0]);
    expect(annotations[CERTIFICATE_ANNOTATION]).toBe(leaf.pem);
    expect(annotations[CHAIN_ANNOTATION]).toBe(pki.intermediate.pem);
    const rootOnly = fulcioTrust({ roots: [pki.root.pem] });
    expect(verifyLegacySignature(legacySignature(payload, annotations), rootOnly, expectation).signer.identity).toBe(EMAIL);
    // Without the chain the intermediate must be a configured root.
    const { [CHAIN_ANNOTATION]: _chain, ...withoutChain } = annotations;
    expect(() => verifyLegacySignature(legacySignature(payload, withoutChain), rootOnly, expectation)).toThrow('no valid certificate path to a trusted root');
  });

  it('refuses to write a keyless signature the log gave no SET for (as Rekor v2 entries have none)', async () => {
    const payload = createPayload(REPO, DIGEST, null);
    await expect(legacyKeylessAnnotations(payload, certificateSigner(key.privateKey, leaf), [logWitness(newLog(), { promise: false })]))
      .rejects.toMatchObject({ code: 'OCI_ERR_SIGNATURE', message: 'keyless signing returned no signature, certificate or transparency-log promise' });
  });
});

describe('keyless sigstore bundles with an injected signer and Rekor witness', () => {
  const identities = [{ subject: EMAIL, issuer: TEST_ISSUER }];

  it('makes a v0.3 bundle with the certificate and the dsse log entry, SET and inclusion proof', async () => {
    const signer = certificateSigner(key.privateKey, leaf);
    const witness = logWitness(newLog(12));
    const statement = cosignStatement(DIGEST);
    const b = JSON.parse((await createBundle(statement, signer, [witness])).toString()) as {
      mediaType: string;
      dsseEnvelope: { payload: string; payloadType: string; signatures: { sig: string }[] };
      verificationMaterial: {
        certificate?: { rawBytes: string }; publicKey?: unknown; x509CertificateChain?: unknown;
        tlogEntries: { logIndex: string; kindVersion: unknown; inclusionPromise?: unknown; inclusionProof?: { checkpoint: { envelope: string } } }[];
      };
    };
    expect(b.mediaType).toBe(BUNDLE_MEDIA_TYPE);
    expect(b.verificationMaterial.certificate?.rawBytes).toBe(leaf.der.toString('base64'));
    expect(b.verificationMaterial.publicKey).toBeUndefined();
    expect(b.verificationMaterial.x509CertificateChain).toBeUndefined();
    expect(b.verificationMaterial.tlogEntries).toHaveLength(1);
    expect(b.verificationMaterial.tlogEntries[0]).toMatchObject({ logIndex: '12', kindVersion: { kind: 'dsse', version: '0.0.1' }, inclusionPromise: expect.anything() });
    expect(b.verificationMaterial.tlogEntries[0]?.inclusionProof?.checkpoint.envelope).toMatch(/^rekor\.test\.example\n1\n/);
    expect(Buffer.from(b.dsseEnvelope.payload, 'base64')).toEqual(statement);
    // The signer signs DSSE's pre-authentication encoding; the witness sees the envelope and certificate.
    expect(signer.signed[0]?.toString()).toBe(`DSSEv1 ${'application/vnd.in-toto+json'.length} application/vnd.in-toto+json ${statement.length} ${statement.toString()}`);
    expect(witness.calls.map((c) => [c.content.$case, c.publicKey])).toEqual([['dsseEnvelope', leaf.pem]]);
  });

  it('verifies only with a trusted root and an accepted identity, and then passes offline with the test PKI', async () => {
    const bytes = await createBundle(cosignStatement(DIGEST), certificateSigner(key.privateKey, leaf), [logWitness(newLog())]);
    await expect(verifyCosignBundle(bytes, {}, DIGEST)).rejects.toMatchObject({
      code: 'OCI_ERR_SIGNATURE', message: 'bundle is signed with a certificate (keyless); verifying it needs a trusted root',
    });
    await expect(verifyCosignBundle(bytes, { publicKeys: [key.publicKey] }, DIGEST)).rejects.toThrow('verifying it needs a trusted root');
    await expect(verifyCosignBundle(bytes, { trustedRoot: pki.trustedRoot() }, DIGEST)).rejects.toMatchObject({
      code: 'OCI_ERR_SIGNATURE', message: 'keyless bundle: a certificate identity and OIDC issuer are required to verify it',
    });
    await expect(verifyCosignBundle(bytes, { trustedRoot: pki.trustedRoot(), identities }, DIGEST))
      .resolves.toEqual({ kind: 'certificate', identity: EMAIL, issuer: TEST_ISSUER, tlogEntries: 1, timestamps: 0 });
    await expect(verifyCosignBundle(bytes, { trustedRoot: pki.trustedRoot(), identities: [{ subjectRegExp: /^dev@/, issuerRegExp: /issuer\.example$/ }] }, DIGEST))
      .resolves.toMatchObject({ identity: EMAIL });
    await expect(verifyCosignBundle(bytes, { trustedRoot: pki.trustedRoot(), identities: [{ subject: 'eve@example.com', issuer: TEST_ISSUER }, { subject: EMAIL, issuer: GITHUB_ISSUER }] }, DIGEST))
      .rejects.toThrow('certificate identity "dev@example.com" (issuer "https://issuer.example") is not among the accepted identities');
    await expect(verifyCosignBundle(bytes, { trustedRoot: pki.trustedRoot(), identities }, OTHER_DIGEST)).rejects.toThrow(`signature is for ${DIGEST}, not ${OTHER_DIGEST}`);
  });

  it('says what @sigstore/verify refuses: a leaf without an SCT, an unknown CT log, Rekor key or CA, a log entry without inclusion proof', async () => {
    const statement = cosignStatement(DIGEST);
    const trustedRoot = pki.trustedRoot();
    const refused = (bytes: Buffer, root: unknown = trustedRoot) => verifyCosignBundle(bytes, { trustedRoot: root, identities }, DIGEST);
    const signed = await createBundle(statement, certificateSigner(key.privateKey, leaf), [logWitness(newLog())]);

    // ctlogThreshold 1: a certificate needs an SCT from a CT log of the trusted root.
    const noSct = pki.issueLeaf({ publicKey: key.publicKey, email: EMAIL, sct: false });
    await expect(refused(await createBundle(statement, certificateSigner(key.privateKey, noSct), [logWitness(newLog())])))
      .rejects.toThrow('bundle does not verify against the trusted root (expected 1 SCTs, got 0)');
    await expect(refused(signed, pki.trustedRoot({ ctlogKeys: [p256().publicKey] }))).rejects.toThrow('bundle does not verify against the trusted root (SCT verification failed)');
    await expect(refused(signed, pki.trustedRoot({ rekorKeys: [p256().publicKey] }))).rejects.toThrow('bundle does not verify against the trusted root (inclusion promise could not be verified)');
    const stranger = createTestPki();
    await expect(refused(signed, stranger.trustedRoot({ rekorKeys: [pki.rekor.publicKey], ctlogKeys: [pki.ctlog.publicKey] })))
      .rejects.toThrow('bundle does not verify against the trusted root (Failed to verify certificate chain)');
    // The checkpoint names its log, and sigstore-js looks for that name in the trusted root's baseUrl.
    await expect(refused(signed, pki.trustedRoot({ rekorBaseUrl: 'https://rekor.elsewhere.example' }))).rejects.toThrow('bundle does not verify against the trusted root (invalid checkpoint signature)');
    // The log's key was not valid yet when the entry was integrated.
    await expect(refused(signed, pki.trustedRoot({ tlogValidFor: { start: new Date(Date.now() + 3_600_000) } }))).rejects.toThrow('inclusion promise could not be verified');
    // A v0.3 bundle must carry inclusion proofs: a log that only promises (a SET) is not enough.
    const promiseOnly = await createBundle(statement, certificateSigner(key.privateKey, leaf), [logWitness(newLog(), { proof: false })]);
    await expect(refused(promiseOnly)).rejects.toThrow(/^not a valid sigstore bundle: invalid bundle/);
    // No witness at all: no log entry, no timestamp.
    const unwitnessed = await createBundle(statement, certificateSigner(key.privateKey, leaf), []);
    await expect(refused(unwitnessed)).rejects.toThrow('bundle does not verify against the trusted root (expected 1 timestamps, got 0)');
  });
});

// ---------------------------------------------------------------------------------------------
// Through a registry

/** Pushes a small image under repository:tag and returns its manifest digest. */
async function pushImage(repository: string, tag: string): Promise<string> {
  const ref = parseReference(`${server.host}/${repository}:${tag}`);
  const { repository: repo, close } = await openRepository(ref, {}, { push: true });
  try {
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, config: {} }));
    const layer = Buffer.from(`layer of ${repository}`);
    const configDesc = { mediaType: 'application/vnd.oci.image.config.v1+json', digest: digestOf(config), size: config.length };
    const layerDesc = { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: digestOf(layer), size: layer.length };
    await repo.uploadBlob(configDesc, () => config);
    await repo.uploadBlob(layerDesc, () => layer);
    const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MANIFEST_MEDIA_TYPE, config: configDesc, layers: [layerDesc] }));
    return (await repo.putManifest(tag, manifest, MANIFEST_MEDIA_TYPE)).digest;
  } finally {
    await close();
  }
}

/** The annotations of the legacy signature layers stored under the digest's .sig tag. */
function storedSignatureAnnotations(repository: string, digest: string): Record<string, string>[] {
  const repo = server.store.repos.get(repository);
  const manifestDigest = repo?.tags.get(`sha256-${digest.slice(7)}.sig`);
  const manifest = manifestDigest ? repo?.manifests.get(manifestDigest) : undefined;
  if (!manifest) return [];
  return (JSON.parse(manifest.bytes.toString()) as { layers: { annotations?: Record<string, string> }[] }).layers.map((l) => l.annotations ?? {});
}

describe('keyless sign and verify through the registry', () => {
  it('signImage with an injected signer and witness writes a legacy signature that verifyImage accepts with the trusted root', async () => {
    const digest = await pushImage('team/injected', 'v1');
    const ref = `${server.host}/team/injected:v1`;
    const log = newLog(100);
    const signed = await signImage(ref, { signer: certificateSigner(key.privateKey, leaf), witnesses: [logWitness(log)], format: 'legacy' });
    expect(signed.digest).toBe(digest);
    expect(signed.signatures).toEqual([{ format: 'legacy', location: `${server.host}/team/injected:sha256-${digest.slice(7)}.sig`, digest: expect.stringMatching(/^sha256:/) }]);
    const stored = storedSignatureAnnotations('team/injected', digest);
    expect(stored).toHaveLength(1);
    expect(Object.keys(stored[0] ?? {}).sort()).toEqual([BUNDLE_ANNOTATION, CERTIFICATE_ANNOTATION, SIGNATURE_ANNOTATION].sort());

    const trustedRoot = pki.trustedRoot();
    const verified = await verifyImage(ref, { trustedRoot, identities: [{ subject: EMAIL, issuer: TEST_ISSUER }], formats: ['legacy'] });
    expect(verified.digest).toBe(digest);
    expect(verified.rejected).toEqual([]);
    expect(verified.verified).toEqual([{
      format: 'legacy',
      source: `${server.host}/team/injected:sha256-${digest.slice(7)}.sig layer 1`,
      signer: { kind: 'fulcio', identity: EMAIL, issuer: TEST_ISSUER },
      integratedTime: new Date((log.entries[0]?.integratedTime ?? 0) * 1000).toISOString(),
    }]);

    await expect(verifyImage(ref, { trustedRoot, identities: [{ subject: 'eve@example.com', issuer: TEST_ISSUER }], formats: ['legacy'] })).rejects.toMatchObject({
      code: 'OCI_ERR_SIGNATURE',
      message: `${server.host}/team/injected@${digest}: none of 1 signature verifies; ${server.host}/team/injected:sha256-${digest.slice(7)}.sig layer 1: certificate does not name "eve@example.com" (its names: "dev@example.com")`,
    });
    await expect(verifyImage(ref, { trustedRoot, identities: [{ subject: EMAIL, issuer: GITHUB_ISSUER }], formats: ['legacy'] }))
      .rejects.toThrow('certificate was issued for OIDC issuer "https://issuer.example", not "https://token.actions.githubusercontent.com"');
    await expect(verifyImage(ref, { trustedRoot: pki.trustedRoot({ rekorKeys: [p256().publicKey] }), identities: [{ subject: EMAIL, issuer: TEST_ISSUER }], formats: ['legacy'] }))
      .rejects.toThrow(/Rekor SET is not signed by a configured Rekor key/);
    // Keys and CAs count only within their validity windows, at the time the log recorded the entry.
    const logged = new Date((log.entries[0]?.integratedTime ?? 0) * 1000);
    const later = { start: new Date(logged.getTime() + 1000) };
    for (const root of [pki.trustedRoot({ tlogValidFor: later }), pki.trustedRoot({ caValidFor: later })]) {
      await expect(verifyImage(ref, { trustedRoot: root, identities: [{ subject: EMAIL, issuer: TEST_ISSUER }], formats: ['legacy'] }))
        .rejects.toThrow(`was not valid at its log time ${logged.toISOString()}`);
    }
    // A trusted root without identities verifies nothing keyless.
    await expect(verifyImage(ref, { trustedRoot, formats: ['legacy'] })).rejects.toMatchObject({ code: 'OCI_ERR_USAGE' });
  });

  it('format both: the legacy signature and the bundle referrer both verify, each reporting the identity', async () => {
    const digest = await pushImage('team/both', 'v1');
    const ref = `${server.host}/team/both:v1`;
    const signed = await signImage(ref, { signer: certificateSigner(key.privateKey, leaf), witnesses: [logWitness(newLog())], format: 'both' });
    expect(signed.signatures.map((s) => [s.format, s.referrers])).toEqual([['legacy', undefined], ['bundle', 'api']]);
    const verified = await verifyImage(ref, { trustedRoot: pki.trustedRoot(), identities: [{ subject: EMAIL, issuer: TEST_ISSUER }] });
    expect(verified.digest).toBe(digest);
    expect(verified.verified.map((v) => [v.format, v.signer])).toEqual([
      ['legacy', { kind: 'fulcio', identity: EMAIL, issuer: TEST_ISSUER }],
      ['bundle', { kind: 'certificate', identity: EMAIL, issuer: TEST_ISSUER }],
    ]);
    const wrong = await verifyImage(ref, { trustedRoot: pki.trustedRoot(), identities: [{ subject: 'eve@example.com', issuer: TEST_ISSUER }] }).catch((e: unknown) => e);
    expect(wrong).toMatchObject({ code: 'OCI_ERR_SIGNATURE', message: expect.stringMatching(/none of 2 signatures verifies; .*certificate does not name "eve@example\.com"/) });
  });
});

// ---------------------------------------------------------------------------------------------
// keylessSigning(): the real FulcioSigner and RekorWitness against local fakes

describe('keylessSigning against local Fulcio and Rekor', () => {
  let fulcio: FakeFulcio;
  let rekor: FakeRekor;
  let rekorLog: FakeRekorLog;

  beforeAll(async () => {
    fulcio = await startFakeFulcio(pki, { issuers: [TEST_ISSUER, GITHUB_ISSUER] });
    // The checkpoint names the log by host; sigstore-js matches that name against the trusted root's baseUrl.
    rekorLog = new FakeRekorLog(pki.rekor, '127.0.0.1', 50);
    rekor = await startFakeRekor(rekorLog);
  });

  afterAll(async () => {
    await fulcio?.close();
    await rekor?.close();
  });

  const emailToken = () => unsignedJwt({ iss: TEST_ISSUER, sub: 'user-1234', email: EMAIL, email_verified: true, aud: 'sigstore' });

  it('the identity token reaches Fulcio, both formats are logged in Rekor, and verifyImage accepts both', async () => {
    const digest = await pushImage('team/keyless', 'v1');
    const ref = `${server.host}/team/keyless:v1`;
    const token = emailToken();
    fulcio.requests.length = 0;
    rekor.requests.length = 0;
    const { signer, witnesses } = await keylessSigning({ identityToken: token, fulcioURL: fulcio.url, rekorURL: rekor.url });
    expect(witnesses).toHaveLength(1);
    expect(witnesses[0]).toBeInstanceOf(RekorWitness);

    const signed = await signImage(ref, { signer, witnesses, format: 'both' });
    expect(signed.signatures.map((s) => s.format)).toEqual(['legacy', 'bundle']);
    // FulcioSigner gets a certificate for every signature: one per format, each with the token.
    expect(fulcio.requests.map((r) => [r.path, r.token])).toEqual([['/api/v2/signingCert', token], ['/api/v2/signingCert', token]]);
    expect(rekor.requests.map((r) => (r.proposedEntry as { kind: string }).kind)).toEqual(['hashedrekord', 'dsse']);
    const [legacyLayer] = storedSignatureAnnotations('team/keyless', digest);
    const legacyCert = fulcio.requests[0]?.certificate;
    expect(legacyLayer?.[CERTIFICATE_ANNOTATION]).toBe(legacyCert?.pem);
    expect(new X509Certificate(legacyLayer?.[CERTIFICATE_ANNOTATION] ?? '').publicKey.export({ type: 'spki', format: 'pem' })).toBe(fulcio.requests[0]?.publicKeyPem);

    const trustedRoot = pki.trustedRoot({ rekorBaseUrl: rekor.url });
    const verified = await verifyImage(ref, { trustedRoot, identities: [{ subject: EMAIL, issuer: TEST_ISSUER }] });
    expect(verified.verified.map((v) => [v.format, v.signer.identity, v.signer.issuer])).toEqual([
      ['legacy', EMAIL, TEST_ISSUER],
      ['bundle', EMAIL, TEST_ISSUER],
    ]);
    await expect(verifyImage(ref, { trustedRoot, identities: [{ subject: 'eve@example.com', issuer: TEST_ISSUER }] })).rejects.toMatchObject({ code: 'OCI_ERR_SIGNATURE' });
  });

  it('takes the token from env.SIGSTORE_ID_TOKEN', async () => {
    const token = emailToken();
    fulcio.requests.length = 0;
    const { signer } = await keylessSigning({ env: { SIGSTORE_ID_TOKEN: token }, fulcioURL: fulcio.url, rekorURL: rekor.url });
    const sig = await signer.sign(Buffer.from('data'));
    expect(sig.key.$case).toBe('x509Certificate');
    expect(fulcio.requests.map((r) => r.token)).toEqual([token]);
  });

  it('without a token, asks the CI provider: a GitHub Actions ID token for audience sigstore, and a workflow identity', async () => {
    const ghToken = unsignedJwt({ iss: GITHUB_ISSUER, sub: 'repo:acme/app:ref:refs/heads/main', job_workflow_ref: 'acme/app/.github/workflows/release.yml@refs/heads/main', aud: 'sigstore' });
    const oidc = await startFakeActionsOidc(ghToken, 'actions-request-token');
    vi.stubEnv('ACTIONS_ID_TOKEN_REQUEST_URL', `${oidc.url}/token?api-version=2.0`);
    vi.stubEnv('ACTIONS_ID_TOKEN_REQUEST_TOKEN', 'actions-request-token');
    vi.stubEnv('SIGSTORE_ID_TOKEN', '');
    try {
      const digest = await pushImage('team/ci', 'v1');
      const ref = `${server.host}/team/ci:v1`;
      fulcio.requests.length = 0;
      const { signer, witnesses } = await keylessSigning({ env: {}, fulcioURL: fulcio.url, rekorURL: rekor.url });
      await signImage(ref, { signer, witnesses, format: 'legacy' });
      expect(oidc.requests).toEqual([{ audience: 'sigstore', authorization: 'Bearer actions-request-token' }]);
      expect(fulcio.requests.map((r) => r.token)).toEqual([ghToken]);
      const verified = await verifyImage(ref, {
        trustedRoot: pki.trustedRoot({ rekorBaseUrl: rekor.url }),
        identities: [{ subjectRegExp: /^https:\/\/github\.com\/acme\/app\/\.github\/workflows\/release\.yml@refs\/heads\/main$/, issuer: GITHUB_ISSUER }],
      });
      expect(verified.digest).toBe(digest);
      expect(verified.verified.map((v) => v.signer)).toEqual([{ kind: 'fulcio', identity: WORKFLOW, issuer: GITHUB_ISSUER }]);
    } finally {
      vi.unstubAllEnvs();
      await oidc.close();
    }
  });

  it('adds a TSA witness only when asked; a token that is not a JWT, or an unverified e-mail, never reaches Fulcio', async () => {
    const withTsa = await keylessSigning({ identityToken: emailToken(), fulcioURL: fulcio.url, rekorURL: rekor.url, tsaURL: 'http://127.0.0.1:9' });
    expect(withTsa.witnesses.map((w) => w.constructor)).toEqual([RekorWitness, TSAWitness]);

    fulcio.requests.length = 0;
    // FulcioSigner proves possession of the key by signing the token's e-mail (which must be verified) or subject claim.
    const notJwt = await keylessSigning({ identityToken: 'tok', fulcioURL: fulcio.url, rekorURL: rekor.url });
    await expect(notJwt.signer.sign(Buffer.from('data'))).rejects.toMatchObject({ code: 'IDENTITY_TOKEN_PARSE_ERROR' });
    const unverified = await keylessSigning({ identityToken: unsignedJwt({ iss: TEST_ISSUER, sub: 'x', email: EMAIL, email_verified: false }), fulcioURL: fulcio.url, rekorURL: rekor.url });
    await expect(unverified.signer.sign(Buffer.from('data'))).rejects.toMatchObject({ code: 'IDENTITY_TOKEN_PARSE_ERROR' });
    expect(fulcio.requests).toEqual([]);
  });

  it('a certificate Fulcio refuses fails the signing, and nothing is pushed or logged', async () => {
    const digest = await pushImage('team/refused', 'v1');
    fulcio.requests.length = 0;
    rekor.requests.length = 0;
    const token = unsignedJwt({ iss: 'https://unknown-issuer.example', sub: 'x', email: EMAIL, email_verified: true });
    const { signer, witnesses } = await keylessSigning({ identityToken: token, fulcioURL: fulcio.url, rekorURL: rekor.url });
    const failure = await signImage(`${server.host}/team/refused:v1`, { signer, witnesses, format: 'both' }).then(() => undefined, (e: unknown) => e);
    expect(failure).toBeInstanceOf(Error);
    expect(fulcio.requests.map((r) => r.token)).toEqual([token]);
    expect(rekor.requests).toEqual([]);
    expect(storedSignatureAnnotations('team/refused', digest)).toEqual([]);
    expect([...(server.store.repos.get('team/refused')?.tags.keys() ?? [])]).toEqual(['v1']);
  });
});
