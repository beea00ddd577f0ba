import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { access, constants, mkdir, mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Agent, request } from 'undici';

const run = promisify(execFile);

export const REGISTRY_BIN = process.env.OCI_TOOL_DOCKER_REGISTRY ?? '/usr/bin/docker-registry';

export interface RegistryOptions {
  /** Share storage between instances, e.g. seed through a plain one, read through an authenticated one. */
  storageDir?: string;
  tls?: { certFile: string; keyFile: string };
  htpasswd?: { username: string; password: string };
  token?: { realm: string; service: string; issuer: string; rootCertBundle: string };
}

export interface RunningRegistry {
  /** "127.0.0.1:PORT" */
  host: string;
  /** http(s)://127.0.0.1:PORT */
  url: string;
  storageDir: string;
  /** stdout+stderr of the registry; removed by stop() unless OCI_TOOL_KEEP_REGISTRY_LOGS is set. */
  logFile: string;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export async function startRegistry(opts: RegistryOptions = {}): Promise<RunningRegistry> {
  try {
    await access(REGISTRY_BIN, constants.X_OK);
  } catch {
    // Never skip: a missing registry must fail the run loudly.
    throw new Error(`${REGISTRY_BIN} not found: install it with \`apt-get install docker-registry\` (integration tests need a real registry)`);
  }
  const workDir = await mkdtemp(join(tmpdir(), 'oci-tool-registry-'));
  const storageDir = opts.storageDir ?? join(workDir, 'storage');
  await mkdir(storageDir, { recursive: true });
  try {
    // The free port can be stolen between close() and the registry's bind; retry with a new one.
    for (let attempt = 1; ; attempt++) {
      try {
        return await launch(opts, workDir, storageDir, opts.storageDir === undefined);
      } catch (err) {
        if (attempt >= 3 || !/address already in use/.test(String(err))) throw err;
      }
    }
  } catch (err) {
    await rm(workDir, { recursive: true, force: true });
    throw err;
  }
}

async function launch(opts: RegistryOptions, workDir: string, storageDir: string, ownsStorage: boolean): Promise<RunningRegistry> {
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const url = `${opts.tls ? 'https' : 'http'}://${host}`;
  const config: Record<string, unknown> = {
    version: '0.1',
    log: { level: 'info', formatter: 'text' },
    storage: {
      filesystem: { rootdirectory: storageDir },
      delete: { enabled: true },
      // Instances sharing storage must not purge each other's in-flight uploads.
      maintenance: { uploadpurging: { enabled: false } },
    },
    // A fixed secret keeps upload state valid across instances sharing storage.
    http: { addr: host, secret: 'oci-tool-test-secret', ...(opts.tls ? { tls: { certificate: opts.tls.certFile, key: opts.tls.keyFile } } : {}) },
  };
  if (opts.htpasswd && opts.token) throw new Error('docker-registry supports only one auth provider');
  if (opts.htpasswd) {
    const { stdout } = await run('htpasswd', ['-Bbn', opts.htpasswd.username, opts.htpasswd.password]);
    const path = join(workDir, 'htpasswd');
    await writeFile(path, stdout.trim() + '\n');
    config.auth = { htpasswd: { realm: 'oci-tool-test', path } };
  } else if (opts.token) {
    const { realm, service, issuer, rootCertBundle } = opts.token;
    config.auth = { token: { realm, service, issuer, rootcertbundle: rootCertBundle } };
  }
  // JSON is valid YAML, so no YAML emitter (or quoting bugs) is needed.
  const configFile = join(workDir, 'config.yml');
  await writeFile(configFile, JSON.stringify(config, null, 2));

  const logFile = join(workDir, `registry-${port}.log`);
  const log = await open(logFile, 'w');
  // REGISTRY_* variables override the config file; don't let the host's leak in.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('REGISTRY_')));
  let child: ChildProcess;
  try {
    child = spawn(REGISTRY_BIN, ['serve', configFile], { stdio: ['ignore', log.fd, log.fd], env });
  } finally {
    await log.close();
  }
  // 'exit' may not follow a spawn 'error', so either one ends the process.
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.once('error', () => resolve());
  });

  const kill = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  };
  const stop = async (): Promise<void> => {
    await kill();
    if (process.env.OCI_TOOL_KEEP_REGISTRY_LOGS) {
      if (ownsStorage) await rm(storageDir, { recursive: true, force: true });
    } else {
      await rm(workDir, { recursive: true, force: true });
    }
  };

  try {
    await waitReady(url, exited);
  } catch (err) {
    await kill(); // startRegistry removes workDir (or retries in it)
    const tail = (await readFile(logFile, 'utf8').catch(() => '')).split('\n').slice(-15).join('\n');
    throw new Error(`docker-registry on ${host} did not start: ${(err as Error).message}\n${tail}`, { cause: err });
  }
  return { host, url, storageDir, logFile, stop };
}

async function waitReady(url: string, exited: Promise<void>): Promise<void> {
  // Liveness only: certificate trust is the tests' business.
  const agent = new Agent({ connect: { rejectUnauthorized: false } });
  let dead = false;
  void exited.then(() => (dead = true));
  const deadline = Date.now() + 20_000;
  try {
    while (Date.now() < deadline) {
      if (dead) throw new Error('process exited');
      try {
        const res = await request(`${url}/v2/`, { dispatcher: agent, headersTimeout: 2_000 });
        await res.body.dump();
        if (res.statusCode === 200 || res.statusCode === 401) return;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error('timed out waiting for GET /v2/');
  } finally {
    await agent.close();
  }
}
