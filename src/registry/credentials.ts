// Where registry credentials come from, as docker and the containers tools (podman, skopeo) look
// for them: auth.json / config.json files and docker-credential-* helpers. Secrets never go into
// error messages, and neither does the content of a file that fails to parse.
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { OciToolError } from '../errors.js';

export interface Credential {
  username?: string;
  password?: string;
  /** OAuth2 refresh token, exchanged at the token realm. */
  identityToken?: string;
  /** Bearer token sent to the registry as is. */
  registryToken?: string;
}

export interface CredentialSource {
  lookup(registry: string, repository?: string): Promise<Credential | undefined>;
}

export interface CredentialOptions {
  env?: NodeJS.ProcessEnv;
  homeDir?: string;
  /** --authfile */
  authFile?: string;
  /** Runs a helper's `get`, returning its stdout; for tests. Default: spawns docker-credential-<name>. */
  runHelper?: (name: string, serverUrl: string) => Promise<string | undefined>;
}

const DOCKER_HUB = 'docker.io';
const DOCKER_HUB_ALIASES = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io']);
// Docker keys Hub credentials (files and helpers) by the old v1 index URL.
const DOCKER_HUB_SERVER = 'https://index.docker.io/v1/';
const HELPER_TIMEOUT_MS = 10_000;

interface ConfigFile {
  path: string;
  auths: Record<string, unknown>;
  credHelpers: Record<string, unknown>;
  credsStore?: string;
}

/** For --username / --password-stdin: the same credential for every registry. */
export function staticCredentials(cred: Credential): CredentialSource {
  return { lookup: () => Promise.resolve({ ...cred }) };
}

export function credentialSource(opts: CredentialOptions = {}): CredentialSource {
  const env = opts.env ?? process.env;
  const files = configPaths(env, opts);
  const runHelper = opts.runHelper ?? ((name: string, server: string) => spawnHelper(name, server, env));
  const helperCache = new Map<string, Promise<Credential | undefined>>();
  const fileCache = new Map<string, Promise<ConfigFile | undefined>>();

  const helper = (name: string, registry: string): Promise<Credential | undefined> => {
    const server = registry === DOCKER_HUB ? DOCKER_HUB_SERVER : registry;
    const key = `${name}\0${server}`;
    let pending = helperCache.get(key);
    if (!pending) {
      pending = runHelper(name, server).then((out) => (out === undefined ? undefined : parseHelperOutput(name, out)));
      helperCache.set(key, pending);
    }
    return pending;
  };

  return {
    async lookup(registryIn, repository) {
      const registry = normalizeHost(registryIn);
      for (const path of files) {
        let file = fileCache.get(path);
        if (!file) fileCache.set(path, (file = loadConfig(path)));
        const config = await file;
        if (!config) continue;
        const cred = await fromConfig(config, registry, repository, helper);
        if (cred) return cred;
      }
      return undefined;
    },
  };
}

function configPaths(env: NodeJS.ProcessEnv, opts: CredentialOptions): string[] {
  const home = opts.homeDir ?? (env.HOME || homedir());
  const paths = [
    opts.authFile,
    env.REGISTRY_AUTH_FILE,
    env.XDG_RUNTIME_DIR && join(env.XDG_RUNTIME_DIR, 'containers', 'auth.json'),
    join(env.XDG_CONFIG_HOME || join(home, '.config'), 'containers', 'auth.json'),
    join(env.DOCKER_CONFIG || join(home, '.docker'), 'config.json'),
  ];
  return [...new Set(paths.filter((p): p is string => Boolean(p)))];
}

async function loadConfig(path: string): Promise<ConfigFile | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw new OciToolError('OCI_ERR_BAD_CONFIG', `cannot read credentials file ${path}: ${code ?? 'read error'}`);
  }
  // Docker treats an empty config file as an empty config.
  if (text.trim() === '') return undefined;
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    // JSON.parse messages quote the text around the error, which may be a secret: no message, no cause.
    throw new OciToolError('OCI_ERR_BAD_CONFIG', `credentials file ${path} is not valid JSON`);
  }
  if (!isObject(json)) throw new OciToolError('OCI_ERR_BAD_CONFIG', `credentials file ${path} is not a JSON object`);
  return {
    path,
    auths: isObject(json.auths) ? json.auths : {},
    credHelpers: isObject(json.credHelpers) ? json.credHelpers : {},
    credsStore: typeof json.credsStore === 'string' && json.credsStore ? json.credsStore : undefined,
  };
}

type HelperLookup = (name: string, registry: string) => Promise<Credential | undefined>;

async function fromConfig(config: ConfigFile, registry: string, repository: string | undefined, helper: HelperLookup): Promise<Credential | undefined> {
  const helperKey = Object.keys(config.credHelpers).find((k) => normalizeKey(k) === registry);
  const helperName = helperKey === undefined ? undefined : config.credHelpers[helperKey];
  // As in docker, a registry with its own helper is answered by that helper alone.
  if (typeof helperName === 'string' && helperName) return helper(checkHelperName(helperName, config.path), registry);

  // containers-auth.json(5): the most specific of registry/ns/repo, registry/ns, ..., registry.
  const parts = repository ? repository.split('/') : [];
  for (let n = parts.length; n >= 0; n--) {
    const scope = [registry, ...parts.slice(0, n)].join('/');
    // A literal key beats an alias that normalizes to the same scope.
    const keys = Object.keys(config.auths);
    const key = keys.includes(scope) ? scope : keys.find((k) => normalizeKey(k) === scope);
    if (key === undefined) continue;
    // Docker leaves empty entries in auths when a credsStore holds the secret: look further.
    const cred = decodeEntry(config.auths[key], key, config.path);
    if (cred) return cred;
  }

  if (config.credsStore) return helper(checkHelperName(config.credsStore, config.path), registry);
  return undefined;
}

function decodeEntry(entry: unknown, key: string, path: string): Credential | undefined {
  if (!isObject(entry)) return undefined;
  const str = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined);
  const cred: Credential = {};
  const auth = str(entry.auth);
  if (auth) {
    const decoded = Buffer.from(auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon <= 0) throw new OciToolError('OCI_ERR_BAD_CONFIG', `credentials file ${path}: "auth" for ${key} is not base64 of user:password`);
    // Only the first colon separates: passwords may contain colons, user names may not.
    cred.username = decoded.slice(0, colon);
    cred.password = decoded.slice(colon + 1);
  } else if (str(entry.username)) {
    cred.username = str(entry.username);
    cred.password = typeof entry.password === 'string' ? entry.password : undefined;
  }
  if (str(entry.identitytoken)) cred.identityToken = str(entry.identitytoken);
  if (str(entry.registrytoken)) cred.registryToken = str(entry.registrytoken);
  return cred.username || cred.identityToken || cred.registryToken ? cred : undefined;
}

/** A key as registry[/path]: docker's URL forms keep only the host, containers' bare forms keep the path. */
function normalizeKey(key: string): string {
  const url = /^https?:\/\/([^/]*)/i.exec(key);
  if (url) return normalizeHost(url[1] as string);
  const slash = key.indexOf('/');
  if (slash < 0) return normalizeHost(key);
  return normalizeHost(key.slice(0, slash)) + key.slice(slash).replace(/\/+$/, '');
}

function normalizeHost(host: string): string {
  const h = host.toLowerCase();
  return DOCKER_HUB_ALIASES.has(h) ? DOCKER_HUB : h;
}

/** The name becomes part of a command; a path in it would run some other program. */
function checkHelperName(name: string, path: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) throw new OciToolError('OCI_ERR_BAD_CONFIG', `credentials file ${path} names an invalid credential helper`);
  return name;
}

function parseHelperOutput(name: string, out: string): Credential | undefined {
  let json: unknown;
  try {
    json = JSON.parse(out);
  } catch {
    throw new OciToolError('OCI_ERR_AUTH', `credential helper docker-credential-${name} printed something that is not JSON`);
  }
  if (!isObject(json)) throw new OciToolError('OCI_ERR_AUTH', `credential helper docker-credential-${name} printed something that is not a JSON object`);
  const user = typeof json.Username === 'string' ? json.Username : '';
  const secret = typeof json.Secret === 'string' ? json.Secret : '';
  if (!secret) return undefined;
  // docker-credential-helpers' convention for identity (refresh) tokens.
  if (user === '<token>') return { identityToken: secret };
  return user ? { username: user, password: secret } : undefined;
}

/** `docker-credential-<name> get`, server URL on stdin; undefined when it has nothing for the server. */
function spawnHelper(name: string, serverUrl: string, env: NodeJS.ProcessEnv): Promise<string | undefined> {
  const program = `docker-credential-${name}`;
  return new Promise((resolve, reject) => {
    const child = execFile(program, ['get'], { env, timeout: HELPER_TIMEOUT_MS, maxBuffer: 1 << 20, windowsHide: true }, (err, stdout, stderr) => {
      if (!err) return resolve(stdout);
      // docker-credential-helpers' ErrCredentialsNotFound message.
      if (/credentials not found/i.test(`${stdout}\n${stderr}`)) return resolve(undefined);
      const e = err as { code?: unknown; killed?: boolean; signal?: string | null };
      // Neither the helper's output nor err.message (which embeds stderr) is quoted: it may hold secrets.
      const why = e.code === 'ENOENT' ? 'is not installed (not found on PATH)'
        : e.killed ? `did not answer within ${HELPER_TIMEOUT_MS / 1000} s`
        : typeof e.code === 'number' ? `failed (exit code ${e.code})`
        : `failed (${String(e.code ?? e.signal ?? 'unknown error')})`;
      reject(new OciToolError('OCI_ERR_AUTH', `credential helper ${program} ${why}`));
    });
    // A helper that exits without reading stdin must not crash us with EPIPE.
    child.stdin?.on('error', () => {});
    // No newline, as docker sends it.
    child.stdin?.end(serverUrl);
  });
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
