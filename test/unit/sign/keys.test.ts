// Key files are checked against an independent implementation of the format (node:crypto scrypt
// and tweetnacl's secretbox, written here from go-securesystemslib's `encrypted` package layout),
// and public-key loading against cosign's own keys and signatures.
import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, scryptSync, sign, verify, type KeyObject } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import nacl from 'tweetnacl';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isOciToolError, type ErrorCode } from '../../../src/errors.js';
import { decryptPrivateKey, encryptPrivateKey, generateKeyPair, loadPublicKey, privateKeyNeedsPassword, publicKeyPem } from '../../../src/sign/keys.js';
import { readPassword } from '../../../src/sign/password.js';
import { REFERENCE_DIR } from '../../support/reference.js';

const COSIGN = join(REFERENCE_DIR, 'cosign');
const PASSWORD = 'correct horse battery staple';

/** A PEM block split by hand: label, base64 lines, decoded body. */
function parsePem(text: string): { label: string; lines: string[]; body: Buffer } {
  const m = /^-----BEGIN ([A-Z ]+)-----\n([\s\S]*)\n-----END \1-----\n$/.exec(text);
  if (!m) throw new Error(`not a single PEM block: ${text.slice(0, 60)}`);
  const lines = m[2]!.split('\n');
  return { label: m[1]!, lines, body: Buffer.from(lines.join(''), 'base64') };
}

function toPem(label: string, body: Buffer): string {
  const lines = body.toString('base64').match(/.{1,64}/g)!;
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

/** Seals a key's PKCS#8 DER the way go-securesystemslib does, without oci-tool's code. */
function independentlyEncrypt(key: KeyObject, password: string, label: string, params = { N: 32768, r: 8, p: 1 }): string {
  const salt = randomBytes(32);
  const nonce = randomBytes(24);
  const boxKey = scryptSync(Buffer.from(password), salt, 32, { ...params, maxmem: 256 * 1024 * 1024 });
  const der = key.export({ type: 'pkcs8', format: 'der' });
  const sealed = nacl.secretbox(new Uint8Array(der), new Uint8Array(nonce), new Uint8Array(boxKey));
  const json = `{"kdf":{"name":"scrypt","params":{"N":${params.N},"r":${params.r},"p":${params.p}},"salt":"${salt.toString('base64')}"},` +
    `"cipher":{"name":"nacl/secretbox","nonce":"${nonce.toString('base64')}"},"ciphertext":"${Buffer.from(sealed).toString('base64')}"}`;
  return toPem(label, Buffer.from(json));
}

/** The same envelope with some JSON edited, sealed properly (so only the edit is wrong). */
interface Envelope {
  kdf: { name: string; params: Record<string, unknown>; salt: string };
  cipher: { name: string; nonce: string };
  ciphertext: string;
}
function editedEnvelope(edit: (doc: Envelope) => void): string {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const doc = JSON.parse(parsePem(independentlyEncrypt(privateKey, PASSWORD, 'ENCRYPTED SIGSTORE PRIVATE KEY')).body.toString()) as Envelope;
  edit(doc);
  return toPem('ENCRYPTED SIGSTORE PRIVATE KEY', Buffer.from(JSON.stringify(doc)));
}

function expectError(fn: () => unknown, code: ErrorCode, message: RegExp): Error {
  try {
    fn();
  } catch (e) {
    expect(isOciToolError(e) && e.code).toBe(code);
    const msg = (e as Error).message;
    expect(msg).toMatch(message);
    expect(msg).not.toContain('\n');
    return e as Error;
  }
  throw new Error('expected an error');
}

const derOf = (key: KeyObject) => key.export({ type: 'pkcs8', format: 'der' });

describe('generateKeyPair', () => {
  const pair = generateKeyPair(PASSWORD);

  it('writes the encrypted key in go-securesystemslib JSON, in Go field order, as cosign does', () => {
    const pem = parsePem(pair.privateKeyPem);
    expect(pem.label).toBe('ENCRYPTED SIGSTORE PRIVATE KEY');
    expect(pem.lines.slice(0, -1).every((l) => l.length === 64)).toBe(true);
    expect(pem.lines.at(-1)!.length).toBeLessThanOrEqual(64);
    const text = pem.body.toString('utf8');
    const doc = JSON.parse(text);
    // Compact, as Go's json.Marshal writes it, and in the order of the Go struct fields.
    expect(text).toBe(JSON.stringify(doc));
    expect(Object.keys(doc)).toEqual(['kdf', 'cipher', 'ciphertext']);
    expect(Object.keys(doc.kdf)).toEqual(['name', 'params', 'salt']);
    expect(Object.keys(doc.cipher)).toEqual(['name', 'nonce']);
    expect(doc.kdf.name).toBe('scrypt');
    expect(JSON.stringify(doc.kdf.params)).toBe('{"N":32768,"r":8,"p":1}');
    expect(doc.cipher.name).toBe('nacl/secretbox');
    expect(Buffer.from(doc.kdf.salt, 'base64')).toHaveLength(32);
    expect(Buffer.from(doc.cipher.nonce, 'base64')).toHaveLength(24);
    expect(Buffer.from(doc.kdf.salt, 'base64').toString('base64')).toBe(doc.kdf.salt);
  });

  it('can be decrypted without oci-tool: scrypt + NaCl secretbox, PKCS#8 P-256 that the .pub verifies', () => {
    const doc = JSON.parse(parsePem(pair.privateKeyPem).body.toString('utf8'));
    const { N, r, p } = doc.kdf.params;
    const boxKey = scryptSync(Buffer.from(PASSWORD), Buffer.from(doc.kdf.salt, 'base64'), 32, { N, r, p, maxmem: 64 * 1024 * 1024 });
    const opened = nacl.secretbox.open(
      new Uint8Array(Buffer.from(doc.ciphertext, 'base64')), new Uint8Array(Buffer.from(doc.cipher.nonce, 'base64')), new Uint8Array(boxKey));
    expect(opened).not.toBeNull();
    const key = createPrivateKey({ key: Buffer.from(opened!), format: 'der', type: 'pkcs8' });
    expect(key.asymmetricKeyType).toBe('ec');
    expect(key.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');

    expect(parsePem(pair.publicKeyPem).label).toBe('PUBLIC KEY');
    const data = Buffer.from('a payload to sign');
    const signature = sign('sha256', data, key);
    expect(verify('sha256', data, createPublicKey(pair.publicKeyPem), signature)).toBe(true);
    expect(verify('sha256', Buffer.from('another payload'), createPublicKey(pair.publicKeyPem), signature)).toBe(false);
  });

  it('uses a fresh salt, nonce and key every time', () => {
    const other = parsePem(generateKeyPair(PASSWORD).privateKeyPem).body.toString();
    const first = parsePem(pair.privateKeyPem).body.toString();
    const a = JSON.parse(first);
    const b = JSON.parse(other);
    expect(a.kdf.salt).not.toBe(b.kdf.salt);
    expect(a.cipher.nonce).not.toBe(b.cipher.nonce);
    expect(a.ciphertext).not.toBe(b.ciphertext);
  });

  it('round-trips through decryptPrivateKey, with a string or Buffer password, and publicKeyPem gives the .pub', () => {
    const key = decryptPrivateKey(pair.privateKeyPem, PASSWORD, 'cosign.key');
    expect(decryptPrivateKey(pair.privateKeyPem, Buffer.from(PASSWORD), 'cosign.key').equals(key)).toBe(true);
    expect(publicKeyPem(key)).toBe(pair.publicKeyPem);
    expect(publicKeyPem(createPublicKey(key))).toBe(pair.publicKeyPem);
    expect(privateKeyNeedsPassword(pair.privateKeyPem)).toBe(true);
  });

  it('accepts an empty password, as cosign does with COSIGN_PASSWORD=""', () => {
    const empty = generateKeyPair('');
    expect(() => decryptPrivateKey(empty.privateKeyPem, 'x')).toThrow(/wrong password/);
    expect(publicKeyPem(decryptPrivateKey(empty.privateKeyPem, Buffer.alloc(0)))).toBe(empty.publicKeyPem);
  });
});

describe('decryptPrivateKey', () => {
  for (const label of ['ENCRYPTED SIGSTORE PRIVATE KEY', 'ENCRYPTED COSIGN PRIVATE KEY']) {
    it(`reads a key sealed independently under PEM "${label}"`, () => {
      const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const key = decryptPrivateKey(independentlyEncrypt(privateKey, PASSWORD, label), PASSWORD, 'k.key');
      expect(derOf(key).equals(derOf(privateKey))).toBe(true);
    });
  }

  it('reads the N=65536 and N=131072 settings newer go-securesystemslib versions write', () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    for (const N of [65536, 131072]) {
      const key = decryptPrivateKey(independentlyEncrypt(privateKey, PASSWORD, 'ENCRYPTED SIGSTORE PRIVATE KEY', { N, r: 8, p: 1 }), PASSWORD);
      expect(derOf(key).equals(derOf(privateKey))).toBe(true);
    }
  });

  it("opens go-securesystemslib's own test vector (its plaintext is not a key, so that is the error)", () => {
    // encrypted/encrypted_test.go TestDecrypt: "reallyimportant" sealed with "supersecret".
    const vector = '{"kdf":{"name":"scrypt","params":{"N":32768,"r":8,"p":1},"salt":"N9a7x5JFGbrtB2uBR81jPwp0eiLR4A7FV3mjVAQrg1g="},' +
      '"cipher":{"name":"nacl/secretbox","nonce":"2h8HxMmgRfuYdpswZBQaU3xJ1nkA/5Ik"},"ciphertext":"SEW6sUh0jf2wfdjJGPNS9+bkk2uB+Cxamf32zR8XkQ=="}';
    const doc = JSON.parse(vector);
    const boxKey = scryptSync('supersecret', Buffer.from(doc.kdf.salt, 'base64'), 32, { N: 32768, r: 8, p: 1, maxmem: 64 * 1024 * 1024 });
    const opened = nacl.secretbox.open(new Uint8Array(Buffer.from(doc.ciphertext, 'base64')), new Uint8Array(Buffer.from(doc.cipher.nonce, 'base64')), new Uint8Array(boxKey));
    expect(Buffer.from(opened!).toString()).toBe('reallyimportant');
    const pem = toPem('ENCRYPTED COSIGN PRIVATE KEY', Buffer.from(vector));
    expectError(() => decryptPrivateKey(pem, 'supersecret', 'vector.key'), 'OCI_ERR_BAD_KEY', /^vector\.key: the decrypted key is not a PKCS#8 private key$/);
    expectError(() => decryptPrivateKey(pem, 'supersecreT', 'vector.key'), 'OCI_ERR_BAD_PASSWORD', /^vector\.key: wrong password/);
  });

  it('takes unencrypted PKCS#8, SEC 1 and PKCS#1 private keys as they are, ignoring the password', () => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey;
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    const ed = generateKeyPairSync('ed25519').privateKey;
    const cases: [KeyObject, string][] = [
      [ec, ec.export({ type: 'pkcs8', format: 'pem' }).toString()],
      [ec, ec.export({ type: 'sec1', format: 'pem' }).toString()],
      [rsa, rsa.export({ type: 'pkcs1', format: 'pem' }).toString()],
      [ed, ed.export({ type: 'pkcs8', format: 'pem' }).toString()],
      // As `openssl ecparam -genkey` writes it: the curve's parameters first.
      [ec, `-----BEGIN EC PARAMETERS-----\nBgUrgQQAIg==\n-----END EC PARAMETERS-----\n${ec.export({ type: 'sec1', format: 'pem' })}`],
    ];
    for (const [key, pem] of cases) {
      expect(privateKeyNeedsPassword(pem)).toBe(false);
      expect(derOf(decryptPrivateKey(pem, 'ignored')).equals(derOf(key))).toBe(true);
    }
  });

  it('reports a wrong password as OCI_ERR_BAD_PASSWORD, naming the file and never the password', () => {
    const { privateKeyPem } = generateKeyPair('the-real-password');
    const secret = 'hunter2-typo';
    const err = expectError(() => decryptPrivateKey(privateKeyPem, secret, '/keys/cosign.key'), 'OCI_ERR_BAD_PASSWORD', /^\/keys\/cosign\.key: wrong password/);
    expect(err.message).not.toContain(secret);
    expect(err.message).not.toContain('the-real-password');
  });

  it('refuses malformed files, other KDFs and ciphers as OCI_ERR_BAD_KEY naming the file', () => {
    const bad = (pem: string, message: RegExp) => expectError(() => decryptPrivateKey(pem, PASSWORD, 'bad.key'), 'OCI_ERR_BAD_KEY', message);
    bad('not a key at all', /^bad\.key: not a PEM private key$/);
    bad(toPem('ENCRYPTED SIGSTORE PRIVATE KEY', Buffer.from('{"kdf": oops')), /^bad\.key: the encrypted key is not JSON$/);
    bad(toPem('ENCRYPTED SIGSTORE PRIVATE KEY', Buffer.from('[]')), /^bad\.key: .*lacks "kdf" or "cipher"/);
    bad(editedEnvelope((d) => { d.cipher.name = 'aes-256-gcm'; }), /^bad\.key: unsupported cipher "aes-256-gcm"/);
    bad(editedEnvelope((d) => { d.kdf.name = 'argon2id'; }), /^bad\.key: unsupported key derivation "argon2id"/);
    bad(editedEnvelope((d) => { d.cipher.nonce = 'AAAA'; }), /^bad\.key: the nonce is 3 bytes, not 24$/);
    bad(editedEnvelope((d) => { d.ciphertext = 'not base64!'; }), /^bad\.key: "ciphertext" in the encrypted key is not base64$/);
    bad(editedEnvelope((d) => { d.kdf.params.N = 1000; }), /^bad\.key: invalid scrypt parameters N=1000 r=8 p=1$/);
    bad(editedEnvelope((d) => { d.kdf.params.r = '8'; }), /^bad\.key: invalid scrypt parameters/);
    bad(toPem('PUBLIC KEY', Buffer.from('x')), /^bad\.key: PEM "PUBLIC KEY" is not a private key/);
    bad(toPem('PRIVATE KEY', Buffer.from('garbage')), /^bad\.key: malformed PRIVATE KEY$/);
    bad('-----BEGIN PRIVATE KEY-----\nabc\n-----END EC PRIVATE KEY-----\n', /^bad\.key: not a PEM private key$/);
  });

  it('refuses costly scrypt parameters before spending memory or time on them', () => {
    const hostile = (params: object) => toPem('ENCRYPTED SIGSTORE PRIVATE KEY', Buffer.from(JSON.stringify({
      kdf: { name: 'scrypt', params, salt: randomBytes(32).toString('base64') },
      cipher: { name: 'nacl/secretbox', nonce: randomBytes(24).toString('base64') },
      ciphertext: randomBytes(150).toString('base64'),
    })));
    const rssBefore = process.memoryUsage().rss;
    const started = process.hrtime.bigint();
    // 2^18 at r=8 would be 256 MiB and about a second of work; 2^30 would be 128 GiB.
    for (const params of [{ N: 2 ** 30, r: 8, p: 1 }, { N: 2 ** 18, r: 8, p: 1 }, { N: 32768, r: 8, p: 64 }, { N: 2, r: 2 ** 40, p: 1 }]) {
      expectError(() => decryptPrivateKey(hostile(params), PASSWORD, 'hostile.key'), 'OCI_ERR_BAD_KEY',
        /^hostile\.key: scrypt parameters N=\d+ r=\d+ p=\d+ ask for more work than oci-tool allows/);
    }
    expect(Number(process.hrtime.bigint() - started) / 1e6).toBeLessThan(100);
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(64 * 1024 * 1024);
    expectError(() => decryptPrivateKey(hostile({ N: 1.5, r: 8, p: 1 }), PASSWORD, 'hostile.key'), 'OCI_ERR_BAD_KEY', /invalid scrypt parameters/);
  });

  it('refuses key types cosign does not sign with', () => {
    const x25519 = generateKeyPairSync('x25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    expectError(() => decryptPrivateKey(x25519, ''), 'OCI_ERR_BAD_KEY', /unsupported key type x25519/);
    const k1 = generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).privateKey;
    expectError(() => decryptPrivateKey(independentlyEncrypt(k1, PASSWORD, 'ENCRYPTED SIGSTORE PRIVATE KEY'), PASSWORD, 'k1.key'),
      'OCI_ERR_BAD_KEY', /^k1\.key: unsupported elliptic curve secp256k1/);
  });

  it('encryptPrivateKey seals other key types too, and refuses a public key', () => {
    const ed = generateKeyPairSync('ed25519').privateKey;
    expect(derOf(decryptPrivateKey(encryptPrivateKey(ed, 'pw'), 'pw')).equals(derOf(ed))).toBe(true);
    expectError(() => encryptPrivateKey(createPublicKey(ed), 'pw'), 'OCI_ERR_BAD_KEY', /private key/);
  });
});

describe('loadPublicKey', () => {
  it("reads cosign's test key and verifies a signature cosign made with it", async () => {
    const key = loadPublicKey(await readFile(join(COSIGN, 'raw/cosign.pub'), 'utf8'), 'cosign.pub');
    expect(key.asymmetricKeyType).toBe('ec');
    expect(key.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    const vector = JSON.parse(await readFile(join(COSIGN, 'dir-img-cosign-valid--signature-1.json'), 'utf8'));
    const payload = Buffer.from(vector.payloadBase64, 'base64');
    const signature = Buffer.from(vector.signature, 'base64');
    expect(verify('sha256', payload, { key, dsaEncoding: 'der' }, signature)).toBe(true);
    expect(verify('sha256', Buffer.concat([payload, Buffer.from(' ')]), key, signature)).toBe(false);
    expect(publicKeyPem(key)).toBe(vector.publicKey);
  });

  it('reads an RSA public key and the public key of a certificate', async () => {
    const rsa = loadPublicKey(await readFile(join(COSIGN, 'raw/some-rsa-key.pub'), 'utf8'));
    expect(rsa.asymmetricKeyType).toBe('rsa');
    expect(rsa.asymmetricKeyDetails?.modulusLength).toBe(4096);
    const cert = loadPublicKey(await readFile(join(COSIGN, 'raw/fulcio-cert'), 'utf8'), 'fulcio-cert');
    expect(cert.asymmetricKeyType).toBe('ec');
    const ed = generateKeyPairSync('ed25519').publicKey;
    expect(loadPublicKey(publicKeyPem(ed)).equals(ed)).toBe(true);
    const p521 = generateKeyPairSync('ec', { namedCurve: 'P-521' }).publicKey;
    expect(loadPublicKey(publicKeyPem(p521)).equals(p521)).toBe(true);
  });

  it('refuses anything else as OCI_ERR_BAD_KEY naming the file', () => {
    const bad = (pem: string, message: RegExp) => expectError(() => loadPublicKey(pem, 'k.pub'), 'OCI_ERR_BAD_KEY', message);
    bad('hello', /^k\.pub: not a PEM public key or certificate$/);
    bad(generateKeyPair('pw').privateKeyPem, /^k\.pub: PEM "ENCRYPTED SIGSTORE PRIVATE KEY" is not a public key or certificate$/);
    bad(toPem('PUBLIC KEY', Buffer.from('garbage')), /^k\.pub: malformed PUBLIC KEY$/);
    bad(toPem('CERTIFICATE', Buffer.from('garbage')), /^k\.pub: malformed CERTIFICATE$/);
    bad(publicKeyPem(generateKeyPairSync('x25519').publicKey), /^k\.pub: unsupported key type x25519/);
    bad(publicKeyPem(generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).publicKey), /^k\.pub: unsupported elliptic curve secp256k1/);
    bad(publicKeyPem(generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey), /^k\.pub: RSA key of 1024 bits is too small/);
  });
});

describe('readPassword', () => {
  let dir: string;
  let file: string;
  const never = () => Promise.reject(new Error('must not prompt'));

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'oci-tool-password-'));
    file = join(dir, 'password.txt');
    await writeFile(file, 'from-file\nsecond line\n');
  });
  afterAll(async () => { await rm(dir, { recursive: true, force: true }); });

  const env = { OCI_TOOL_PASSWORD: 'from-oci-tool', COSIGN_PASSWORD: 'from-cosign' };

  it('takes --password-file first, its first line without the newline', async () => {
    expect((await readPassword({ passwordFile: file, env, prompt: never })).toString()).toBe('from-file');
    const crlf = join(dir, 'crlf.txt');
    await writeFile(crlf, 'windows\r\nmore');
    expect((await readPassword({ passwordFile: crlf, env })).toString()).toBe('windows');
    const bare = join(dir, 'bare.txt');
    await writeFile(bare, 'no newline at all');
    expect((await readPassword({ passwordFile: bare })).toString()).toBe('no newline at all');
    const empty = join(dir, 'empty.txt');
    await writeFile(empty, '');
    expect(await readPassword({ passwordFile: empty, env })).toEqual(Buffer.alloc(0));
  });

  it('reads only the first line of a large file, and refuses an endless first line', async () => {
    const big = join(dir, 'big.txt');
    await writeFile(big, `short\n${'x'.repeat(1024 * 1024)}`);
    expect((await readPassword({ passwordFile: big })).toString()).toBe('short');
    const huge = join(dir, 'huge.txt');
    await writeFile(huge, 'x'.repeat(1024 * 1024));
    await expect(readPassword({ passwordFile: huge })).rejects.toMatchObject({ code: 'OCI_ERR_USAGE', message: expect.stringMatching(/longer than 64 KiB/) });
  });

  it('reports a missing password file', async () => {
    await expect(readPassword({ passwordFile: join(dir, 'nope'), env })).rejects.toMatchObject({ code: 'OCI_ERR_NOT_FOUND' });
  });

  it('then OCI_TOOL_PASSWORD, then COSIGN_PASSWORD; set but empty counts', async () => {
    expect((await readPassword({ env, prompt: never })).toString()).toBe('from-oci-tool');
    expect((await readPassword({ env: { COSIGN_PASSWORD: 'from-cosign' }, prompt: never })).toString()).toBe('from-cosign');
    expect(await readPassword({ env: { OCI_TOOL_PASSWORD: '', COSIGN_PASSWORD: 'from-cosign' }, prompt: never })).toEqual(Buffer.alloc(0));
    expect(await readPassword({ env: { COSIGN_PASSWORD: '' }, prompt: never })).toEqual(Buffer.alloc(0));
  });

  it('then the prompt, asked twice with confirm', async () => {
    const questions: string[] = [];
    const answers = ['typed', 'typed'];
    const prompt = (q: string) => { questions.push(q); return Promise.resolve(answers.shift()!); };
    expect((await readPassword({ env: {}, prompt, confirm: true })).toString()).toBe('typed');
    expect(questions).toEqual(['Enter password for private key: ', 'Enter password for private key again: ']);
    questions.length = 0;
    answers.push('once');
    expect((await readPassword({ env: {}, prompt })).toString()).toBe('once');
    expect(questions).toHaveLength(1);
    answers.push('one', 'other');
    await expect(readPassword({ env: {}, prompt, confirm: true })).rejects.toMatchObject({ code: 'OCI_ERR_USAGE', message: 'the two passwords do not match' });
  });

  it('else explains the three ways as a usage error', async () => {
    await expect(readPassword({ env: {} })).rejects.toMatchObject({
      code: 'OCI_ERR_USAGE',
      message: expect.stringMatching(/--password-file FILE.*OCI_TOOL_PASSWORD.*COSIGN_PASSWORD/),
    });
  });
});
