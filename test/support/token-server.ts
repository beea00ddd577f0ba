import { createPrivateKey, randomBytes, sign, X509Certificate, type KeyObject } from 'node:crypto';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';

export interface TokenServerOptions {
  /** PEM key + cert from makeTokenSigningCert; the cert must be in the registry's rootcertbundle. */
  signingKey: string;
  signingCert: string;
  /** Must equal the registry's auth.token.issuer. */
  issuer: string;
  users?: Record<string, string>;
  /** Grant pull to requests without credentials (otherwise they get 401). */
  anonymous?: boolean;
  /** Token lifetime in seconds (default 300). */
  expiresIn?: number;
  tls?: { cert: string; key: string };
}

export interface TokenRequest {
  method: string;
  path: string;
  /** Query (GET) or form (POST) fields; the last value wins, see `scopes` for all scopes. */
  query: Record<string, string>;
  scopes: string[];
  hasAuthorization: boolean;
  grantType?: string;
  /** Authenticated account, if any. */
  account?: string;
  status: number;
}

export interface TokenServer {
  url: string;
  /** `${url}/token`, for the registry's auth.token.realm. */
  realm: string;
  requests: TokenRequest[];
  stop(): Promise<void>;
}

interface Access { type: string; name: string; actions: string[] }

const b64url = (data: Buffer | string): string => Buffer.from(data).toString('base64url');

/** `repository:foo/bar:pull,push` -> access entry; the name may itself contain ':' (rare), so split at the ends. */
function parseScope(scope: string): Access | undefined {
  const first = scope.indexOf(':');
  const last = scope.lastIndexOf(':');
  if (first < 0 || last === first) return undefined;
  return { type: scope.slice(0, first), name: scope.slice(first + 1, last), actions: scope.slice(last + 1).split(',').filter(Boolean) };
}

function makeSigner(keyPem: string, certPem: string): (claims: object) => string {
  const key: KeyObject = createPrivateKey(keyPem);
  const ec = key.asymmetricKeyType === 'ec';
  // distribution verifies the x5c leaf against rootcertbundle, so no kid/jwk is needed.
  const header = b64url(JSON.stringify({ typ: 'JWT', alg: ec ? 'ES256' : 'RS256', x5c: [new X509Certificate(certPem).raw.toString('base64')] }));
  return (claims) => {
    const input = `${header}.${b64url(JSON.stringify(claims))}`;
    // JWS wants raw r||s for ECDSA, not node's default DER.
    const sig = sign('sha256', Buffer.from(input), ec ? { key, dsaEncoding: 'ieee-p1363' } : key);
    return `${input}.${b64url(sig)}`;
  };
}

export async function startTokenServer(opts: TokenServerOptions): Promise<TokenServer> {
  const signJwt = makeSigner(opts.signingKey, opts.signingCert);
  const expiresIn = opts.expiresIn ?? 300;
  const users = opts.users ?? {};
  const refreshTokens = new Map<string, string>(); // token -> account
  const requests: TokenRequest[] = [];

  function issue(account: string | undefined, service: string, scopes: string[]): { token: string; expires_in: number; issued_at: string } {
    const now = Math.floor(Date.now() / 1000);
    const access = scopes.flatMap((s) => {
      const a = parseScope(s);
      if (!a) return [];
      const actions = account === undefined ? a.actions.filter((x) => x === 'pull') : a.actions;
      return actions.length ? [{ ...a, actions }] : [];
    });
    const token = signJwt({
      iss: opts.issuer, sub: account ?? '', aud: service, exp: now + expiresIn, nbf: now - 1, iat: now,
      jti: randomBytes(12).toString('hex'), access,
    });
    return { token, expires_in: expiresIn, issued_at: new Date(now * 1000).toISOString() };
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const u = new URL(req.url ?? '/', 'http://x');
    const method = req.method ?? 'GET';
    let fields = u.searchParams;
    if (method === 'POST') {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      fields = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
    }
    // GET repeats `scope`; POST packs several into one space-separated field.
    const scopes = fields.getAll('scope').flatMap((s) => s.split(' ')).filter(Boolean);
    const record: TokenRequest = {
      method, path: u.pathname, query: Object.fromEntries(fields), scopes, hasAuthorization: req.headers.authorization !== undefined,
      grantType: fields.get('grant_type') ?? undefined, status: 0,
    };
    requests.push(record);
    const reply = (status: number, body: object, headers: Record<string, string> = {}): void => {
      record.status = status;
      res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
    };
    const denied = (): void => reply(401, { errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] }, { 'www-authenticate': 'Basic realm="oci-tool-test-token"' });
    if (u.pathname !== '/token' || (method !== 'GET' && method !== 'POST')) return reply(404, { error: 'not_found' });

    const service = fields.get('service') ?? '';
    let account: string | undefined;
    let refresh = false;
    if (method === 'GET') {
      const auth = req.headers.authorization;
      if (auth !== undefined) {
        const [scheme, value = ''] = auth.split(' ');
        const decoded = scheme?.toLowerCase() === 'basic' ? Buffer.from(value, 'base64').toString('utf8') : '';
        const sep = decoded.indexOf(':');
        const [user, pass] = [decoded.slice(0, sep), decoded.slice(sep + 1)];
        if (sep < 0 || users[user] !== pass) return denied();
        account = user;
        refresh = fields.get('offline_token') === 'true';
      } else if (!opts.anonymous) return denied();
    } else if (record.grantType === 'password') {
      const user = fields.get('username') ?? '';
      if (users[user] === undefined || users[user] !== fields.get('password')) return denied();
      account = user;
      refresh = true;
    } else if (record.grantType === 'refresh_token') {
      account = refreshTokens.get(fields.get('refresh_token') ?? '');
      if (account === undefined) return reply(401, { error: 'invalid_grant' });
      refresh = true;
    } else {
      return reply(400, { error: 'unsupported_grant_type' });
    }
    record.account = account;
    const issued = issue(account, service, scopes);
    const body: Record<string, unknown> = { token: issued.token, access_token: issued.token, expires_in: issued.expires_in, issued_at: issued.issued_at };
    if (refresh && account !== undefined) {
      const rt = fields.get('refresh_token') ?? randomBytes(16).toString('hex');
      refreshTokens.set(rt, account);
      body.refresh_token = rt;
    }
    reply(200, body);
  }

  const listener = (req: IncomingMessage, res: ServerResponse): void => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500).end(String(err));
    });
  };
  const server: Server = opts.tls ? createHttpsServer({ cert: opts.tls.cert, key: opts.tls.key }, listener) : createHttpServer(listener);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const url = `${opts.tls ? 'https' : 'http'}://127.0.0.1:${port}`;
  return {
    url,
    realm: `${url}/token`,
    requests,
    stop: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
