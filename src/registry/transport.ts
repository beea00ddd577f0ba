// HTTP to one registry: scheme choice (HTTPS, with plain HTTP only for loopback or insecure hosts),
// authentication, retries with backoff that honour Retry-After, and redirects followed by hand so
// that credentials never reach another origin.
import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { OciToolError } from '../errors.js';
import type { ProgressListener } from '../events.js';
import { Authenticator } from './auth.js';
import { send, type Connections } from './connections.js';
import type { CredentialSource } from './credentials.js';
import { apiHost, isLoopbackRegistry } from './reference.js';
import { backoffDelay, causes, defaultRetryPolicy, errorCode, isTemporaryError, isTemporaryStatus, parseRetryAfter, wait, type RetryPolicy } from './retry.js';

/** Bytes in hand, or a factory called again for every attempt (retries, authentication, redirects). */
export type RequestBody = Buffer | (() => Readable | Buffer);

export interface RegistryRequest {
  method: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /**
   * Path below the registry root, e.g. /v2/library/busybox/manifests/latest, or an absolute URL the
   * registry handed out (an upload Location), used as given.
   */
  path: string;
  scope: string;
  /** Lower-case names. A stream body should come with its content-length; a Buffer gets one. */
  headers?: Record<string, string>;
  body?: RequestBody;
  /** Error statuses returned to the caller instead of thrown, e.g. 404 where absence is an answer. */
  allowStatus?: readonly number[];
  /** At most this many tries, when fewer than the retry policy's (best-effort requests). */
  attempts?: number;
  /** What is being fetched, for messages: "manifest docker.io/library/busybox:latest". */
  what: string;
  signal?: AbortSignal;
}

export interface RegistryResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Dispatcher.ResponseData['body'];
  /** The URL that answered, after redirects; relative Location and Link headers resolve against it. */
  url: string;
}

export interface TransportOptions {
  connections: Connections;
  credentials?: CredentialSource;
  repository?: string;
  retry?: Partial<RetryPolicy>;
  onProgress?: ProgressListener;
}

const USER_AGENT = 'oci-tool/0.1';
const redirectStatuses = new Set([301, 302, 303, 307, 308]);
const bodyMethods = new Set(['POST', 'PUT', 'PATCH']);
const MAX_ERROR_BODY = 64 * 1024;

export class RegistryTransport {
  readonly retry: RetryPolicy;
  private readonly auth: Authenticator;
  private scheme: 'https:' | 'http:' = 'https:';
  private readonly host: string;

  constructor(readonly registry: string, private readonly opts: TransportOptions) {
    this.host = apiHost(registry);
    this.retry = { ...defaultRetryPolicy, ...opts.retry };
    this.auth = new Authenticator(registry, opts.connections, opts.credentials, opts.repository);
  }

  /** The registry's origin, e.g. https://ghcr.io: the only one that sees credentials. */
  get origin(): string {
    return new URL(`${this.scheme}//${this.host}`).origin;
  }

  private get mayUseHttp(): boolean {
    return isLoopbackRegistry(this.host) || this.opts.connections.isInsecure(this.registry) || this.opts.connections.isInsecure(this.host);
  }

  /** Sends a request, retrying what is temporary; a non-success status becomes an OciToolError. */
  async request(req: RegistryRequest): Promise<RegistryResponse> {
    let authTried = false;
    const attempts = Math.max(1, Math.min(req.attempts ?? Infinity, this.retry.attempts));
    for (let attempt = 1; ; attempt++) {
      req.signal?.throwIfAborted();
      let res: RegistryResponse;
      try {
        res = await this.send(req);
      } catch (e) {
        if (isOurError(e) || attempt >= attempts || !isTemporaryError(e)) throw networkError(e, req.what, this.registry);
        await this.pause(req, attempt, backoffDelay(this.retry, attempt), errorCode(e));
        continue;
      }
      // Another origin's 401 is not the registry's challenge to answer.
      if (res.status === 401 && !authTried && new URL(res.url).origin === this.origin) {
        authTried = true;
        await res.body.dump().catch(() => {});
        await this.auth.challenge(res.headers['www-authenticate'], req.scope);
        attempt--;
        continue;
      }
      if (req.allowStatus?.includes(res.status)) return res;
      if (isTemporaryStatus(res.status) && attempt < attempts) {
        const retryAfter = parseRetryAfter(header(res, 'retry-after'));
        if (retryAfter !== undefined && retryAfter > this.retry.maxRetryAfterMs) throw await responseError(res, req);
        await res.body.dump().catch(() => {});
        await this.pause(req, attempt, retryAfter ?? backoffDelay(this.retry, attempt), `HTTP ${res.status}${rateLimitNote(res)}`);
        continue;
      }
      if (res.status >= 400) throw await responseError(res, req);
      return res;
    }
  }

  private async pause(req: RegistryRequest, attempt: number, delayMs: number, reason: string): Promise<void> {
    this.opts.onProgress?.({ type: 'retry', what: req.what, attempt, delayMs, reason });
    await wait(delayMs, req.signal);
  }

  private async send(req: RegistryRequest): Promise<RegistryResponse> {
    const registryOrigin = this.origin;
    const absolute = /^[a-z][a-z0-9+.-]*:/i.test(req.path);
    let url = absolute ? new URL(req.path) : new URL(`${registryOrigin}${req.path}`);
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      throw new OciToolError('OCI_ERR_REGISTRY', `${req.what}: the registry named an unsupported URL scheme (${url.protocol})`);
    }
    // A URL the registry handed out gets the same rule as a redirect.
    refuseDowngrade(new URL(registryOrigin), url, req.what, 'a location');
    const headers: Record<string, string> = { 'user-agent': USER_AGENT, ...req.headers };
    const authorization = await this.auth.header(req.scope);
    if (authorization) headers.authorization = authorization;
    for (let hop = 0; hop < 10; hop++) {
      const sameOrigin = url.origin === registryOrigin;
      // Only the registry itself ever sees our credentials; blob storage gets a bare request.
      if (!sameOrigin) delete headers.authorization;
      let res: Dispatcher.ResponseData;
      let body: Buffer | Readable | undefined;
      try {
        body = typeof req.body === 'function' ? req.body() : req.body;
        const hopHeaders = { ...headers };
        if (Buffer.isBuffer(body)) hopHeaders['content-length'] = String(body.length);
        else if (body === undefined && bodyMethods.has(req.method)) hopHeaders['content-length'] = '0';
        const dispatcher = await this.opts.connections.forOrigin(url);
        res = await send(dispatcher, { origin: url.origin, path: url.pathname + url.search, method: req.method, headers: hopHeaders, body, signal: req.signal });
      } catch (e) {
        closeBody(body);
        // url, not this.scheme: a concurrent request may have switched the scheme already.
        if (hop === 0 && !absolute && url.protocol === 'https:' && this.mayUseHttp && isPlainHttpAnswer(e)) {
          this.scheme = 'http:';
          return this.send(req);
        }
        throw e;
      }
      // A server may answer before reading all of a body (an early error); the rest is not needed.
      closeBody(body);
      const location = res.headers.location;
      if (redirectStatuses.has(res.statusCode) && typeof location === 'string') {
        await res.body.dump().catch(() => {});
        const next = new URL(location, url);
        refuseDowngrade(url, next, req.what, 'a redirect');
        url = next;
        continue;
      }
      return { status: res.statusCode, headers: res.headers, body: res.body, url: url.toString() };
    }
    throw new OciToolError('OCI_ERR_REGISTRY', `${req.what}: too many redirects`);
  }
}

function refuseDowngrade(from: URL, to: URL, what: string, kind: string): void {
  if (to.protocol === 'http:' && from.protocol === 'https:' && !isLoopbackRegistry(to.host)) {
    throw new OciToolError('OCI_ERR_REGISTRY', `${what}: refusing ${kind} from HTTPS to plain HTTP (${to.host})`);
  }
}

function closeBody(body: Buffer | Readable | undefined): void {
  if (body && !Buffer.isBuffer(body) && !body.readableEnded && !body.destroyed) body.destroy();
}

export function header(res: RegistryResponse, name: string): string | undefined {
  const v = res.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function isOurError(e: unknown): boolean {
  return e instanceof OciToolError;
}

/** A TLS handshake answered by a plain-HTTP server. */
function isPlainHttpAnswer(e: unknown): boolean {
  for (const { code, message } of causes(e)) {
    if (code === 'ERR_SSL_WRONG_VERSION_NUMBER' || code === 'EPROTO' || /wrong version number|packet length too long/i.test(String(message ?? ''))) return true;
  }
  return false;
}

function networkError(e: unknown, what: string, registry: string): unknown {
  if (e instanceof OciToolError || (e instanceof Error && e.name === 'AbortError')) return e;
  const msg = e instanceof Error ? e.message : String(e);
  return new OciToolError('OCI_ERR_NETWORK', `${what}: cannot reach ${registry}: ${errorCode(e)}${msg && !msg.includes(errorCode(e)) ? ` (${msg})` : ''}`, { cause: e });
}

function rateLimitNote(res: RegistryResponse): string {
  const limit = header(res, 'ratelimit-limit');
  const remaining = header(res, 'ratelimit-remaining');
  return limit || remaining ? ` (rate limit ${limit ?? '?'}, remaining ${remaining ?? '?'})` : '';
}

/** Turns an error response into one line: status, the registry's error codes and messages. */
async function responseError(res: RegistryResponse, req: RegistryRequest): Promise<OciToolError> {
  let text = '';
  if (req.method !== 'HEAD') {
    const chunks: Buffer[] = [];
    let n = 0;
    try {
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        chunks.push(chunk);
        n += chunk.length;
        if (n >= MAX_ERROR_BODY) break;
      }
    } catch {
      // the message is a courtesy; the status tells enough
    }
    text = Buffer.concat(chunks).toString('utf8').slice(0, MAX_ERROR_BODY);
  }
  await res.body.dump().catch(() => {});
  let detail = '';
  try {
    const parsed = JSON.parse(text) as { errors?: { code?: string; message?: string }[] };
    detail = (parsed.errors ?? []).map((x) => [x.code, x.message].filter(Boolean).join(': ')).filter(Boolean).join('; ');
  } catch {
    detail = '';
  }
  const suffix = detail ? ` (${detail.slice(0, 300)})` : '';
  switch (res.status) {
    case 401:
    case 403:
      return new OciToolError('OCI_ERR_AUTH', `${req.what}: access denied (HTTP ${res.status})${suffix}`);
    case 404:
      return new OciToolError('OCI_ERR_NOT_FOUND', `${req.what}: not found${suffix}`);
    case 429:
      return new OciToolError('OCI_ERR_RATE_LIMITED', `${req.what}: rate limited by the registry${rateLimitNote(res)}${suffix}`);
    default:
      return new OciToolError('OCI_ERR_REGISTRY', `${req.what}: registry answered HTTP ${res.status}${suffix}`);
  }
}
