// Authenticated pulls from docker-registry: htpasswd over TLS (credentials from config.json and
// from a credential helper) and token auth (anonymous and with credentials) with a test token server.
import { chmod, copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeImage } from '../../fixtures/build-image.js';
import { busybox } from '../../fixtures/images.js';
import { makeCertificates, makeTokenSigningCert } from '../support/certs.js';
import { runCli } from '../support/cli.js';
import { startRegistry, type RunningRegistry } from '../support/docker-registry.js';
import { pushLayout } from '../support/push.js';
import { startTokenServer, type TokenServer } from '../support/token-server.js';

const USER = 'alice';
const PASSWORD = 'correct horse:battery';

let work: string;
let seed: RunningRegistry;
let tlsReg: RunningRegistry;
let tokenReg: RunningRegistry;
let tokens: TokenServer;
let certDir: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'oci-tool-auth-'));
  const storageDir = join(work, 'storage');
  await mkdir(storageDir);
  seed = await startRegistry({ storageDir });
  const src = join(work, 'src');
  await writeImage(src, busybox(), 'busybox');
  await pushLayout(src, { url: seed.url, repository: 'library/busybox', tag: 'latest' }, 'busybox');

  const certs = await makeCertificates(join(work, 'certs'));
  tlsReg = await startRegistry({ storageDir, tls: { certFile: certs.serverCertFile, keyFile: certs.serverKeyFile }, htpasswd: { username: USER, password: PASSWORD } });
  certDir = join(work, 'certdir');
  await mkdir(certDir);
  await copyFile(certs.caCertFile, join(certDir, 'ca.crt'));

  const signing = await makeTokenSigningCert(join(work, 'signing'));
  tokens = await startTokenServer({ signingKey: signing.key, signingCert: signing.cert, issuer: 'test-issuer', users: { [USER]: PASSWORD }, anonymous: true });
  tokenReg = await startRegistry({ storageDir, token: { realm: tokens.realm, service: 'test-registry', issuer: 'test-issuer', rootCertBundle: signing.certFile } });
});

afterAll(async () => {
  await Promise.all([seed?.stop(), tlsReg?.stop(), tokenReg?.stop(), tokens?.stop()]);
  if (work) await rm(work, { recursive: true, force: true });
});

/** An environment with a private HOME, so that no credentials of the machine leak in. */
async function isolatedEnv(name: string, dockerConfig?: object): Promise<NodeJS.ProcessEnv> {
  const home = join(work, `home-${name}`);
  await mkdir(join(home, '.docker'), { recursive: true });
  if (dockerConfig) await writeFile(join(home, '.docker', 'config.json'), JSON.stringify(dockerConfig));
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: home };
  return env;
}

const basicAuth = Buffer.from(`${USER}:${PASSWORD}`).toString('base64');

describe('htpasswd over TLS', () => {
  it('pulls with credentials from config.json', async () => {
    const env = await isolatedEnv('config', { auths: { [tlsReg.host]: { auth: basicAuth } } });
    const res = await runCli(['pull', `${tlsReg.host}/library/busybox:latest`, '--layout', join(work, 'tls1'), '--cert-dir', certDir, '--json'], { env });
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect((JSON.parse(res.stdout) as { blobs: { fetched: number } }).blobs.fetched).toBe(3);
  });

  it('pulls with credentials from a credential helper', async () => {
    const env = await isolatedEnv('helper', { credHelpers: { [tlsReg.host]: 'ocitest' } });
    const bin = join(work, 'bin');
    await mkdir(bin, { recursive: true });
    const helper = join(bin, 'docker-credential-ocitest');
    await writeFile(helper, `#!/bin/sh\nread server\n[ "$1" = get ] || exit 1\nprintf '{"ServerURL":"%s","Username":"${USER}","Secret":"${PASSWORD}"}' "$server"\n`);
    await chmod(helper, 0o755);
    env.PATH = `${bin}:${process.env.PATH}`;
    const res = await runCli(['pull', `${tlsReg.host}/library/busybox:latest`, '--layout', join(work, 'tls2'), '--cert-dir', certDir, '-q'], { env });
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
  });

  it('fails with exit code 4 without credentials or with a wrong password, never echoing it', async () => {
    const anon = await runCli(['pull', `${tlsReg.host}/library/busybox:latest`, '--layout', join(work, 'tls3'), '--cert-dir', certDir], { env: await isolatedEnv('anon') });
    expect(anon.code).toBe(4);
    expect(anon.stderr).toMatch(/requires a user name and password/);
    const wrong = await runCli(['pull', `${tlsReg.host}/library/busybox:latest`, '--layout', join(work, 'tls3'), '--cert-dir', certDir, '--username', USER, '--password-stdin'], { env: await isolatedEnv('wrong'), input: 'not-the-password-xyz\n' });
    expect(wrong.code).toBe(4);
    expect(wrong.stderr).not.toContain('not-the-password-xyz');
    expect(wrong.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('trusts CAs from a certs.d folder for the host and from NODE_EXTRA_CA_CERTS', async () => {
    const env = await isolatedEnv('certsd', { auths: { [tlsReg.host]: { auth: basicAuth } } });
    const hostDir = join(String(env.HOME), '.config', 'containers', 'certs.d', tlsReg.host);
    await mkdir(hostDir, { recursive: true });
    await copyFile(join(certDir, 'ca.crt'), join(hostDir, 'ca.crt'));
    const viaCertsD = await runCli(['pull', `${tlsReg.host}/library/busybox:latest`, '--layout', join(work, 'tls5'), '-q'], { env });
    expect(viaCertsD.stderr).toBe('');
    expect(viaCertsD.code).toBe(0);

    const env2 = await isolatedEnv('extra-ca', { auths: { [tlsReg.host]: { auth: basicAuth } } });
    env2.NODE_EXTRA_CA_CERTS = join(certDir, 'ca.crt');
    const viaEnv = await runCli(['pull', `${tlsReg.host}/library/busybox:latest`, '--layout', join(work, 'tls6'), '-q'], { env: env2 });
    expect(viaEnv.stderr).toBe('');
    expect(viaEnv.code).toBe(0);
  });

  it('refuses a certificate it cannot verify unless told not to verify', async () => {
    const env = await isolatedEnv('untrusted', { auths: { [tlsReg.host]: { auth: basicAuth } } });
    const res = await runCli(['pull', `${tlsReg.host}/library/busybox:latest`, '--layout', join(work, 'tls4')], { env });
    expect(res.code).toBe(6);
    expect(res.stderr).toMatch(/certificate|self.signed|UNABLE_TO_VERIFY/i);
    const insecure = await runCli(['pull', `${tlsReg.host}/library/busybox:latest`, '--layout', join(work, 'tls4'), '--tls-verify=false', '-q'], { env });
    expect(insecure.code).toBe(0);
  });
});

describe('token auth', () => {
  it('pulls anonymously with a token', async () => {
    const before = tokens.requests.length;
    const res = await runCli(['pull', `${tokenReg.host}/library/busybox:latest`, '--layout', join(work, 'tok1'), '-q'], { env: await isolatedEnv('tok-anon') });
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    const asked = tokens.requests.slice(before);
    expect(asked.length).toBeGreaterThan(0);
    expect(asked.every((r) => !r.hasAuthorization)).toBe(true);
    expect(asked[0]?.scopes).toEqual(['repository:library/busybox:pull']);
  });

  it('pulls with credentials, asking the token server once per scope', async () => {
    const before = tokens.requests.length;
    const env = await isolatedEnv('tok-auth', { auths: { [tokenReg.host]: { auth: basicAuth } } });
    const res = await runCli(['pull', `${tokenReg.host}/library/busybox:latest`, '--layout', join(work, 'tok2'), '-q'], { env });
    expect(res.code).toBe(0);
    const asked = tokens.requests.slice(before);
    expect(asked).toHaveLength(1);
    expect(asked[0]?.hasAuthorization).toBe(true);
    expect(asked[0]?.account).toBe(USER);
  });

  it('uses the OAuth2 refresh-token grant for identity tokens', async () => {
    const res = await runCli(['pull', `${tokenReg.host}/library/busybox:latest`, '--layout', join(work, 'tok3'), '-q'], {
      env: await isolatedEnv('tok-identity', { auths: { [tokenReg.host]: { identitytoken: 'refresh-for-alice' } } }),
    });
    // The test token server grants refresh tokens it issued itself; an unknown one is refused.
    const last = tokens.requests[tokens.requests.length - 1];
    expect(last?.method).toBe('POST');
    expect(last?.grantType).toBe('refresh_token');
    expect(res.code).toBe(4);
  });
});
