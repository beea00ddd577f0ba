import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isOciToolError } from '../../../src/errors.js';
import { credentialSource, staticCredentials, type CredentialOptions } from '../../../src/registry/credentials.js';

let root: string;
let bin: string;
let helperLog: string;
let counter = 0;

const b64 = (s: string) => Buffer.from(s).toString('base64');

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'oci-tool-creds-'));
  bin = join(root, 'bin');
  helperLog = join(root, 'helper.log');
  await mkdir(bin);
  // Answers like docker-credential-helpers: JSON on success, "credentials not found" and exit 1 otherwise.
  await helper('ocitest', `server=$(cat)
echo "$server" >> '${helperLog}'
case "$server" in
  reg.example.com|localhost:5000) printf '{"ServerURL":"%s","Username":"helper-user","Secret":"helper-pass"}' "$server" ;;
  https://index.docker.io/v1/) printf '{"ServerURL":"%s","Username":"<token>","Secret":"refresh-token"}' "$server" ;;
  *) echo "credentials not found in native keychain"; exit 1 ;;
esac`);
  await helper('broken', 'cat >/dev/null\necho "oops secret-in-stderr" >&2\nexit 3');
  await helper('garbage', 'cat >/dev/null\necho "not json secret-in-stdout"');
});

afterAll(async () => {
  if (root) await rm(root, { recursive: true, force: true });
});

async function helper(name: string, body: string): Promise<void> {
  const file = join(bin, `docker-credential-${name}`);
  await writeFile(file, `#!/bin/sh\n[ "$1" = get ] || exit 1\n${body}\n`);
  await chmod(file, 0o755);
}

/** A fresh HOME with nothing in it, and an environment that does not see the machine's own files. */
async function home(): Promise<{ home: string; env: NodeJS.ProcessEnv; opts: (extra?: Partial<CredentialOptions>) => CredentialOptions }> {
  const dir = join(root, `home-${++counter}`);
  await mkdir(dir);
  const env: NodeJS.ProcessEnv = { HOME: dir, PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}` };
  return { home: dir, env, opts: (extra = {}) => ({ env, homeDir: dir, ...extra }) };
}

async function writeJson(path: string, value: unknown): Promise<string> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, typeof value === 'string' ? value : JSON.stringify(value));
  return path;
}

const entry = (user: string, password = 'pw') => ({ auth: b64(`${user}:${password}`) });

async function helperCalls(): Promise<string[]> {
  try {
    return (await readFile(helperLog, 'utf8')).split('\n').filter(Boolean);
  } catch {
    return [];
  }
}

describe('credential files', () => {
  it('searches the files in order, the first one with a credential winning', async () => {
    const h = await home();
    const files = {
      authFile: join(h.home, 'explicit.json'),
      registryAuthFile: join(h.home, 'env-auth.json'),
      runtime: join(h.home, 'run', 'containers', 'auth.json'),
      config: join(h.home, 'xdg', 'containers', 'auth.json'),
      docker: join(h.home, 'dockercfg', 'config.json'),
    };
    for (const [name, path] of Object.entries(files)) await writeJson(path, { auths: { 'reg.example.com': entry(name) } });
    Object.assign(h.env, {
      REGISTRY_AUTH_FILE: files.registryAuthFile,
      XDG_RUNTIME_DIR: join(h.home, 'run'),
      XDG_CONFIG_HOME: join(h.home, 'xdg'),
      DOCKER_CONFIG: join(h.home, 'dockercfg'),
    });
    const user = async () => (await credentialSource(h.opts({ authFile: files.authFile })).lookup('reg.example.com'))?.username;

    const order = ['authFile', 'registryAuthFile', 'runtime', 'config', 'docker'] as const;
    for (const name of order) {
      expect(await user()).toBe(name);
      // A file without an entry for this registry passes the search on.
      await writeJson(files[name], { auths: { 'other.example.com': entry('other') } });
    }
    expect(await user()).toBeUndefined();
  });

  it('defaults to ~/.config/containers/auth.json, then ~/.docker/config.json', async () => {
    const h = await home();
    await writeJson(join(h.home, '.docker', 'config.json'), { auths: { 'reg.example.com': entry('docker') } });
    expect((await credentialSource(h.opts()).lookup('reg.example.com'))?.username).toBe('docker');
    await writeJson(join(h.home, '.config', 'containers', 'auth.json'), { auths: { 'reg.example.com': entry('podman') } });
    expect((await credentialSource(h.opts()).lookup('reg.example.com'))?.username).toBe('podman');
    // HOME from the environment when no homeDir is given.
    expect((await credentialSource({ env: h.env }).lookup('reg.example.com'))?.username).toBe('podman');
  });

  it('skips missing files silently, including a missing --authfile', async () => {
    const h = await home();
    h.env.REGISTRY_AUTH_FILE = join(h.home, 'nope', 'auth.json');
    expect(await credentialSource(h.opts({ authFile: join(h.home, 'missing.json') })).lookup('reg.example.com')).toBeUndefined();
  });

  it('treats an empty file as an empty config', async () => {
    const h = await home();
    const authFile = await writeJson(join(h.home, 'empty.json'), '  \n');
    await writeJson(join(h.home, '.docker', 'config.json'), { auths: { 'reg.example.com': entry('docker') } });
    expect((await credentialSource(h.opts({ authFile })).lookup('reg.example.com'))?.username).toBe('docker');
  });

  it('rejects a file that is not JSON, naming the file but not quoting it', async () => {
    const h = await home();
    const authFile = await writeJson(join(h.home, 'bad.json'), '{"auths": {"reg.example.com": {"auth": "c2VjcmV0LXZhbHVl" }');
    const err = await credentialSource(h.opts({ authFile })).lookup('reg.example.com').catch((e: unknown) => e);
    expect(isOciToolError(err) && err.code).toBe('OCI_ERR_BAD_CONFIG');
    const message = (err as Error).message;
    expect(message).toContain(authFile);
    expect(message).not.toContain('c2VjcmV0');
    expect((err as Error).cause).toBeUndefined();

    const notObject = await writeJson(join(h.home, 'array.json'), '["c2VjcmV0LXZhbHVl"]');
    const err2 = await credentialSource(h.opts({ authFile: notObject })).lookup('reg.example.com').catch((e: unknown) => e);
    expect(isOciToolError(err2) && err2.code).toBe('OCI_ERR_BAD_CONFIG');
    expect((err2 as Error).message).not.toContain('c2VjcmV0');
  });

  it('rejects an "auth" that is not user:password without quoting it', async () => {
    const h = await home();
    const authFile = await writeJson(join(h.home, 'a.json'), { auths: { 'reg.example.com': { auth: b64('justasecret') } } });
    const err = await credentialSource(h.opts({ authFile })).lookup('reg.example.com').catch((e: unknown) => e);
    expect(isOciToolError(err) && err.code).toBe('OCI_ERR_BAD_CONFIG');
    expect((err as Error).message).toContain(authFile);
    expect((err as Error).message).not.toMatch(/justasecret|anVzdGFzZWNyZXQ/);
  });
});

describe('auths entries', () => {
  async function lookup(auths: Record<string, unknown>, registry: string, repository?: string) {
    const h = await home();
    const authFile = await writeJson(join(h.home, 'auth.json'), { auths });
    return credentialSource(h.opts({ authFile })).lookup(registry, repository);
  }

  it('splits base64 "auth" at the first colon only', async () => {
    expect(await lookup({ 'reg.example.com': { auth: b64('alice:pa:ss:word') } }, 'reg.example.com')).toEqual({ username: 'alice', password: 'pa:ss:word' });
    expect(await lookup({ 'reg.example.com': { auth: b64('alice:') } }, 'reg.example.com')).toEqual({ username: 'alice', password: '' });
  });

  it('reads username/password, identitytoken and registrytoken', async () => {
    expect(await lookup({ 'reg.example.com': { username: 'bob', password: 'pw' } }, 'reg.example.com')).toEqual({ username: 'bob', password: 'pw' });
    expect(await lookup({ 'reg.example.com': { auth: b64('bob:'), identitytoken: 'refresh' } }, 'reg.example.com')).toEqual({
      username: 'bob', password: '', identityToken: 'refresh',
    });
    expect(await lookup({ 'reg.example.com': { registrytoken: 'bearer-tok' } }, 'reg.example.com')).toEqual({ registryToken: 'bearer-tok' });
  });

  it.each([
    'https://index.docker.io/v1/',
    'https://index.docker.io/v1',
    'index.docker.io',
    'docker.io',
    'registry-1.docker.io',
    'https://registry-1.docker.io/v2/',
  ])('finds Docker Hub credentials under %s', async (key) => {
    expect((await lookup({ [key]: entry('hub') }, 'docker.io', 'library/busybox'))?.username).toBe('hub');
  });

  it('prefers a literal key over an alias of it', async () => {
    expect((await lookup({ 'https://index.docker.io/v1/': entry('legacy'), 'docker.io': entry('literal') }, 'docker.io'))?.username).toBe('literal');
  });

  it.each([
    ['reg.example.com:5000', 'reg.example.com:5000'],
    ['https://reg.example.com:5000/', 'reg.example.com:5000'],
    ['http://reg.example.com/v1/', 'reg.example.com'],
    ['https://REG.Example.com', 'reg.example.com'],
    ['reg.example.com', 'REG.EXAMPLE.COM'],
  ])('matches key %s for registry %s', async (key, registry) => {
    expect((await lookup({ [key]: entry('u') }, registry, 'ns/repo'))?.username).toBe('u');
  });

  it('does not confuse hosts or ports', async () => {
    expect(await lookup({ 'reg.example.com:5000': entry('u') }, 'reg.example.com')).toBeUndefined();
    expect(await lookup({ 'reg.example.com': entry('u') }, 'reg.example.com.evil')).toBeUndefined();
    expect(await lookup({ 'docker.io': entry('u') }, 'ghcr.io')).toBeUndefined();
  });

  it('uses the most specific namespaced key', async () => {
    const auths = {
      'reg.example.com': entry('host'),
      'reg.example.com/team': entry('team'),
      'reg.example.com/team/app': entry('app'),
      'reg.example.com/tea': entry('prefix-not-a-namespace'),
    };
    expect((await lookup(auths, 'reg.example.com', 'team/app'))?.username).toBe('app');
    expect((await lookup(auths, 'reg.example.com', 'team/app/sub'))?.username).toBe('app');
    expect((await lookup(auths, 'reg.example.com', 'team/other'))?.username).toBe('team');
    expect((await lookup(auths, 'reg.example.com', 'teams/x'))?.username).toBe('host');
    expect((await lookup(auths, 'reg.example.com'))?.username).toBe('host');
    expect((await lookup({ 'docker.io/library': entry('lib') }, 'docker.io', 'library/busybox'))?.username).toBe('lib');
    expect(await lookup({ 'reg.example.com/team': entry('team') }, 'reg.example.com', 'other/app')).toBeUndefined();
  });

  it('passes over empty entries', async () => {
    expect((await lookup({ 'reg.example.com/team': {}, 'reg.example.com': entry('host') }, 'reg.example.com', 'team/app'))?.username).toBe('host');
    expect(await lookup({ 'reg.example.com': {} }, 'reg.example.com')).toBeUndefined();
  });
});

describe('credential helpers', () => {
  it('runs docker-credential-<name> get with the server on stdin', async () => {
    const h = await home();
    const before = (await helperCalls()).length;
    await writeJson(join(h.home, '.docker', 'config.json'), { credHelpers: { 'reg.example.com': 'ocitest', 'docker.io': 'ocitest' } });
    const source = credentialSource(h.opts());
    expect(await source.lookup('reg.example.com', 'a/b')).toEqual({ username: 'helper-user', password: 'helper-pass' });
    // Docker Hub is asked for by its v1 URL, and "<token>" marks an identity token.
    expect(await source.lookup('docker.io', 'library/busybox')).toEqual({ identityToken: 'refresh-token' });
    expect((await helperCalls()).slice(before)).toEqual(['reg.example.com', 'https://index.docker.io/v1/']);
  });

  it('asks a helper once per server within a source', async () => {
    const h = await home();
    await writeJson(join(h.home, '.docker', 'config.json'), { credsStore: 'ocitest' });
    const before = (await helperCalls()).length;
    const source = credentialSource(h.opts());
    const results = await Promise.all([source.lookup('localhost:5000', 'a'), source.lookup('localhost:5000', 'b'), source.lookup('localhost:5000')]);
    expect(results.every((r) => r?.username === 'helper-user')).toBe(true);
    expect((await helperCalls()).slice(before)).toEqual(['localhost:5000']);
  });

  it('prefers credHelpers to auths, and auths to credsStore', async () => {
    const h = await home();
    const calls: string[] = [];
    const runHelper = async (name: string, server: string) => {
      calls.push(`${name} ${server}`);
      return JSON.stringify({ ServerURL: server, Username: name, Secret: 's' });
    };
    const authFile = await writeJson(join(h.home, 'auth.json'), {
      credHelpers: { 'a.example.com': 'per-registry' },
      auths: { 'a.example.com': entry('auths-a'), 'b.example.com': entry('auths-b'), 'c.example.com': {} },
      credsStore: 'store',
    });
    const source = credentialSource(h.opts({ authFile, runHelper }));
    expect((await source.lookup('a.example.com'))?.username).toBe('per-registry');
    expect((await source.lookup('b.example.com'))?.username).toBe('auths-b');
    expect((await source.lookup('c.example.com'))?.username).toBe('store');
    expect(calls).toEqual(['per-registry a.example.com', 'store c.example.com']);
  });

  it('moves on to the next file when a helper has no credential', async () => {
    const h = await home();
    const authFile = await writeJson(join(h.home, 'auth.json'), { credHelpers: { 'nothing.example.com': 'ocitest' } });
    await writeJson(join(h.home, '.docker', 'config.json'), { auths: { 'nothing.example.com': entry('fallback') } });
    expect((await credentialSource(h.opts({ authFile })).lookup('nothing.example.com'))?.username).toBe('fallback');
    expect(await credentialSource(h.opts({ authFile: join(h.home, '.docker', 'none.json') })).lookup('other.example.com')).toBeUndefined();
  });

  it.each([
    ['broken', /docker-credential-broken failed \(exit code 3\)/],
    ['garbage', /docker-credential-garbage .*not JSON/],
    ['absent', /docker-credential-absent is not installed/],
  ])('reports a failing helper (%s) as an auth error without its output', async (name, message) => {
    const h = await home();
    await writeJson(join(h.home, '.docker', 'config.json'), { credsStore: name });
    const err = await credentialSource(h.opts()).lookup('reg.example.com').catch((e: unknown) => e);
    expect(isOciToolError(err) && err.code).toBe('OCI_ERR_AUTH');
    expect((err as Error).message).toMatch(message);
    expect((err as Error).message).not.toContain('secret-in');
  });

  it('refuses helper names that are paths', async () => {
    const h = await home();
    await writeJson(join(h.home, '.docker', 'config.json'), { credsStore: '../../bin/sh' });
    const err = await credentialSource(h.opts()).lookup('reg.example.com').catch((e: unknown) => e);
    expect(isOciToolError(err) && err.code).toBe('OCI_ERR_BAD_CONFIG');
  });
});

describe('staticCredentials', () => {
  it('gives the same credential for every registry', async () => {
    const source = staticCredentials({ username: 'u', password: 'p' });
    expect(await source.lookup('a.example.com')).toEqual({ username: 'u', password: 'p' });
    expect(await source.lookup('docker.io', 'library/busybox')).toEqual({ username: 'u', password: 'p' });
  });
});
