// One undici dispatcher per origin, carrying that host's TLS settings: CAs and client certificates
// from certs.d folders (the layout docker and containers tools share), NODE_EXTRA_CA_CERTS, proxies
// from the environment, and certificate checks turned off only for hosts the user named insecure.
import { readdir, readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { rootCertificates, type ConnectionOptions } from 'node:tls';
import { createRequire } from 'node:module';
import type { Agent as AgentType, Dispatcher, EnvHttpProxyAgent as EnvHttpProxyAgentType } from 'undici';
import { OciToolError } from '../errors.js';

export interface ConnectionOptionsInput {
  /** Hosts (host[:port]) whose certificates are not verified and which may use plain HTTP. */
  insecureHosts?: Iterable<string>;
  /** A folder of *.crt, *.cert and *.key used for every registry host (skopeo's --cert-dir). */
  certDir?: string;
  /** certs.d roots searched by host[:port]; default /etc/containers/certs.d, /etc/docker/certs.d, ~/.config/containers/certs.d. */
  certsDRoots?: string[];
  env?: NodeJS.ProcessEnv;
  headersTimeoutMs?: number;
  bodyTimeoutMs?: number;
}

// undici's index also loads fetch, WebSocket and caches, ~100 ms of start-up we do not need.
const load = createRequire(import.meta.url);
const Agent = load('undici/lib/dispatcher/agent.js') as typeof AgentType;
const apiRequest = load('undici/lib/api/api-request.js') as (this: Dispatcher, opts: Dispatcher.RequestOptions) => Promise<Dispatcher.ResponseData>;

/** undici's request() on a dispatcher (the index adds it to the prototype; we load the pieces alone). */
export function send(dispatcher: Dispatcher, opts: Dispatcher.RequestOptions): Promise<Dispatcher.ResponseData> {
  return apiRequest.call(dispatcher, opts);
}

const proxyVariables = ['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy'];

export class Connections {
  private readonly dispatchers = new Map<string, Promise<Dispatcher>>();
  private readonly insecure: Set<string>;
  private readonly env: NodeJS.ProcessEnv;

  constructor(private readonly opts: ConnectionOptionsInput = {}) {
    this.insecure = new Set(opts.insecureHosts ?? []);
    this.env = opts.env ?? process.env;
  }

  isInsecure(host: string): boolean {
    return this.insecure.has(host);
  }

  /** The dispatcher for an origin such as https://host:port. */
  forOrigin(url: URL): Promise<Dispatcher> {
    const key = `${url.protocol}//${url.host}`;
    let d = this.dispatchers.get(key);
    if (!d) {
      d = this.create(url);
      this.dispatchers.set(key, d);
    }
    return d;
  }

  async close(): Promise<void> {
    const all = await Promise.allSettled([...this.dispatchers.values()]);
    await Promise.allSettled(all.map((r) => (r.status === 'fulfilled' ? r.value.close() : undefined)));
    this.dispatchers.clear();
  }

  private async create(url: URL): Promise<Dispatcher> {
    const tls = url.protocol === 'https:' ? await this.tlsFor(url.host) : {};
    const options = {
      connect: tls,
      headersTimeout: this.opts.headersTimeoutMs ?? 60_000,
      bodyTimeout: this.opts.bodyTimeoutMs ?? 60_000,
      connections: 16,
    };
    if (proxyVariables.some((v) => this.env[v])) {
      // Proxy tunnels need the CONNECT API that only undici's index installs: paid only with a proxy.
      const { EnvHttpProxyAgent } = load('undici') as { EnvHttpProxyAgent: typeof EnvHttpProxyAgentType };
      return new EnvHttpProxyAgent({
        ...options,
        requestTls: tls,
        httpProxy: this.env.HTTP_PROXY ?? this.env.http_proxy,
        httpsProxy: this.env.HTTPS_PROXY ?? this.env.https_proxy,
        noProxy: this.env.NO_PROXY ?? this.env.no_proxy,
      });
    }
    return new Agent(options);
  }

  private async tlsFor(host: string): Promise<ConnectionOptions> {
    const tls: ConnectionOptions = {};
    if (this.insecure.has(host)) tls.rejectUnauthorized = false;
    const dirs = this.opts.certDir ? [this.opts.certDir] : this.certsDRoots().map((root) => join(root, host));
    const cas: string[] = [];
    for (const dir of dirs) {
      const names = await readdir(dir).catch(() => [] as string[]);
      for (const name of names.sort()) {
        if (name.endsWith('.crt')) cas.push(await readFile(join(dir, name), 'utf8'));
        if (name.endsWith('.cert') && !tls.cert) {
          const keyName = `${name.slice(0, -5)}.key`;
          if (!names.includes(keyName)) {
            throw new OciToolError('OCI_ERR_BAD_CONFIG', `client certificate ${join(dir, name)} has no matching ${keyName}`);
          }
          tls.cert = await readFile(join(dir, name), 'utf8');
          tls.key = await readFile(join(dir, keyName), 'utf8');
        }
      }
    }
    if (cas.length > 0) {
      // Passing `ca` replaces Node's default set, so keep the public roots and the extra CAs.
      const extraFile = this.env.NODE_EXTRA_CA_CERTS;
      const extra = extraFile ? [await readFile(extraFile, 'utf8').catch(() => '')] : [];
      tls.ca = [...rootCertificates, ...extra, ...cas];
    }
    return tls;
  }

  private certsDRoots(): string[] {
    if (this.opts.certsDRoots) return this.opts.certsDRoots;
    const config = this.env.XDG_CONFIG_HOME ?? join(this.env.HOME ?? homedir(), '.config');
    return ['/etc/containers/certs.d', '/etc/docker/certs.d', join(config, 'containers', 'certs.d')];
  }
}
