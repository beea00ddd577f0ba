// Answers a registry's WWW-Authenticate challenge: Bearer tokens (distribution's token and OAuth2
// flows, cached per scope until they expire) or Basic. Credentials go only to the registry itself
// and to the realm it names, never over plain HTTP to a non-loopback host, and never into messages.
import { OciToolError } from '../errors.js';
import { parseChallenges, type Challenge } from './challenge.js';
import { send, type Connections } from './connections.js';
import type { Credential, CredentialSource } from './credentials.js';
import { isLoopbackRegistry } from './reference.js';

interface CachedToken {
  value: string;
  expiresAt: number;
}

type Scheme = { kind: 'bearer'; realm: string; service?: string } | { kind: 'basic' };

const USER_AGENT = 'oci-tool/0.1';

export class Authenticator {
  private scheme: Scheme | undefined;
  private readonly tokens = new Map<string, Promise<CachedToken>>();
  private credential: Promise<Credential | undefined> | undefined;

  constructor(
    private readonly registry: string,
    private readonly connections: Connections,
    private readonly credentials: CredentialSource | undefined,
    private readonly repository?: string,
  ) {}

  /** The Authorization header for a request with this scope, once the registry said how it authenticates. */
  async header(scope: string): Promise<string | undefined> {
    if (!this.scheme) return undefined;
    if (this.scheme.kind === 'basic') return basicHeader(await this.getCredential());
    const cached = this.tokens.get(scope);
    if (!cached) return undefined;
    const token = await cached.catch(() => undefined);
    if (!token || token.expiresAt <= Date.now()) {
      this.tokens.delete(scope);
      return this.scheme ? `Bearer ${(await this.fetchToken(this.scheme, scope)).value}` : undefined;
    }
    return `Bearer ${token.value}`;
  }

  /** Learns from a 401 and prepares credentials for the retry; throws when nothing can satisfy it. */
  async challenge(header: string | string[] | undefined, scope: string): Promise<void> {
    const challenges = parseChallenges(header);
    const bearer = challenges.find((c) => c.scheme === 'bearer');
    const basic = challenges.find((c) => c.scheme === 'basic');
    if (bearer) {
      const realm = bearer.params.realm;
      if (!realm) throw new OciToolError('OCI_ERR_AUTH', `registry ${this.registry} sent a Bearer challenge without a realm`);
      this.scheme = { kind: 'bearer', realm, service: bearer.params.service };
      this.tokens.delete(scope);
      await this.fetchToken(this.scheme, challengeScope(bearer, scope));
      // Remember the token under our own scope key too, so the retried request finds it.
      const fetched = this.tokens.get(challengeScope(bearer, scope));
      if (fetched) this.tokens.set(scope, fetched);
      return;
    }
    if (basic) {
      const cred = await this.getCredential();
      if (!basicHeader(cred)) {
        throw new OciToolError('OCI_ERR_AUTH', `registry ${this.registry} requires a user name and password (docker config, --authfile or --username)`);
      }
      this.scheme = { kind: 'basic' };
      return;
    }
    throw new OciToolError('OCI_ERR_AUTH', `registry ${this.registry} asked for authentication oci-tool does not support (${challenges.map((c) => c.scheme).join(', ') || 'no challenge'})`);
  }

  private getCredential(): Promise<Credential | undefined> {
    this.credential ??= this.credentials?.lookup(this.registry, this.repository) ?? Promise.resolve(undefined);
    return this.credential;
  }

  private fetchToken(scheme: { realm: string; service?: string }, scope: string): Promise<CachedToken> {
    let pending = this.tokens.get(scope);
    if (!pending) {
      pending = this.requestToken(scheme, scope);
      this.tokens.set(scope, pending);
      pending.catch(() => this.tokens.delete(scope));
    }
    return pending;
  }

  private async requestToken(scheme: { realm: string; service?: string }, scope: string): Promise<CachedToken> {
    const cred = await this.getCredential();
    if (cred?.registryToken) return { value: cred.registryToken, expiresAt: Number.MAX_SAFE_INTEGER };
    let realm: URL;
    try {
      realm = new URL(scheme.realm);
    } catch {
      throw new OciToolError('OCI_ERR_AUTH', `registry ${this.registry} named an invalid token realm`);
    }
    const hasSecret = Boolean(cred?.identityToken || cred?.password);
    if (hasSecret && realm.protocol !== 'https:' && !isLoopbackRegistry(realm.host) && !this.connections.isInsecure(realm.host)) {
      throw new OciToolError('OCI_ERR_AUTH', `refusing to send credentials for ${this.registry} to ${realm.origin} over plain HTTP`);
    }
    const dispatcher = await this.connections.forOrigin(realm);
    const headers: Record<string, string> = { 'user-agent': USER_AGENT };
    let method = 'GET';
    let body: string | undefined;
    if (cred?.identityToken) {
      // OAuth2 refresh-token grant, as docker does for identity tokens.
      method = 'POST';
      headers['content-type'] = 'application/x-www-form-urlencoded';
      const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: cred.identityToken, client_id: 'oci-tool', scope });
      if (scheme.service) form.set('service', scheme.service);
      body = form.toString();
    } else {
      if (scheme.service) realm.searchParams.set('service', scheme.service);
      // Distribution's token flow repeats `scope` per resource (a push with a mount names two).
      for (const s of scope.split(' ').filter(Boolean)) realm.searchParams.append('scope', s);
      const basic = basicHeader(cred);
      if (basic && cred?.username) {
        headers.authorization = basic;
        realm.searchParams.set('account', cred.username);
      }
    }
    const res = await send(dispatcher, { origin: realm.origin, path: realm.pathname + realm.search, method: method as 'GET', headers, body });
    const text = await res.body.text().catch(() => '');
    if (res.statusCode !== 200) {
      const what = res.statusCode === 401 || res.statusCode === 403 ? 'authentication failed' : `token request failed (HTTP ${res.statusCode})`;
      throw new OciToolError('OCI_ERR_AUTH', `${what} for ${this.registry} at ${realm.origin}${serverMessage(text)}`);
    }
    let parsed: { token?: unknown; access_token?: unknown; expires_in?: unknown; issued_at?: unknown };
    try {
      parsed = JSON.parse(text) as typeof parsed;
    } catch {
      throw new OciToolError('OCI_ERR_AUTH', `token server ${realm.origin} answered with something that is not JSON`);
    }
    const value = typeof parsed.token === 'string' && parsed.token ? parsed.token : parsed.access_token;
    if (typeof value !== 'string' || !value) throw new OciToolError('OCI_ERR_AUTH', `token server ${realm.origin} returned no token`);
    const lifetime = typeof parsed.expires_in === 'number' && parsed.expires_in > 0 ? parsed.expires_in : 60;
    const issued = typeof parsed.issued_at === 'string' ? Date.parse(parsed.issued_at) : NaN;
    const start = Number.isNaN(issued) ? Date.now() : Math.min(issued, Date.now());
    // Renew a little early so that a token does not expire in flight.
    return { value, expiresAt: start + lifetime * 1000 - Math.min(10_000, lifetime * 100) };
  }
}

/**
 * The union of our scope and the one the challenge names, actions merged per resource, so that one
 * token covers both (a push first challenged on a HEAD that names only `pull` costs no second 401).
 */
function challengeScope(c: Challenge, scope: string): string {
  const named = c.params.scope;
  if (!named) return scope;
  const merged = new Map<string, Set<string>>();
  for (const entry of `${scope} ${named}`.split(' ').filter(Boolean)) {
    const cut = entry.lastIndexOf(':');
    const resource = cut > 0 ? entry.slice(0, cut) : entry;
    const actions = merged.get(resource) ?? new Set<string>();
    if (cut > 0) for (const a of entry.slice(cut + 1).split(',')) if (a) actions.add(a);
    merged.set(resource, actions);
  }
  return [...merged].map(([resource, actions]) => (actions.size ? `${resource}:${[...actions].join(',')}` : resource)).join(' ');
}

function basicHeader(cred: Credential | undefined): string | undefined {
  if (!cred?.username || cred.password === undefined) return undefined;
  return `Basic ${Buffer.from(`${cred.username}:${cred.password}`).toString('base64')}`;
}

/** A short excerpt of what an auth server said, without echoing anything we sent. */
function serverMessage(text: string): string {
  try {
    const j = JSON.parse(text) as { errors?: { message?: string }[]; details?: string; error?: string };
    const msg = j.errors?.[0]?.message ?? j.details ?? j.error;
    return msg ? `: ${String(msg).slice(0, 200)}` : '';
  } catch {
    return '';
  }
}
