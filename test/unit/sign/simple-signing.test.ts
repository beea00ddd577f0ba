// The simple-signing payload (bytes and strict parsing), the canonical JSON and Rekor SET checks,
// the manifest digest a signature names, and the legacy verifier's edges with keys made here.
import { createHash, createPublicKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { ErrorCode } from '../../../src/errors.js';
import {
  manifestDigestForSignature,
  verifyImageSignatures,
  verifyLegacySignature,
  type LegacySignature,
  type LegacyTrust,
} from '../../../src/sign/legacy-verify.js';
import { canonicalJson, checkRekorKeys, parseRekorSet, rekorLogId, verifyRekorSet } from '../../../src/sign/rekor-set.js';
import {
  BUNDLE_ANNOTATION,
  CERTIFICATE_ANNOTATION,
  CHAIN_ANNOTATION,
  SIGNATURE_ANNOTATION,
  SIMPLE_SIGNING_MEDIA_TYPE,
  createPayload,
  decodeBase64,
  parsePayload,
  parseStrictJson,
} from '../../../src/sign/simple-signing.js';
import { cosignVector, failure, makeRekorSet, rawBytes, rawKey, readSignatureFile } from '../../support/cosign-vectors.js';

const DIGEST = 'sha256:634a8f35b5f16dcf4aaa0822adc0b1964bb786fca12f6831de8ddc45e5986a00';
const REF = '192.168.64.2:5000/cosign-signed-single-sample';


const flip = (b: Buffer, i: number) => {
  b[i] = (b[i] as number) ^ 1;
};

const rejects = (run: () => unknown, fragment: string, code: ErrorCode = 'OCI_ERR_SIGNATURE') => {
  const f = failure(run);
  expect(f.message).toContain(fragment);
  expect(f.code).toBe(code);
};

describe('constants', () => {
  it('name cosign’s media type and annotations', () => {
    expect(SIMPLE_SIGNING_MEDIA_TYPE).toBe('application/vnd.dev.cosign.simplesigning.v1+json');
    expect([SIGNATURE_ANNOTATION, BUNDLE_ANNOTATION, CERTIFICATE_ANNOTATION, CHAIN_ANNOTATION]).toEqual([
      'dev.cosignproject.cosign/signature',
      'dev.sigstore.cosign/bundle',
      'dev.sigstore.cosign/certificate',
      'dev.sigstore.cosign/chain',
    ]);
  });
});

describe('createPayload', () => {
  it('writes exactly the bytes cosign wrote in every vector', () => {
    for (const file of [
      'dir-img-cosign-valid--signature-1.json',
      'dir-img-cosign-key-rekor-valid--signature-1.json',
      'dir-img-cosign-fulcio-rekor-valid--signature-1.json',
      'dir-img-cosign-pki-valid--signature-1.json',
      'fulcio-rekor-components.json',
    ]) {
      const v = cosignVector(file);
      const p = parsePayload(Buffer.from(v.payload));
      expect(createPayload(p.dockerReference, p.manifestDigest).toString('utf8')).toBe(v.payload);
      expect(createPayload(p.dockerReference, p.manifestDigest, null).toString('base64')).toBe(v.payloadBase64);
    }
  });

  it('writes containers/image’s optional members sorted, as Go marshals a map', () => {
    const v = cosignVector('dir-img-cosign-valid-with-tag--signature-1.json');
    const bytes = createPayload('192.168.64.2:5000/skopeo-signed:tag', DIGEST, { timestamp: 1657296609, creator: 'containers/image 5.21.2-dev' });
    expect(bytes.toString('utf8')).toBe(v.payload);
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(v.payloadSha256);
  });

  it('escapes strings as Go does (HTML-safe, U+2028/9, control characters)', () => {
    const note = '<a&b>\u2028"\\\n\t\u0001\b\u00e9\u{1F600}\ud800';
    const bytes = createPayload(REF, DIGEST, { note, nested: { z: [true, false, null, -3], a: 'x' } });
    const text = bytes.toString('utf8');
    expect(text).toContain('"optional":{"nested":{"a":"x","z":[true,false,null,-3]},"note":"\\u003ca\\u0026b\\u003e\\u2028\\"\\\\\\n\\t\\u0001\\b\u00e9\u{1F600}\\ufffd"}');
    expect(parsePayload(bytes).optional?.note).toBe(note.replace('\ud800', '\ufffd'));
  });

  it('refuses what it cannot write as cosign would', () => {
    rejects(() => createPayload(REF, 'sha256:1234'), 'invalid manifest digest "sha256:1234"', 'OCI_ERR_USAGE');
    rejects(() => createPayload('', DIGEST), 'needs a docker reference', 'OCI_ERR_USAGE');
    rejects(() => createPayload(REF, DIGEST, { x: 1.5 }), 'safe integers', 'OCI_ERR_USAGE');
  });
});

describe('parsePayload', () => {
  const cosign = (critical: string, optional = 'null') => Buffer.from(`{"critical":${critical},"optional":${optional}}`);
  const critical = `{"identity":{"docker-reference":"${REF}"},"image":{"docker-manifest-digest":"${DIGEST}"},"type":"cosign container image signature"}`;

  it('reads cosign’s and containers/image’s payloads', () => {
    expect(parsePayload(cosign(critical))).toEqual({ dockerReference: REF, manifestDigest: DIGEST, optional: null });
    const tagged = parsePayload(Buffer.from(cosignVector('dir-img-cosign-valid-with-tag--signature-1.json').payload));
    expect(tagged).toEqual({
      dockerReference: '192.168.64.2:5000/skopeo-signed:tag',
      manifestDigest: DIGEST,
      optional: { creator: 'containers/image 5.21.2-dev', timestamp: 1657296609 },
    });
  });

  it('ignores unknown optional members, keeping them as data', () => {
    const p = parsePayload(cosign(critical, '{"foo":{"bar":[1]},"__proto__":{"polluted":true}}'));
    expect(p.optional?.foo).toEqual({ bar: [1] });
    expect(Object.hasOwn(p.optional as object, '__proto__')).toBe(true);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  const bad: [string, Buffer, string][] = [
    ['an extra top-level member', Buffer.from(`{"critical":${critical},"optional":null,"extra":1}`), 'unexpected member "extra" in the payload'],
    ['no "optional"', Buffer.from(`{"critical":${critical}}`), 'the payload has no "optional"'],
    ['no "critical"', Buffer.from('{"optional":null}'), 'the payload has no "critical"'],
    ['an extra member in critical', cosign(critical.replace('{"identity"', '{"foo":1,"identity"')), 'unexpected member "foo" in "critical"'],
    ['an extra member in image', cosign(critical.replace('"docker-manifest-digest"', '"x":"y","docker-manifest-digest"')), 'unexpected member "x" in "critical.image"'],
    ['an extra member in identity', cosign(critical.replace('{"docker-reference"', '{"docker-tag":"t","docker-reference"')), 'unexpected member "docker-tag" in "critical.identity"'],
    ['no identity', cosign(`{"image":{"docker-manifest-digest":"${DIGEST}"},"type":"cosign container image signature"}`), '"critical" has no "identity"'],
    ['another type', cosign(critical.replace('cosign container image signature', 'atomic container signature')), 'type "atomic container signature" is not "cosign container image signature"'],
    ['a non-string type', cosign(critical.replace('"cosign container image signature"', '1')), 'type 1 is not'],
    ['a non-string digest', cosign(critical.replace(`"${DIGEST}"`, '5')), 'docker-manifest-digest is not a string'],
    ['an invalid digest', cosign(critical.replace(DIGEST, 'sha256:abc')), 'invalid signature payload: invalid signed manifest digest "sha256:abc"'],
    ['a non-string reference', cosign(critical.replace(`"${REF}"`, 'null')), 'docker-reference is not a string'],
    ['a list as optional', cosign(critical, '[]'), '"optional" is neither null nor an object'],
    ['a string as optional', cosign(critical, '"x"'), '"optional" is neither null nor an object'],
    ['a numeric creator', cosign(critical, '{"creator":5}'), 'optional.creator is not a string'],
    ['a fractional timestamp', cosign(critical, '{"timestamp":1.5}'), 'optional.timestamp is not an integer'],
    ['a string timestamp', cosign(critical, '{"timestamp":"1657296609"}'), 'optional.timestamp is not an integer'],
    ['a duplicate member', Buffer.from(`{"critical":${critical},"critical":${critical},"optional":null}`), 'duplicate member "critical"'],
    ['a duplicate nested member', cosign(critical.replace('"type"', '"type":"x","type"')), 'duplicate member "type"'],
    ['invalid UTF-8', Buffer.concat([cosign(critical, '{"creator":"'), Buffer.from([0xff, 0x22, 0x7d, 0x7d])]), 'not valid UTF-8'],
    ['a byte-order mark', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), cosign(critical)]), 'not valid JSON: unexpected token at offset 0'],
    ['trailing data', Buffer.concat([cosign(critical), Buffer.from('{}')]), 'trailing data'],
    ['a top-level list', Buffer.from('[]'), 'the payload is not a JSON object'],
    ['deep nesting', cosign(critical, `{"x":${'['.repeat(100)}${']'.repeat(100)}}`), 'nested too deeply'],
  ];
  for (const [what, bytes, fragment] of bad) {
    it(`refuses ${what}`, () => rejects(() => parsePayload(bytes), fragment));
  }
});

describe('parseStrictJson', () => {
  it('reads RFC 8259 JSON', () => {
    expect(parseStrictJson(' {"a" : [1, -2.5e3, true, false, null, "\\u00e9\\n\\/"]} ', 'x')).toEqual({ a: [1, -2500, true, false, null, 'é\n/'] });
  });
  for (const [text, fragment] of [
    ['01', 'trailing data'],
    ['"a\u0001"', 'control character in string'],
    ['"\\x"', 'invalid escape'],
    ['1e999', 'number out of range'],
    ['{"a":1,}', 'expected a member name'],
    ['[1 2]', 'expected "," or "]"'],
    ['"abc', 'unterminated string'],
    ['nul', 'unexpected token'],
    ['', 'unexpected token'],
  ] as const) {
    it(`refuses ${JSON.stringify(text)}`, () => rejects(() => parseStrictJson(text, 'x'), `x is not valid JSON: ${fragment}`));
  }
});

describe('canonicalJson (RFC 8785)', () => {
  it('sorts members recursively and writes no whitespace', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, 'x', { z: 0, y: false }], c: null } })).toBe('{"a":{"c":null,"d":[1,"x",{"y":false,"z":0}]},"b":1}');
  });

  it('sorts by UTF-16 code units (RFC 8785 §3.2.3)', () => {
    const input = { '\u20ac': 'Euro Sign', '\r': 'Carriage Return', '\ufb33': 'Hebrew Letter Dalet With Dagesh', '1': 'One', '\ud83d\ude00': 'Emoji: Grinning Face', '\u0080': 'Control', '\u00f6': 'Latin Small Letter O With Diaeresis' };
    // Read the order from the text: JSON.parse would put integer-like keys first.
    const order = [...canonicalJson(input).matchAll(/:"([^"]+)"/g)].map((m) => m[1]);
    expect(order).toEqual(['Carriage Return', 'One', 'Control', 'Latin Small Letter O With Diaeresis', 'Euro Sign', 'Emoji: Grinning Face', 'Hebrew Letter Dalet With Dagesh']);
  });

  it('writes strings and numbers as ECMAScript does', () => {
    expect(canonicalJson(['\u000f', '\u2028', 'é', '"\\', 1e21, -0, 1670870899, 0.5])).toBe('["\\u000f","\u2028","é","\\"\\\\",1e+21,0,1670870899,0.5]');
  });

  it('refuses what has no canonical form', () => {
    expect(() => canonicalJson('\ud800')).toThrow('lone surrogate');
    expect(() => canonicalJson(Number.NaN)).toThrow('non-finite');
  });

  it('gives the bytes Rekor signed for the vectors’ SETs', () => {
    const v = cosignVector('dir-img-cosign-key-rekor-valid--signature-1.json');
    const { payload, signedEntryTimestamp } = parseRekorSet(v.annotations[BUNDLE_ANNOTATION] as string);
    const text = canonicalJson(payload);
    expect(text.startsWith('{"body":"eyJhcGlWZXJzaW9uIjoiMC4wLjEi')).toBe(true);
    expect(text.endsWith('","integratedTime":1674251859,"logID":"c0d23d6ad406973f9559f3ba2d1ca01f84147d8ffc5b8445c224f98b9591801d","logIndex":11608800}')).toBe(true);
    const rekor = createPublicKey(v.rekorPublicKey as string);
    expect(rekorLogId(rekor)).toBe(payload.logID);
    expect(signedEntryTimestamp.length).toBeGreaterThan(60);
  });
});

describe('Rekor SET', () => {
  const v = cosignVector('dir-img-cosign-key-rekor-valid--signature-1.json');
  const raw = readSignatureFile(v.rawSignatureFile as string);
  const set = raw.annotations[BUNDLE_ANNOTATION] as string;
  const signature = decodeBase64(v.signature, 'signature');
  const cosign2 = rawKey('cosign2.pub');
  const expected = { payload: raw.payload, signature, signers: [cosign2.export({ type: 'spki', format: 'der' })] };
  const rekor = [rawKey('rekor.pub')];
  const edit = (f: (doc: { SignedEntryTimestamp: string; Payload: Record<string, unknown> }) => void) => {
    const doc = JSON.parse(set) as { SignedEntryTimestamp: string; Payload: Record<string, unknown> };
    f(doc);
    return JSON.stringify(doc);
  };

  it('verifies the vector’s SET and reads its entry', () => {
    const got = verifyRekorSet(set, rekor, expected);
    expect(got.integratedTime.toISOString()).toBe('2023-01-20T21:57:39.000Z');
    expect(got).toMatchObject({ logIndex: 11608800, logID: rekorLogId(rekor[0] as KeyObject), signerIndex: 0 });
    expect(got.entry.kind).toBe('hashedrekord');
    expect(got.entry.hash).toEqual({ algorithm: 'sha256', value: v.payloadSha256 });
  });

  it('does not depend on the annotation’s member order or whitespace (the signature is over the canonical form)', () => {
    const doc = JSON.parse(set) as { SignedEntryTimestamp: string; Payload: Record<string, unknown> };
    const p = doc.Payload;
    const reordered = JSON.stringify({ Payload: { logIndex: p.logIndex, logID: p.logID, integratedTime: p.integratedTime, body: p.body }, SignedEntryTimestamp: doc.SignedEntryTimestamp }, null, 2);
    expect(verifyRekorSet(reordered, rekor, expected).logIndex).toBe(11608800);
  });

  const tampered: [string, string, string][] = [
    ['integratedTime', edit((d) => (d.Payload.integratedTime = (d.Payload.integratedTime as number) + 1)), 'its signature does not verify with the key of log'],
    ['logIndex', edit((d) => (d.Payload.logIndex = 1)), 'its signature does not verify'],
    ['body', edit((d) => (d.Payload.body = Buffer.from('{"apiVersion":"0.0.1","kind":"hashedrekord","spec":{}}').toString('base64'))), 'its signature does not verify'],
    ['SignedEntryTimestamp', edit((d) => (d.SignedEntryTimestamp = Buffer.from(Buffer.from(d.SignedEntryTimestamp, 'base64').map((b, i) => (i === 10 ? b ^ 1 : b))).toString('base64'))), 'its signature does not verify'],
    ['logID', edit((d) => (d.Payload.logID = 'a'.repeat(64))), `its log ID ${'a'.repeat(64)} names none of them`],
    ['an extra member', edit((d) => (d.Payload.extra = 1)), 'Rekor SET cannot be parsed: unexpected member "extra" in Payload'],
    ['a missing member', edit((d) => delete d.Payload.logIndex), 'Rekor SET cannot be parsed: Payload has no logIndex'],
    ['a string integratedTime', edit((d) => (d.Payload.integratedTime = '1674251859')), 'integratedTime is not a non-negative integer'],
    ['a duplicate member', set.replace('{"SignedEntryTimestamp"', '{"SignedEntryTimestamp":"x","SignedEntryTimestamp"'), 'Rekor SET cannot be parsed: it is not valid JSON: duplicate member'],
  ];
  for (const [what, text, fragment] of tampered) {
    it(`refuses a SET with a changed ${what}`, () => rejects(() => verifyRekorSet(text, rekor, expected), fragment));
  }

  it('refuses a SET for another signature, key or payload', () => {
    rejects(() => verifyRekorSet(set, rekor, { ...expected, signature: Buffer.from('other') }), 'Rekor SET names a different signature');
    rejects(() => verifyRekorSet(set, rekor, { ...expected, signers: [rawKey('cosign.pub').export({ type: 'spki', format: 'der' })] }), 'Rekor SET names a different public key or certificate');
    rejects(() => verifyRekorSet(set, rekor, { ...expected, payload: Buffer.from('other') }), `Rekor SET names a different payload (sha256:${v.payloadSha256}, not sha256:`);
  });

  it('refuses Rekor keys that cannot sign a SET', () => {
    rejects(() => checkRekorKeys([]), 'no Rekor public key', 'OCI_ERR_BAD_KEY');
    rejects(() => checkRekorKeys([rekor[0] as KeyObject, rawKey('some-rsa-key.pub')]), 'Rekor public key 2 is not an ECDSA public key (it is public rsa)', 'OCI_ERR_BAD_KEY');
  });
});

describe('verifyLegacySignature: tampering with dir-img-cosign-valid', () => {
  const raw = readSignatureFile('raw/dir-img-cosign-valid/signature-1');
  const good: LegacySignature = { payload: raw.payload, signature: raw.annotations[SIGNATURE_ANNOTATION] as string, annotations: raw.annotations, mediaType: raw.mimeType };
  const trust: LegacyTrust = { publicKeys: [rawKey('cosign.pub')] };
  const expected = { manifestDigest: DIGEST, dockerReference: REF };

  it('accepts the untouched signature', () => {
    expect(verifyLegacySignature(good, trust, expected).payload.dockerReference).toBe(REF);
  });

  it('refuses a payload changed by one byte', () => {
    const payload = Buffer.from(raw.payload);
    flip(payload, payload.length - 30);
    rejects(() => verifyLegacySignature({ ...good, payload }, trust, expected), 'signature does not verify with the given key(s)');
  });

  it('refuses the same payload re-serialised (the bytes are signed, not the JSON)', () => {
    const payload = Buffer.from(JSON.stringify(JSON.parse(raw.payload.toString()), null, 1));
    rejects(() => verifyLegacySignature({ ...good, payload }, trust, expected), 'signature does not verify with the given key(s)');
  });

  it('refuses a signature changed by one bit', () => {
    const sig = decodeBase64(good.signature, 's');
    flip(sig, sig.length - 5);
    const signature = sig.toString('base64');
    rejects(() => verifyLegacySignature({ ...good, signature, annotations: {} }, trust, expected), 'signature does not verify with the given key(s)');
  });

  it('refuses a signature that is not base64', () => {
    rejects(() => verifyLegacySignature({ ...good, signature: 'not base64!', annotations: {} }, trust, expected), 'annotation is not valid base64');
  });

  it('refuses a signature that disagrees with its annotation', () => {
    rejects(() => verifyLegacySignature({ ...good, signature: 'AAAA' }, trust, expected), 'the signature differs from its dev.cosignproject.cosign/signature annotation');
  });

  it('takes the signature from the annotation when the field is empty', () => {
    expect(verifyLegacySignature({ ...good, signature: '' }, trust, expected).signer.kind).toBe('key');
  });

  it('skips attachments and explains what it checked', () => {
    const note = { ...good, mediaType: 'text/plain' };
    rejects(() => verifyLegacySignature(note, trust, expected), 'not a signature (media type text/plain)');
    rejects(() => verifyImageSignatures([], trust, expected), 'no signature to verify (0 non-signature attachments skipped)');
    const bad = { ...good, signature: '', annotations: {} };
    rejects(() => verifyImageSignatures([note, bad, note], trust, expected), 'none of 1 signature verifies (2 non-signature attachments skipped); signature 2: missing dev.cosignproject.cosign/signature annotation');
    expect(verifyImageSignatures([note, bad, good], trust, expected).index).toBe(2);
  });
});

describe('verifyLegacySignature with keys made here', () => {
  const pairs = {
    ecdsa: generateKeyPairSync('ec', { namedCurve: 'P-256' }),
    rsa: generateKeyPairSync('rsa', { modulusLength: 2048 }),
    ed25519: generateKeyPairSync('ed25519'),
  };
  const signWith = (name: keyof typeof pairs, data: Buffer) =>
    name === 'ed25519' ? sign(null, data, pairs[name].privateKey) : sign('sha256', data, { key: pairs[name].privateKey, ...(name === 'ecdsa' ? { dsaEncoding: 'der' as const } : {}) });
  const rekor = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const digest = `sha256:${'1'.repeat(64)}`;
  const signed = (name: keyof typeof pairs, ref = 'registry.example/team/app', extra: Record<string, string> = {}): LegacySignature => {
    const payload = createPayload(ref, digest, { creator: 'test' });
    return { payload, signature: signWith(name, payload).toString('base64'), annotations: extra, mediaType: SIMPLE_SIGNING_MEDIA_TYPE };
  };
  const expected = { manifestDigest: digest, dockerReference: 'registry.example/team/app:v1' };

  for (const name of ['ecdsa', 'rsa', 'ed25519'] as const) {
    it(`verifies a ${name} signature and refuses it under another key`, () => {
      const got = verifyLegacySignature(signed(name), { publicKeys: [pairs[name].publicKey] }, expected);
      expect(got.payload.optional).toEqual({ creator: 'test' });
      const other = name === 'rsa' ? pairs.ecdsa : pairs.rsa;
      rejects(() => verifyLegacySignature(signed(name), { publicKeys: [other.publicKey] }, expected), 'signature does not verify with the given key(s)');
    });
  }

  for (const kind of ['hashedrekord', 'rekord'] as const) {
    it(`checks a ${kind} SET and the key it names among several`, () => {
      const sig = signed('ecdsa');
      const signerPem = pairs.ecdsa.publicKey.export({ type: 'spki', format: 'pem' }).toString();
      const bundle = makeRekorSet({ rekorKey: rekor.privateKey, rekorPublicKey: rekor.publicKey, payload: sig.payload, signature: decodeBase64(sig.signature, 's'), signerPem, integratedTime: 1700000000, kind });
      const trust = { publicKeys: [pairs.rsa.publicKey, pairs.ecdsa.publicKey], rekorPublicKeys: [rekor.publicKey] };
      const got = verifyLegacySignature({ ...sig, annotations: { [BUNDLE_ANNOTATION]: bundle } }, trust, expected);
      expect(got.integratedTime?.getTime()).toBe(1700000000_000);
      rejects(() => verifyLegacySignature({ ...sig, annotations: { [BUNDLE_ANNOTATION]: bundle } }, { ...trust, publicKeys: [pairs.rsa.publicKey] }, expected), 'Rekor SET names a different public key or certificate');
      rejects(() => verifyLegacySignature(sig, trust, expected), `missing ${BUNDLE_ANNOTATION} annotation`);
    });
  }

  it('refuses a rekord entry whose signature format is not x509, and other entry kinds', () => {
    const sig = signed('ecdsa');
    const trust = { publicKeys: [pairs.ecdsa.publicKey], rekorPublicKeys: [rekor.publicKey] };
    const setWith = (body: object) => {
      const payload = { body: Buffer.from(JSON.stringify(body)).toString('base64'), integratedTime: 1, logIndex: 1, logID: rekorLogId(rekor.publicKey) };
      const ts = sign('sha256', Buffer.from(canonicalJson(payload)), { key: rekor.privateKey, dsaEncoding: 'der' });
      return { ...sig, annotations: { [BUNDLE_ANNOTATION]: JSON.stringify({ SignedEntryTimestamp: ts.toString('base64'), Payload: payload }) } };
    };
    rejects(() => verifyLegacySignature(setWith({ apiVersion: '0.0.1', kind: 'rekord', spec: { signature: { format: 'pgp' } } }), trust, expected), 'rekord signature format "pgp" is not x509');
    rejects(() => verifyLegacySignature(setWith({ apiVersion: '0.0.1', kind: 'intoto', spec: {} }), trust, expected), 'Rekor entry is intoto 0.0.1; only hashedrekord 0.0.1 and rekord 0.0.1 are supported');
    rejects(() => verifyLegacySignature(setWith({ apiVersion: '0.0.2', kind: 'hashedrekord', spec: {} }), trust, expected), 'Rekor entry is hashedrekord 0.0.2');
  });

  it('matches repositories after docker normalisation', () => {
    const trust = { publicKeys: [pairs.ecdsa.publicKey] };
    const hub = (ref: string, dockerReference: string) => verifyLegacySignature(signed('ecdsa', ref), trust, { manifestDigest: digest, dockerReference });
    expect(hub('busybox', 'docker.io/library/busybox:1.36').payload.dockerReference).toBe('busybox');
    expect(hub('index.docker.io/library/busybox:old', 'busybox').payload.dockerReference).toBe('index.docker.io/library/busybox:old');
    rejects(() => hub('quay.io/busybox', 'busybox'), 'signature names quay.io/busybox, not repository docker.io/library/busybox');
    rejects(() => hub('Registry.Example/UPPER', 'busybox'), 'signature names Registry.Example/UPPER, which is not a valid image reference');
    rejects(() => hub('x\ny', 'busybox'), 'signature names "x\\ny", which is not a valid image reference');
  });

  it('matchExact needs the same tagged reference on both sides', () => {
    const trust = { publicKeys: [pairs.ecdsa.publicKey] };
    const exact = (ref: string, dockerReference: string) => verifyLegacySignature(signed('ecdsa', ref), trust, { manifestDigest: digest, dockerReference, identityPolicy: 'matchExact' });
    expect(exact('busybox:1.36', 'docker.io/library/busybox:1.36').signer.kind).toBe('key');
    rejects(() => exact('busybox:1.36', 'busybox:1.37'), 'signature names busybox:1.36, not docker.io/library/busybox:1.37');
    rejects(() => exact('busybox', 'busybox:latest'), 'without a tag or digest, which matchExact does not accept');
    rejects(() => exact('busybox:latest', 'busybox'), 'matchExact needs a tagged image reference, not busybox');
  });

  it('ignore skips the identity; a wrong digest is still refused', () => {
    const trust = { publicKeys: [pairs.ecdsa.publicKey] };
    expect(verifyLegacySignature(signed('ecdsa', 'elsewhere/x'), trust, { manifestDigest: digest, identityPolicy: 'ignore' }).payload.dockerReference).toBe('elsewhere/x');
    rejects(() => verifyLegacySignature(signed('ecdsa'), trust, { manifestDigest: `sha256:${'2'.repeat(64)}`, identityPolicy: 'ignore' }), `signature is for digest ${digest}, not sha256:${'2'.repeat(64)}`);
  });

  it('refuses unusable configurations and expectations before looking at a signature', () => {
    const sig = signed('ecdsa');
    const rsaPss = generateKeyPairSync('rsa-pss', { modulusLength: 2048 });
    rejects(() => verifyLegacySignature(sig, {}, expected), 'exactly one of public keys, Fulcio or PKI roots (got none)', 'OCI_ERR_BAD_KEY');
    rejects(() => verifyLegacySignature(sig, { publicKeys: [] }, expected), '(got none)', 'OCI_ERR_BAD_KEY');
    rejects(() => verifyLegacySignature(sig, { publicKeys: [pairs.ecdsa.publicKey], pki: { roots: [] } }, expected), '(got key, pki)', 'OCI_ERR_BAD_KEY');
    rejects(() => verifyLegacySignature(sig, { publicKeys: [rsaPss.publicKey] }, expected), 'public key 1 is not an ECDSA, RSA or Ed25519 public key (it is public rsa-pss)', 'OCI_ERR_BAD_KEY');
    rejects(() => verifyLegacySignature(sig, { publicKeys: [pairs.ecdsa.privateKey] }, expected), 'public key 1 is not an ECDSA, RSA or Ed25519 public key (it is private ec)', 'OCI_ERR_BAD_KEY');
    rejects(() => verifyLegacySignature(sig, { pki: { roots: [], subjectEmail: 'a@b' } }, expected), 'no PKI root certificate is configured', 'OCI_ERR_BAD_KEY');
    rejects(() => verifyLegacySignature(sig, { pki: { roots: ['garbage'], subjectEmail: 'a@b' } }, expected), 'PKI root 1 cannot be parsed: not PEM', 'OCI_ERR_BAD_KEY');
    const trust = { publicKeys: [pairs.ecdsa.publicKey] };
    rejects(() => verifyLegacySignature(sig, trust, { manifestDigest: 'sha256:abc', dockerReference: 'x' }), 'invalid expected manifest digest', 'OCI_ERR_USAGE');
    rejects(() => verifyLegacySignature(sig, trust, { manifestDigest: digest }), 'identity policy matchRepository needs the image', 'OCI_ERR_USAGE');
    rejects(() => verifyImageSignatures([sig], { publicKeys: [rsaPss.publicKey] }, expected), 'public key 1', 'OCI_ERR_BAD_KEY');
  });
});

describe('manifestDigestForSignature', () => {
  const sha = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
  const b64url = (s: string | Buffer) => Buffer.from(s).toString('base64url');
  const body = '{\n   "schemaVersion": 1,\n   "name": "mitr/busybox",\n   "tag": "latest",\n   "architecture": "amd64",\n   "fsLayers": [],\n   "history": []\n}';
  const formatLength = body.length - 2;
  const jws = (protectedHeader: object | string) => ({
    header: { alg: 'ES256' },
    signature: 'c2ln',
    protected: typeof protectedHeader === 'string' ? protectedHeader : b64url(JSON.stringify(protectedHeader)),
  });
  const signedWith = (signatures: unknown) => Buffer.from(`${body.slice(0, formatLength)},\n   "signatures": ${JSON.stringify(signatures)}\n}`);
  const header = { formatLength, formatTail: b64url('\n}'), time: '2016-01-01T00:00:00Z' };

  it('hashes schema2 manifests as they are', () => {
    const v = cosignVector('dir-img-cosign-valid--signature-1.json');
    expect(manifestDigestForSignature(rawBytes(v.rawManifestFile as string))).toBe(v.manifestDigest);
    expect(manifestDigestForSignature(Buffer.from('not json'))).toBe(sha('not json'));
    expect(manifestDigestForSignature(Buffer.from(body))).toBe(sha(body));
  });

  it('hashes a signed schema1 manifest without its JWS signatures', () => {
    expect(manifestDigestForSignature(signedWith([jws(header), jws({ ...header, time: 'later' })]))).toBe(sha(body));
  });

  const malformed: [string, Buffer][] = [
    ['the vector’s "signatures": 1', rawBytes('raw/dir-img-cosign-manifest-digest-error/manifest.json')],
    ['no signatures', signedWith([])],
    ['a signature that is not an object', signedWith(['x'])],
    ['a protected header that is not base64url', signedWith([jws('***')])],
    ['a protected header that is not JSON', signedWith([jws(b64url('nope'))])],
    ['a formatLength beyond the manifest', signedWith([jws({ ...header, formatLength: 10_000 })])],
    ['a fractional formatLength', signedWith([jws({ ...header, formatLength: 1.5 })])],
    ['a formatTail that is not base64url', signedWith([jws({ ...header, formatTail: '+/=' })])],
    ['signatures that disagree', signedWith([jws(header), jws({ ...header, formatLength: formatLength - 1 })])],
  ];
  for (const [what, bytes] of malformed) {
    it(`refuses a schema1 manifest with ${what}`, () => rejects(() => manifestDigestForSignature(bytes), 'cannot compute the manifest digest: schema1 manifest with malformed signatures'));
  }

  it('has nothing to offer without a manifest', () => {
    rejects(() => manifestDigestForSignature(null), 'no image manifest to check the signature against');
    rejects(() => manifestDigestForSignature(undefined), 'no image manifest');
  });
});
