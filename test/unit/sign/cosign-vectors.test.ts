// Every vector of ../shared/reference/cosign (containers/image's cosign fixtures) and every one of its
// `cases`, run through the legacy verifier; rejections are checked against the reason the vector names.
import { createHash, type KeyObject } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { isOciToolError, type ErrorCode } from '../../../src/errors.js';
import { verifyCertificateChain } from '../../../src/sign/certificates.js';
import {
  manifestDigestForSignature,
  verifyImageSignatures,
  verifyLegacySignature,
  verifyLegacySigner,
  type LegacyExpectation,
  type LegacySignature,
  type LegacyTrust,
} from '../../../src/sign/legacy-verify.js';
import {
  BUNDLE_ANNOTATION,
  CERTIFICATE_ANNOTATION,
  CHAIN_ANNOTATION,
  SIGNATURE_ANNOTATION,
  parsePayload,
} from '../../../src/sign/simple-signing.js';
import {
  cosignIndex,
  cosignVector,
  rawBytes,
  rawKey,
  rawText,
  readSignatureFile,
  type CosignCase,
  type CosignVector,
} from '../../support/cosign-vectors.js';

/** One evaluation: the signature as stored, the trust, and what the image is. */
interface Setup {
  payload: Buffer;
  mediaType: string;
  /** All annotations, the signature included. */
  annotations: Record<string, string>;
  trust: LegacyTrust;
  manifest: Buffer | null;
  dockerReference?: string;
  identityPolicy?: LegacyExpectation['identityPolicy'];
}

// The reason our verifier gives for each kind of upstream rejection text.
const REASONS: [RegExp, (m: RegExpExecArray) => string, ErrorCode?][] = [
  [/^invalid: missing (\S+) annotation/, (m) => `missing ${m[1]} annotation`],
  [/Fulcio CA specified without a Rekor public key/, () => 'Fulcio trust requires Rekor public keys', 'OCI_ERR_BAD_KEY'],
  [/cryptographic signature verification failed/, () => 'signature does not verify with'],
  [/Signature for digest (\S+) does not match/, (m) => `signature is for digest ${m[1]}, not sha256:`],
  [/Signature for identity "([^"]+)" is not accepted/, (m) => `signature names ${m[1]}`],
  [/carry an untagged reference, which matchExact rejects/, () => 'without a tag or digest, which matchExact does not accept'],
  [/^invalid: not a signature \(mimeType text\/plain/, () => 'not a signature (media type text/plain)'],
  [/error computing the manifest digest/, () => 'cannot compute the manifest digest: schema1 manifest with malformed signatures'],
  [/error reading the image manifest/, () => 'no image manifest to check the signature against'],
  [/the Rekor SET cannot be parsed/, () => 'Rekor SET cannot be parsed'],
  [/No public key verified against the RekorSET|the SET does not verify \(wrong Rekor key\)/, () => 'Rekor SET is not signed by a configured Rekor key'],
  [/signature in Rekor SET does not match/, () => 'Rekor SET names a different signature'],
  [/the Rekor SET does not match the payload/, () => 'Rekor SET names a different payload'],
  [/no path from the leaf certificate to the trusted|no path to the CA/, () => 'no valid certificate path to a trusted root'],
  [/the certificate cannot be parsed/, () => `the ${CERTIFICATE_ANNOTATION} annotation cannot be parsed: not PEM`],
  [/the certificate subject email does not match/, () => 'certificate does not name e-mail "this-does-not-match@example.com"'],
  [/the certificate is not yet valid/, () => 'the certificate is not yet valid at'],
  [/the certificate has expired/, () => 'the certificate has expired at'],
];

function reasonFor(expectText: string): { fragment: string; code: ErrorCode } {
  for (const [re, fragment, code] of REASONS) {
    const m = re.exec(expectText);
    if (m) return { fragment: fragment(m), code: code ?? 'OCI_ERR_SIGNATURE' };
  }
  throw new Error(`no reason mapped for ${JSON.stringify(expectText)}`);
}

function expectOutcome(expectText: string, run: () => unknown): void {
  if (/^valid\b/.test(expectText)) {
    expect(run).not.toThrow();
    return;
  }
  expect(expectText).toMatch(/^invalid: /);
  const { fragment, code } = reasonFor(expectText);
  let caught: unknown;
  try {
    run();
  } catch (e) {
    caught = e;
  }
  expect(isOciToolError(caught), `expected a rejection, got ${String(caught)}`).toBe(true);
  const err = caught as Error & { code: ErrorCode };
  expect(err.message).toContain(fragment);
  expect(err.code).toBe(code);
  expect(err.message).not.toContain('\n');
}

const pems = (text: string) => text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----\n?/g) ?? [];

function baseTrust(v: CosignVector): LegacyTrust {
  switch (v.trust) {
    case 'publicKey':
      return { publicKeys: [rawKey(v.publicKeyFile as string)] };
    case 'publicKey+rekor':
      return { publicKeys: [rawKey(v.publicKeyFile as string)], rekorPublicKeys: [rawKey('rekor.pub')] };
    case 'fulcio+rekor': {
      const f = v.fulcio as NonNullable<CosignVector['fulcio']>;
      return { rekorPublicKeys: [rawKey('rekor.pub')], fulcio: { roots: [f.caCertificates], subjectEmail: f.subjectEmail, oidcIssuer: f.oidcIssuer } };
    }
    case 'pki': {
      const p = v.pki as NonNullable<CosignVector['pki']>;
      return { pki: { roots: [p.caRoots], intermediates: [p.caIntermediates], subjectEmail: p.subjectEmail, subjectHostname: p.subjectHostname } };
    }
  }
}

/** The stored signature: from the raw signature-N file, checked against the vector's decoded fields. */
function storedSignature(v: CosignVector): { payload: Buffer; mediaType: string; annotations: Record<string, string> } {
  if (v.rawFiles) {
    const f = v.rawFiles as Record<string, string>;
    return {
      payload: rawBytes(f.payload as string),
      mediaType: v.mimeType,
      annotations: {
        [SIGNATURE_ANNOTATION]: rawText(f.signature as string),
        [CERTIFICATE_ANNOTATION]: rawText(f.certificate as string),
        [CHAIN_ANNOTATION]: rawText(f.chain as string),
        [BUNDLE_ANNOTATION]: rawText(f.set as string),
      },
    };
  }
  const raw = readSignatureFile(v.rawSignatureFile as string);
  return { payload: raw.payload, mediaType: raw.mimeType, annotations: raw.annotations };
}

function manifestOf(v: CosignVector): Buffer | null {
  if (v.rawManifestFile) return rawBytes(v.rawManifestFile);
  // This standalone signature has no image; upstream pairs it with dir-img-cosign-valid's manifest.
  if (v.name === 'unknown-cosign-key.signature') return rawBytes('raw/dir-img-cosign-valid/manifest.json');
  return null;
}

function baseSetup(v: CosignVector): Setup {
  const stored = storedSignature(v);
  return {
    ...stored,
    trust: baseTrust(v),
    manifest: manifestOf(v),
    ...(v.dockerReference !== null ? { dockerReference: v.dockerReference } : {}),
    ...(v.identityPolicy !== null ? { identityPolicy: v.identityPolicy } : {}),
  };
}

function signatureOf(s: Setup): LegacySignature {
  return { payload: s.payload, signature: s.annotations[SIGNATURE_ANNOTATION] ?? '', annotations: s.annotations, mediaType: s.mediaType };
}

function evaluate(s: Setup) {
  // The caller's side: the digest to verify against comes from the manifest it read.
  const manifestDigest = manifestDigestForSignature(s.manifest);
  return verifyLegacySignature(signatureOf(s), s.trust, {
    manifestDigest,
    ...(s.dockerReference !== undefined ? { dockerReference: s.dockerReference } : {}),
    ...(s.identityPolicy !== undefined ? { identityPolicy: s.identityPolicy } : {}),
  });
}

function applyCase(v: CosignVector, c: CosignCase): Setup {
  const s = baseSetup(v);
  const trust: LegacyTrust = { ...s.trust };
  if (c.publicKeys) trust.publicKeys = c.publicKeys.map(rawKey);
  if ('rekorPublicKeys' in c) {
    if (c.rekorPublicKeys === null) delete trust.rekorPublicKeys;
    else trust.rekorPublicKeys = (c.rekorPublicKeys as string[]).map(rawKey);
  }
  if (c.fulcio !== undefined) {
    const f = { ...(trust.fulcio as NonNullable<LegacyTrust['fulcio']>) };
    const email = /^subjectEmail (\S+)$/.exec(c.fulcio);
    if (email) f.subjectEmail = email[1] as string;
    else if (c.fulcio.startsWith('CA = the PEM in the dev.sigstore.cosign/chain annotation')) f.roots = pems(s.annotations[CHAIN_ANNOTATION] as string);
    else expect(c.fulcio).toBe('as above');
    trust.fulcio = f;
  }
  if (c.pki !== undefined) {
    const p = v.pki as NonNullable<CosignVector['pki']>;
    expect(c.pki).toMatch(/^(roots|as above)/);
    const withIntermediates = c.pki === 'as above' || c.pki.includes('intermediates');
    trust.pki = { roots: [p.caRoots], ...(withIntermediates ? { intermediates: [p.caIntermediates] } : {}), subjectEmail: p.subjectEmail, subjectHostname: p.subjectHostname };
  }
  s.trust = trust;
  if (c.dockerReference !== undefined) s.dockerReference = c.dockerReference;
  if (c.identityPolicy !== undefined) {
    // prmExactReference: the signed reference must equal the one the policy names.
    const exact = /^exactReference (\S+)$/.exec(c.identityPolicy);
    if (exact) {
      s.dockerReference = exact[1] as string;
      s.identityPolicy = 'matchExact';
    } else {
      s.identityPolicy = c.identityPolicy as Setup['identityPolicy'];
    }
  }
  // An override replaces the annotations it names; an empty one ("all annotations removed") all of them.
  if (c.annotationsOverride !== undefined) {
    s.annotations = Object.keys(c.annotationsOverride).length === 0 ? {} : { ...s.annotations, ...c.annotationsOverride };
  }
  if (c.removeAnnotation !== undefined) {
    s.annotations = { ...s.annotations };
    delete s.annotations[c.removeAnnotation];
  }
  if (c.chain === '') {
    s.annotations = { ...s.annotations };
    delete s.annotations[CHAIN_ANNOTATION];
  }
  if (c.payloadOverride !== undefined) s.payload = Buffer.from(c.payloadOverride, 'utf8');
  if (c.note === 'this SET moved onto dir-img-cosign-valid/signature-1') {
    // The key+Rekor SET attached to another signature (by cosign.pub, of another payload).
    const other = baseSetup(cosignVector('dir-img-cosign-valid--signature-1.json'));
    return { ...other, trust, annotations: { ...other.annotations, [BUNDLE_ANNOTATION]: s.annotations[BUNDLE_ANNOTATION] as string } };
  }
  return s;
}

const index = cosignIndex();

describe('cosign legacy signature vectors', () => {
  it('covers every vector file', () => {
    expect(index.length).toBe(15);
  });

  for (const entry of index) {
    const v = cosignVector(entry.file);
    describe(v.name, () => {
      it('the stored signature matches the vector', () => {
        const stored = storedSignature(v);
        expect(stored.mediaType).toBe(v.mimeType);
        expect(stored.payload.toString('base64')).toBe(v.payloadBase64);
        expect(createHash('sha256').update(stored.payload).digest('hex')).toBe(v.payloadSha256);
        expect(stored.annotations[SIGNATURE_ANNOTATION]).toBe(v.signature);
        for (const [k, value] of Object.entries(v.annotations)) expect((stored.annotations[k] as string).trim()).toBe(value.trim());
        const manifest = manifestOf(v);
        if (v.manifest !== null) expect(manifest?.toString('utf8')).toBe(v.manifest);
      });

      if (v.name === 'fulcio-rekor-components') {
        componentsTests(v);
        return;
      }

      it(`as listed: ${entry.expect}`, () => {
        expect(v.expect).toBe(entry.expect);
        expectOutcome(entry.expect, () => evaluate(baseSetup(v)));
      });

      for (const [i, c] of (v.cases ?? []).entries()) {
        it(`case ${i + 1}: ${c.expect}`, () => {
          expectOutcome(c.expect, () => evaluate(applyCase(v, c)));
        });
      }
    });
  }
});

// No manifest and no image reference: the certificate, the SET and the signature, at integratedTime.
function componentsTests(v: CosignVector): void {
  const signer = (s: Setup) => verifyLegacySigner(signatureOf(s), s.trust);

  it(`as listed: ${v.expect}`, () => {
    const s = baseSetup(v);
    const got = signer(s);
    expect(got.integratedTime?.getTime()).toBe(1670870899 * 1000);
    expect(got.signer).toEqual({ kind: 'fulcio', identity: 'mitr@redhat.com', issuer: 'https://github.com/login/oauth' });
    expect(parsePayload(s.payload).manifestDigest).toBe('sha256:fa93b01658e3a5a1686dc3ae55f170d8de487006fb53a28efcd12ab0710a2e5f');
  });

  for (const [i, c] of (v.cases ?? []).entries()) {
    it(`case ${i + 1}: ${c.expect}`, () => {
      const s = applyCase(v, c);
      if (c.checkCertificateAt !== undefined) {
        const at = new Date(c.checkCertificateAt);
        expectOutcome(c.expect, () => verifyCertificateChain(s.annotations[CERTIFICATE_ANNOTATION] as string, [s.annotations[CHAIN_ANNOTATION] as string], s.trust.fulcio?.roots ?? [], at));
        return;
      }
      expectOutcome(c.expect, () => signer(s));
      if (c.chain === '') {
        // "…unless the intermediates in fulcio-chain are trusted directly, which makes it valid".
        const direct = { ...s.trust, fulcio: { ...(s.trust.fulcio as NonNullable<LegacyTrust['fulcio']>), roots: pems(rawText('fulcio-chain')) } };
        expect(signer({ ...s, trust: direct }).integratedTime?.getTime()).toBe(1670870899 * 1000);
      }
    });
  }

  it('the certificate is valid from its first to its last second', () => {
    const s = baseSetup(v);
    const chain = () => [s.annotations[CHAIN_ANNOTATION] as string];
    const roots = s.trust.fulcio?.roots ?? [];
    for (const at of ['2022-12-12T18:48:18Z', '2022-12-12T18:58:18Z']) {
      expect(verifyCertificateChain(s.annotations[CERTIFICATE_ANNOTATION] as string, chain(), roots, new Date(at))).toHaveLength(3);
    }
  });
}

describe('images with several signatures or none', () => {
  const setupOf = (file: string) => baseSetup(cosignVector(file));
  const expectation = (s: Setup, dockerReference = s.dockerReference as string): LegacyExpectation => ({
    manifestDigest: manifestDigestForSignature(s.manifest),
    dockerReference,
    identityPolicy: 'matchRepository',
  });

  it('dir-img-cosign-mixed: one invalid then one valid signature → accepted by the second', () => {
    const a = setupOf('dir-img-cosign-mixed--signature-1.json');
    const b = setupOf('dir-img-cosign-mixed--signature-2.json');
    const got = verifyImageSignatures([signatureOf(a), signatureOf(b)], a.trust, expectation(a));
    expect(got.index).toBe(1);
    expect(got.payload.dockerReference).toBe('192.168.64.2:5000/cosign-signed-single-sample');
  });

  it('dir-img-cosign-valid-2: two valid signatures → accepted; with a non-matching reference both are rejected', () => {
    const a = setupOf('dir-img-cosign-valid-2--signature-1.json');
    const b = setupOf('dir-img-cosign-valid-2--signature-2.json');
    expect(verifyImageSignatures([signatureOf(a), signatureOf(b)], a.trust, expectation(a)).index).toBe(0);
    expect(() => verifyImageSignatures([signatureOf(a), signatureOf(b)], a.trust, expectation(a, 'this/does-not:match'))).toThrow(
      /^none of 2 signatures verifies \(0 non-signature attachments skipped\); signature 1: signature names 192\.168\.64\.2:5000\/cosign-signed-single-sample, not repository docker\.io\/this\/does-not$/,
    );
  });

  it('dir-img-cosign-other-attachment: only a text/plain attachment → no signature exists', () => {
    const a = setupOf('dir-img-cosign-other-attachment--signature-1.json');
    expect(() => verifyImageSignatures([signatureOf(a)], a.trust, expectation(a))).toThrow(/^no signature to verify \(1 non-signature attachment skipped\)$/);
  });

  it('unknown-cosign-key: neither cosign.pub nor cosign2.pub verifies it', () => {
    const a = setupOf('unknown-cosign-key.signature.json');
    const trust = { publicKeys: [rawKey('cosign.pub'), rawKey('cosign2.pub')] };
    expect(() => verifyLegacySignature(signatureOf(a), trust, expectation(a))).toThrow('signature does not verify with the given key(s)');
  });

  it('a non-ECDSA Rekor key is a configuration error (upstream: "Rekor public key 1 is not using ECDSA")', () => {
    const a = setupOf('dir-img-cosign-key-rekor-valid--signature-1.json');
    const rsa: KeyObject = rawKey('some-rsa-key.pub');
    let caught: unknown;
    try {
      verifyImageSignatures([signatureOf(a)], { ...a.trust, rekorPublicKeys: [rsa] }, expectation(a));
    } catch (e) {
      caught = e;
    }
    expect(isOciToolError(caught) && caught.code).toBe('OCI_ERR_BAD_KEY');
    expect((caught as Error).message).toContain('Rekor public key 1 is not an ECDSA public key');
  });

  it('key+Rekor: the result carries the SET time', () => {
    const a = setupOf('dir-img-cosign-key-rekor-valid--signature-1.json');
    const got = evaluate(a);
    expect(got.integratedTime?.toISOString()).toBe(new Date(1674251859 * 1000).toISOString());
    expect(got.signer).toEqual({ kind: 'key' });
  });

  it('Fulcio and PKI results name the signer', () => {
    const f = evaluate(setupOf('dir-img-cosign-fulcio-rekor-valid--signature-1.json'));
    expect(f.signer).toEqual({ kind: 'fulcio', identity: 'mitr@redhat.com', issuer: 'https://github.com/login/oauth' });
    expect(f.integratedTime?.getTime()).toBe(1674247893 * 1000);
    const p = evaluate(setupOf('dir-img-cosign-pki-valid--signature-1.json'));
    expect(p.signer).toEqual({ kind: 'pki', identity: 'qiwan@redhat.com' });
    expect(p.integratedTime).toBeUndefined();
  });
});
