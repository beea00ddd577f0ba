// A small in-memory distribution-spec v1.1 registry for tests: blobs (monolithic and chunked
// uploads, cross-repository mounts), manifests by tag or digest, tags with n/last pagination and
// Link headers, and the referrers API (which can be switched off). Every request is logged.
import { createHash, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface DistributionOptions {
  /** Serve the referrers API and answer OCI-Subject (default true); false → 404 like docker-registry 2.8. */
  referrersApi?: boolean;
  /** Apply ?artifactType= on the server and say so with OCI-Filters-Applied (default true). */
  applyFilters?: boolean;
  /** Referrers per response page; more are linked with rel="next". */
  referrersPageSize?: number;
  /** Sent as OCI-Chunk-Min-Length; a PATCH after a shorter chunk is refused. */
  chunkMinLength?: number;
  /** Basic authentication for every /v2 request. */
  auth?: { username: string; password: string };
  /** Upload Locations are absolute URLs at this origin (another server sharing `store`). */
  uploadOrigin?: string;
}

export interface LoggedRequest {
  method: string;
  /** Path and query as received. */
  path: string;
  headers: Record<string, string | string[] | undefined>;
  bodyLength: number;
}

export interface Reply {
  status: number;
  headers?: Record<string, string>;
  body?: string | Buffer;
}

/** A hook's answer: a Reply instead of the registry's, or 'drop' to handle the request and then cut the connection unanswered. */
export type HookResult = Reply | 'drop' | undefined;

interface Repo {
  blobs: Set<string>;
  manifests: Map<string, { bytes: Buffer; mediaType: string }>;
  tags: Map<string, string>;
}

interface Upload {
  repo: string;
  parts: Buffer[];
  size: number;
  /** Changes with every response, so a client must follow the latest Location (as docker-registry's _state). */
  state: string;
  /** Length of the last PATCH, which may be short only if it is the last chunk. */
  lastChunk?: number;
}

export interface Store {
  blobs: Map<string, Buffer>;
  repos: Map<string, Repo>;
  uploads: Map<string, Upload>;
}

export interface DistributionServer {
  url: string;
  host: string;
  requests: LoggedRequest[];
  store: Store;
  /** Mutable: tests may flip a switch between requests. */
  options: DistributionOptions;
  /** Answers a request instead of the registry when it returns a Reply (the body is read first). */
  setHook(fn: ((req: LoggedRequest) => HookResult) | undefined): void;
  close(): Promise<void>;
}

const ROUTE = /^\/v2\/(.+?)\/(?:blobs\/uploads\/([^/]*)|blobs\/([^/]+)|manifests\/([^/]+)|(tags\/list)|referrers\/([^/]+))$/;
const INDEX = 'application/vnd.oci.image.index.v1+json';

export function newStore(): Store {
  return { blobs: new Map(), repos: new Map(), uploads: new Map() };
}

const sha = (alg: string, bytes: Buffer) => `${alg}:${createHash(alg).update(bytes).digest('hex')}`;

export async function startDistributionServer(options: DistributionOptions = {}, store: Store = newStore()): Promise<DistributionServer> {
  const requests: LoggedRequest[] = [];
  let hook: ((req: LoggedRequest) => HookResult) | undefined;
  const repoOf = (name: string): Repo => {
    let r = store.repos.get(name);
    if (!r) store.repos.set(name, (r = { blobs: new Set(), manifests: new Map(), tags: new Map() }));
    return r;
  };

  const handle = (req: IncomingMessage, body: Buffer): Reply => {
    const method = req.method ?? 'GET';
    const url = new URL(req.url ?? '/', 'http://x');
    const q = url.searchParams;
    const send = (status: number, headers: Record<string, string> = {}, data: string | Buffer = ''): Reply => ({ status, headers, body: data });
    const fail = (status: number, code: string, message: string, headers: Record<string, string> = {}) =>
      send(status, { 'content-type': 'application/json', ...headers }, JSON.stringify({ errors: [{ code, message }] }));

    if (options.auth) {
      const expected = `Basic ${Buffer.from(`${options.auth.username}:${options.auth.password}`).toString('base64')}`;
      if (req.headers.authorization !== expected) return fail(401, 'UNAUTHORIZED', 'authentication required', { 'www-authenticate': 'Basic realm="distribution-test"' });
    }
    if (url.pathname === '/v2/') return send(200, { 'content-type': 'application/json' }, '{}');
    const m = ROUTE.exec(url.pathname);
    if (!m) return send(404, { 'content-type': 'text/plain' }, '404 page not found');
    const [, name = '', uploadId, blob, ref, tagsList, subject] = m;
    const repo = repoOf(name);

    if (uploadId === '' && method === 'POST') {
      const mount = q.get('mount');
      const from = q.get('from');
      if (mount && from && store.repos.get(from)?.blobs.has(mount)) {
        repo.blobs.add(mount);
        return send(201, { location: `/v2/${name}/blobs/${mount}`, 'docker-content-digest': mount });
      }
      const id = randomUUID();
      const up: Upload = { repo: name, parts: [], size: 0, state: randomUUID() };
      store.uploads.set(id, up);
      return send(202, {
        location: `${options.uploadOrigin ?? ''}/v2/${name}/blobs/uploads/${id}?state=${up.state}`, range: '0-0', 'docker-upload-uuid': id,
        ...(options.chunkMinLength ? { 'oci-chunk-min-length': String(options.chunkMinLength) } : {}),
      });
    }
    if (uploadId) {
      const up = store.uploads.get(uploadId);
      if (!up || up.repo !== name || (method !== 'DELETE' && q.get('state') !== up.state)) return fail(404, 'BLOB_UPLOAD_UNKNOWN', 'unknown or stale upload');
      const where = () => {
        up.state = randomUUID();
        return { location: `${options.uploadOrigin ?? ''}/v2/${name}/blobs/uploads/${uploadId}?state=${up.state}`, range: `0-${Math.max(up.size - 1, 0)}` };
      };
      if (method === 'DELETE') {
        store.uploads.delete(uploadId);
        return send(204);
      }
      if (method === 'GET') return send(204, where());
      if (method !== 'PATCH' && method !== 'PUT') return fail(405, 'UNSUPPORTED', method);
      if (body.length > 0 || method === 'PATCH') {
        const range = /^(\d+)-(\d+)$/.exec(String(req.headers['content-range'] ?? ''));
        if (method === 'PATCH' && !range) return fail(400, 'BLOB_UPLOAD_INVALID', 'Content-Range required');
        if (range && (Number(range[1]) !== up.size || Number(range[2]) - Number(range[1]) + 1 !== body.length)) return send(416, where());
        const min = options.chunkMinLength ?? 0;
        if (up.lastChunk !== undefined && up.lastChunk < min) return fail(400, 'BLOB_UPLOAD_INVALID', `a chunk of ${up.lastChunk} bytes was not the last`);
        up.parts.push(body);
        up.size += body.length;
        if (method === 'PATCH') up.lastChunk = body.length;
      }
      if (method === 'PATCH') return send(202, where());
      const digest = q.get('digest') ?? '';
      const alg = digest.split(':')[0] ?? '';
      const bytes = Buffer.concat(up.parts);
      store.uploads.delete(uploadId);
      if (!['sha256', 'sha512'].includes(alg) || sha(alg, bytes) !== digest) return fail(400, 'DIGEST_INVALID', 'digest does not match content');
      store.blobs.set(digest, bytes);
      repo.blobs.add(digest);
      return send(201, { location: `/v2/${name}/blobs/${digest}`, 'docker-content-digest': digest });
    }
    if (blob !== undefined) {
      const bytes = repo.blobs.has(blob) ? store.blobs.get(blob) : undefined;
      if (!bytes) return fail(404, 'BLOB_UNKNOWN', 'blob unknown');
      return send(200, { 'content-type': 'application/octet-stream', 'docker-content-digest': blob }, bytes);
    }
    if (ref !== undefined) {
      if (method === 'PUT') {
        if (body.length > 4 * 1024 * 1024) return fail(413, 'SIZE_INVALID', 'manifest too big');
        let doc: { config?: { digest?: string }; layers?: { digest?: string }[]; manifests?: { digest?: string }[]; subject?: { digest?: string } };
        try {
          doc = JSON.parse(body.toString('utf8')) as typeof doc;
        } catch {
          return fail(400, 'MANIFEST_INVALID', 'not JSON');
        }
        const blobs = [doc.config, ...(doc.layers ?? [])].flatMap((d) => (d?.digest ? [d.digest] : []));
        if (blobs.some((d) => !repo.blobs.has(d))) return fail(400, 'MANIFEST_BLOB_UNKNOWN', 'blob unknown');
        if ((doc.manifests ?? []).some((d) => !d.digest || !repo.manifests.has(d.digest))) return fail(400, 'MANIFEST_UNKNOWN', 'child manifest unknown');
        const digest = sha('sha256', body);
        if (ref.includes(':') && ref !== digest) return fail(400, 'DIGEST_INVALID', 'digest does not match content');
        repo.manifests.set(digest, { bytes: body, mediaType: String(req.headers['content-type'] ?? '') });
        if (!ref.includes(':')) repo.tags.set(ref, digest);
        const subjectHeader: Record<string, string> = doc.subject?.digest && options.referrersApi !== false ? { 'oci-subject': doc.subject.digest } : {};
        return send(201, { location: `/v2/${name}/manifests/${digest}`, 'docker-content-digest': digest, ...subjectHeader });
      }
      const digest = ref.includes(':') ? ref : repo.tags.get(ref);
      const found = digest ? repo.manifests.get(digest) : undefined;
      if (!digest || !found) return fail(404, 'MANIFEST_UNKNOWN', 'manifest unknown');
      return send(200, { 'content-type': found.mediaType, 'docker-content-digest': digest }, found.bytes);
    }
    if (tagsList) {
      const all = [...repo.tags.keys()].sort();
      const last = q.get('last');
      const after = last === null ? all : all.filter((t) => t > last);
      const n = q.has('n') ? Number(q.get('n')) : after.length;
      const page = after.slice(0, n);
      const more = page.length < after.length && n > 0;
      return send(200, {
        'content-type': 'application/json',
        ...(more ? { link: `</v2/${name}/tags/list?n=${n}&last=${encodeURIComponent(page.at(-1) ?? '')}>; rel="next"` } : {}),
      }, JSON.stringify({ name, tags: page }));
    }
    if (subject !== undefined) {
      if (options.referrersApi === false) return send(404, { 'content-type': 'text/plain' }, '404 page not found');
      const type = q.get('artifactType');
      const filter = Boolean(type) && options.applyFilters !== false;
      const all = [...repo.manifests].flatMap(([digest, { bytes, mediaType }]) => {
        const doc = JSON.parse(bytes.toString('utf8')) as { artifactType?: string; config?: { mediaType?: string }; subject?: { digest?: string }; annotations?: Record<string, string> };
        if (doc.subject?.digest !== subject) return [];
        const artifactType = doc.artifactType || doc.config?.mediaType;
        return [{ mediaType, digest, size: bytes.length, ...(artifactType ? { artifactType } : {}), ...(doc.annotations ? { annotations: doc.annotations } : {}) }];
      }).filter((d) => !filter || d.artifactType === type);
      const size = options.referrersPageSize ?? (all.length || 1);
      const pageNo = Number(q.get('page') ?? '0');
      const more = (pageNo + 1) * size < all.length;
      const nextQuery = new URLSearchParams({ ...(type ? { artifactType: type } : {}), page: String(pageNo + 1) });
      return send(200, {
        'content-type': INDEX,
        ...(filter ? { 'oci-filters-applied': 'artifactType' } : {}),
        ...(more ? { link: `</v2/${name}/referrers/${subject}?${nextQuery.toString()}>; rel="next"` } : {}),
      }, JSON.stringify({ schemaVersion: 2, mediaType: INDEX, manifests: all.slice(pageNo * size, (pageNo + 1) * size) }));
    }
    return send(405);
  };

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const logged: LoggedRequest = { method: req.method ?? 'GET', path: req.url ?? '/', headers: { ...req.headers }, bodyLength: body.length };
      requests.push(logged);
      const decision = hook?.(logged);
      let reply: Reply;
      try {
        reply = decision === undefined || decision === 'drop' ? handle(req, body) : decision;
      } catch (err) {
        reply = { status: 500, body: String(err) };
      }
      if (decision === 'drop') return void res.socket?.destroy();
      const data = reply.body ?? '';
      res.writeHead(reply.status, { 'content-length': String(Buffer.byteLength(data)), ...reply.headers });
      res.end(req.method === 'HEAD' ? undefined : data);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: `http://${host}`, host, requests, store, options,
    setHook: (fn) => { hook = fn; },
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
