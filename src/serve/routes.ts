// The read side of the distribution-spec over a layout: the API check, manifests and blobs (GET and
// HEAD, blobs with Range), tags, referrers and the optional _catalog. Every name, tag and digest
// from a request is checked against its grammar before it is used, and only content reachable from
// index.json is served, so no request can name a file of its own choosing.
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describeError } from '../errors.js';
import { parseDigest, VerifyingStream } from '../image/digest.js';
import { INDEX_MEDIA_TYPE } from '../image/media-types.js';
import { LayoutContent, type Snapshot } from './content.js';
import { paginate, pageSize, parseRange, RegistryError, send, sendJson } from './http.js';
import { findTag, isRepositoryName, isTag, repositoriesOf, tagsOf } from './names.js';

export type Route =
  | { kind: 'base' }
  | { kind: 'catalog' }
  | { kind: 'tags'; name: string }
  | { kind: 'manifest'; name: string; reference: string }
  | { kind: 'blob'; name: string; digest: string }
  | { kind: 'uploads'; name: string }
  | { kind: 'upload'; name: string; id: string }
  | { kind: 'referrers'; name: string; digest: string };

// The name is matched lazily so that a repository may itself end in "/blobs" or "/manifests".
const ROUTE = /^\/v2\/(.+?)\/(?:blobs\/uploads\/?([^/]*)|blobs\/([^/]+)|manifests\/([^/]+)|(tags\/list)|referrers\/([^/]+))$/;

/** The endpoint a raw request path names (no percent-decoding, no dot-segment removal), or undefined. */
export function parseRoute(path: string): Route | undefined {
  if (path === '/v2/' || path === '/v2') return { kind: 'base' };
  if (path === '/v2/_catalog') return { kind: 'catalog' };
  const m = ROUTE.exec(path);
  if (!m) return undefined;
  const [, name = '', id, digest, reference, tags, subject] = m;
  if (!isRepositoryName(name)) throw new RegistryError(400, 'NAME_INVALID', `invalid repository name ${JSON.stringify(name.slice(0, 300))}`);
  if (id !== undefined) return id === '' ? { kind: 'uploads', name } : { kind: 'upload', name, id };
  if (digest !== undefined) return { kind: 'blob', name, digest };
  if (reference !== undefined) return { kind: 'manifest', name, reference };
  if (tags !== undefined) return { kind: 'tags', name };
  return { kind: 'referrers', name, digest: subject ?? '' };
}

/** A digest from a request, refused with 400 unless it is a well-formed sha256 or sha512 digest. */
export function requestDigest(value: string): string {
  try {
    parseDigest(value);
  } catch {
    throw new RegistryError(400, 'DIGEST_INVALID', `invalid digest ${JSON.stringify(value.slice(0, 200))}`);
  }
  return value;
}

/** Blobs written by the push side but not yet reachable from index.json, so a pusher can check them. */
export type ExtraBlobs = (digest: string) => number | undefined;

export class ReadRoutes {
  constructor(
    private readonly content: LayoutContent,
    private readonly extraBlobs: ExtraBlobs = () => undefined,
    private readonly onProblem: (message: string) => void = () => {},
  ) {}

  base(res: ServerResponse): void {
    sendJson(res, 200, {});
  }

  async manifest(res: ServerResponse, name: string, reference: string): Promise<void> {
    const snap = await this.content.snapshot();
    const digest = reference.includes(':') ? requestDigest(reference) : this.tagged(snap, name, reference);
    const m = snap.manifests.get(digest);
    if (!m) throw new RegistryError(404, 'MANIFEST_UNKNOWN', `manifest ${digest} is not in the layout`);
    send(res, 200, { 'content-type': m.mediaType, 'docker-content-digest': m.digest, etag: `"${m.digest}"` }, m.bytes);
  }

  private tagged(snap: Snapshot, name: string, tag: string): string {
    if (!isTag(tag)) throw new RegistryError(400, 'MANIFEST_INVALID', `invalid tag ${JSON.stringify(tag.slice(0, 200))}`);
    const desc = findTag(snap.entries, name, tag);
    if (desc) return desc.digest;
    if (tagsOf(snap.entries, name) === undefined) throw new RegistryError(404, 'NAME_UNKNOWN', `repository ${name} is not in the layout`);
    throw new RegistryError(404, 'MANIFEST_UNKNOWN', `${name}:${tag} is not in the layout`);
  }

  async blob(req: IncomingMessage, res: ServerResponse, digestParam: string): Promise<void> {
    const digest = requestDigest(digestParam);
    const snap = await this.content.snapshot();
    const size = snap.blobs.get(digest) ?? this.extraBlobs(digest);
    const unknown = () => new RegistryError(404, 'BLOB_UNKNOWN', `blob ${digest} is not in the layout`);
    if (size === undefined) throw unknown();
    const path = this.content.layout.blobPath(digest);
    const st = await stat(path).catch(() => undefined);
    if (!st?.isFile()) throw unknown();
    if (st.size !== size) throw new Error(`blob ${digest} has ${st.size} bytes in the layout, but its descriptor says ${size}`);
    const headers = { 'content-type': 'application/octet-stream', 'docker-content-digest': digest, 'accept-ranges': 'bytes', etag: `"${digest}"` };
    const range = parseRange(req.headers.range, size);
    if (range === 'unsatisfiable') {
      send(res, 416, { ...headers, 'content-range': `bytes */${size}` });
      return;
    }
    const head = req.method === 'HEAD';
    if (range) {
      res.writeHead(206, { ...headers, 'content-range': `bytes ${range.start}-${range.end}/${size}`, 'content-length': String(range.end - range.start + 1) });
      if (head) res.end();
      else await this.stream(res, createReadStream(path, { start: range.start, end: range.end }));
      return;
    }
    res.writeHead(200, { ...headers, 'content-length': String(size) });
    if (head) res.end();
    // A whole blob is checked against its digest on the way out; the last chunk is held until it
    // passes, so a corrupt blob is never delivered complete.
    else await this.stream(res, createReadStream(path), new VerifyingStream({ digest, size }, `blob ${digest}`), new HoldLast());
  }

  private async stream(res: ServerResponse, ...source: NodeJS.ReadableStream[]): Promise<void> {
    try {
      await (pipeline as (...s: unknown[]) => Promise<void>)(...source, res);
    } catch (e) {
      res.destroy();
      // A client going away mid-download (or the server closing) is not the layout's problem.
      if (!CLIENT_GONE.has((e as NodeJS.ErrnoException).code ?? '')) this.onProblem(`${res.req.url ?? ''}: ${describeError(e)}`);
    }
  }

  async tags(res: ServerResponse, name: string, query: URLSearchParams): Promise<void> {
    const snap = await this.content.snapshot();
    const all = tagsOf(snap.entries, name);
    if (all === undefined) throw new RegistryError(404, 'NAME_UNKNOWN', `repository ${name} is not in the layout`);
    const { page, headers } = paginate(all, pageSize(query.get('n')), query.get('last'),
      (n, last) => `/v2/${name}/tags/list?n=${n}&last=${encodeURIComponent(last)}`);
    sendJson(res, 200, { name, tags: page }, headers);
  }

  async catalog(res: ServerResponse, query: URLSearchParams): Promise<void> {
    const snap = await this.content.snapshot();
    const { page, headers } = paginate(repositoriesOf(snap.entries), pageSize(query.get('n')), query.get('last'),
      (n, last) => `/v2/_catalog?n=${n}&last=${encodeURIComponent(last)}`);
    sendJson(res, 200, { repositories: page }, headers);
  }

  async referrers(res: ServerResponse, digestParam: string, query: URLSearchParams): Promise<void> {
    const digest = requestDigest(digestParam);
    const artifactType = query.get('artifactType') ?? undefined;
    const snap = await this.content.snapshot();
    const manifests = LayoutContent.referrers(snap, digest, artifactType || undefined);
    // Digests are not scoped to repositories here, so any repository answers (never 404: that
    // would tell clients the referrers API is missing).
    send(res, 200, { 'content-type': INDEX_MEDIA_TYPE, ...(artifactType ? { 'oci-filters-applied': 'artifactType' } : {}) },
      JSON.stringify({ schemaVersion: 2, mediaType: INDEX_MEDIA_TYPE, manifests }));
  }
}

const CLIENT_GONE = new Set(['ERR_STREAM_PREMATURE_CLOSE', 'ERR_STREAM_DESTROYED', 'EPIPE', 'ECONNRESET']);

/** Passes chunks on one behind, so the last leaves only when the upstream ended without error. */
class HoldLast extends Transform {
  private held?: Buffer;

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    const prev = this.held;
    this.held = chunk;
    done(null, prev);
  }

  override _flush(done: TransformCallback): void {
    done(null, this.held);
  }
}
