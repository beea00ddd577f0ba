// The push side (--push): blob uploads and manifest PUTs into the layout.
//
// Blob bytes always reach blobs/ through Layout.ingest, which checks size and digest and renames
// into place, so nothing unverified is ever served. A body whose length is known up front streams
// straight into the ingest; chunked uploads (PATCH) collect in a private file first, because the
// digest the ingest is keyed by only arrives with the closing PUT.
//
// A manifest PUT by tag names it "<repo>:<tag>" in index.json (Layout.setRef). One PUT by digest
// (children of an index, referrers) is listed in index.json without a name until something named
// reaches it, so that it stays served; entries made redundant that way are dropped again.
import { randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rm, truncate, writeFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { isOciToolError } from '../errors.js';
import { digestOf, parseDigest } from '../image/digest.js';
import { REF_NAME_ANNOTATION, type Layout } from '../image/layout.js';
import { isNonDistributable } from '../image/media-types.js';
import type { Descriptor } from '../image/types.js';
import { describeManifest, MAX_MANIFEST_BYTES, type LayoutContent } from './content.js';
import { RegistryError, send } from './http.js';
import { answersTo, isTag, parseServedName, pushedRefName } from './names.js';
import { requestDigest } from './routes.js';

interface Upload {
  readonly id: string;
  readonly repository: string;
  readonly path: string;
  size: number;
  busy: boolean;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export class PushRoutes {
  private readonly uploads = new Map<string, Upload>();
  /** Blobs stored by this server, served before a manifest makes them reachable (a pusher HEADs them). */
  private readonly stored = new Map<string, number>();
  // Beside the layout's own private state, on the same file system as blobs/.
  private readonly dir: string;

  constructor(private readonly layout: Layout, private readonly content: LayoutContent) {
    this.dir = join(layout.dir, '.oci-tool', 'uploads');
  }

  storedSize(digest: string): number | undefined {
    return this.stored.get(digest);
  }

  /** POST /v2/<name>/blobs/uploads/: a single-request upload with ?digest=, else a new session (a mount request falls back to one). */
  async start(req: IncomingMessage, res: ServerResponse, name: string, query: URLSearchParams): Promise<void> {
    const digestParam = query.get('digest');
    if (digestParam !== null) {
      const digest = requestDigest(digestParam);
      const length = bodyLength(req);
      if (length !== undefined) {
        await this.store(digest, length, () => req);
      } else {
        const up = await this.open(name);
        try {
          await this.append(up, req);
          await this.store(digest, up.size, () => createReadStream(up.path));
        } finally {
          await this.discard(up);
        }
      }
      this.created(res, name, digest);
      return;
    }
    const up = await this.open(name);
    send(res, 202, { location: location(up), 'docker-upload-uuid': up.id, 'blob-upload-session-id': up.id });
  }

  /** GET (status), PATCH (a chunk), PUT (the last chunk, if any, and ?digest=) or DELETE (cancel) of a session. */
  async session(req: IncomingMessage, res: ServerResponse, name: string, id: string, query: URLSearchParams): Promise<void> {
    const up = UUID.test(id) ? this.uploads.get(id) : undefined;
    if (!up || up.repository !== name) throw new RegistryError(404, 'BLOB_UPLOAD_UNKNOWN', `no upload ${JSON.stringify(id.slice(0, 100))} in ${name}`);
    const method = req.method ?? 'GET';
    if (method === 'GET') {
      send(res, 204, status(up));
      return;
    }
    if (method === 'DELETE') {
      await this.discard(up);
      send(res, 204, {});
      return;
    }
    if (up.busy) throw new RegistryError(400, 'BLOB_UPLOAD_INVALID', 'another request is writing this upload');
    up.busy = true;
    try {
      if (method === 'PATCH') {
        await this.chunk(up, req);
        send(res, 202, status(up));
        return;
      }
      const digest = requestDigest(query.get('digest') ?? '');
      const length = bodyLength(req);
      if (up.size === 0 && length !== undefined && req.headers['content-range'] === undefined) {
        // The whole blob in the closing PUT: straight into the ingest.
        await this.store(digest, length, () => req);
      } else {
        if (length !== 0) await this.chunk(up, req);
        await this.store(digest, up.size, () => createReadStream(up.path));
      }
      await this.discard(up);
      this.created(res, name, digest);
    } catch (e) {
      // A failed close ends the session; a failed chunk leaves it as it was for a retry.
      if (method === 'PUT') await this.discard(up);
      throw e;
    } finally {
      up.busy = false;
    }
  }

  /** PUT /v2/<name>/manifests/<reference>. */
  async manifest(req: IncomingMessage, res: ServerResponse, name: string, reference: string): Promise<void> {
    const byDigest = reference.includes(':');
    if (byDigest) requestDigest(reference);
    else if (!isTag(reference)) throw new RegistryError(400, 'MANIFEST_INVALID', `invalid tag ${JSON.stringify(reference.slice(0, 200))}`);
    const refName = byDigest ? undefined : pushedRefName(name, reference);
    // The name must map back to this repository and tag, or the image would be stored unreachable.
    const served = refName === undefined ? undefined : parseServedName(refName);
    if (refName !== undefined && !(served && served.tag === reference && answersTo(served, name))) {
      throw new RegistryError(400, 'NAME_INVALID', `${refName} cannot be named in index.json so that it is served again as ${name}`);
    }
    const bytes = await readBody(req, MAX_MANIFEST_BYTES);
    const contentType = req.headers['content-type']?.split(';')[0]?.trim();
    let problem = 'invalid manifest';
    const digest = byDigest ? reference : digestOf(bytes);
    const m = describeManifest(bytes, digest, contentType, 'manifest', (msg) => { problem = msg; });
    if (!m) throw new RegistryError(400, 'MANIFEST_INVALID', problem);
    const actual = digestOf(bytes, parseDigest(digest).algorithm);
    if (actual !== digest) throw new RegistryError(400, 'DIGEST_INVALID', `manifest digest is ${actual}, not ${digest}`);
    await this.checkReferences(m.kind, m.children);

    // Layout.putBlob writes its temporary under .oci-tool/, which a layout from another tool lacks.
    await mkdir(join(this.layout.dir, '.oci-tool'), { recursive: true });
    await this.layout.putBlob(bytes, { digest, size: bytes.length });
    this.stored.set(digest, bytes.length);
    const desc: Descriptor = { mediaType: m.mediaType, digest, size: bytes.length };
    if (refName !== undefined) await this.layout.setRef(refName, desc);
    await this.tidyIndex(desc, m.kind === 'index' ? m.children.map((c) => c.digest) : [], refName === undefined);

    send(res, 201, {
      location: `/v2/${name}/manifests/${digest}`, 'docker-content-digest': digest,
      ...(m.subject !== undefined ? { 'oci-subject': m.subject } : {}),
    });
  }

  /** Removes every unfinished upload's file (the server is closing). */
  async close(): Promise<void> {
    await Promise.all([...this.uploads.values()].map((up) => this.discard(up)));
  }

  // Config and layers must be stored (non-distributable layers with URLs excepted), and an index's
  // manifests too: a layout is only valid with all of them.
  private async checkReferences(kind: 'index' | 'manifest', children: readonly Descriptor[]): Promise<void> {
    for (const c of children) {
      if (kind === 'manifest' && isNonDistributable(c.mediaType) && (c.urls?.length ?? 0) > 0) continue;
      let present: boolean;
      try {
        present = await this.layout.hasBlob(c);
      } catch {
        throw new RegistryError(400, 'MANIFEST_INVALID', `unsupported digest ${JSON.stringify(c.digest)}`);
      }
      if (!present) throw new RegistryError(400, 'MANIFEST_BLOB_UNKNOWN', `${kind === 'index' ? 'manifest' : 'blob'} ${c.digest} is not in the layout`, {}, { digest: c.digest });
    }
  }

  /** Lists an unnamed manifest that nothing reaches yet; drops unnamed entries a named one now covers. */
  private async tidyIndex(desc: Descriptor, children: readonly string[], unnamed: boolean): Promise<void> {
    const reachable = unnamed && (await this.content.snapshot()).manifests.has(desc.digest);
    const covered = new Set(unnamed ? children : [desc.digest, ...children]);
    const index = await this.layout.readIndex();
    const isUnnamed = (d: Descriptor) => d.annotations?.[REF_NAME_ANNOTATION] === undefined;
    const redundant = index.manifests.some((d) => isUnnamed(d) && covered.has(d.digest));
    const add = unnamed && !reachable && !index.manifests.some((d) => d.digest === desc.digest);
    if (!redundant && !add) return;
    await this.layout.updateIndex((current) => {
      const kept = current.manifests.filter((d) => !(isUnnamed(d) && covered.has(d.digest)));
      const present = kept.some((d) => d.digest === desc.digest);
      return { ...current, manifests: add && !present ? [...kept, desc] : kept };
    });
  }

  private async open(repository: string): Promise<Upload> {
    await mkdir(this.dir, { recursive: true });
    const id = randomUUID();
    const up: Upload = { id, repository, path: join(this.dir, id), size: 0, busy: false };
    await writeFile(up.path, '');
    this.uploads.set(id, up);
    return up;
  }

  private async discard(up: Upload): Promise<void> {
    this.uploads.delete(up.id);
    await rm(up.path, { force: true });
  }

  /** A PATCH (or closing PUT) body: in order per Content-Range when one is given, else appended. */
  private async chunk(up: Upload, req: IncomingMessage): Promise<void> {
    const header = req.headers['content-range'];
    const length = bodyLength(req);
    let expected: number | undefined;
    if (header !== undefined) {
      const m = /^(?:bytes[ =])?(\d+)-(\d+)$/.exec(header.trim());
      const start = m ? Number(m[1]) : NaN;
      const end = m ? Number(m[2]) : NaN;
      expected = end - start + 1;
      if (!m || start !== up.size || expected < 0 || (length !== undefined && length !== expected)) {
        throw new RegistryError(416, 'BLOB_UPLOAD_INVALID', `chunk ${header} does not continue the ${up.size} bytes received`, status(up));
      }
    }
    const before = up.size;
    await this.append(up, req);
    if (expected !== undefined && up.size - before !== expected) {
      await truncate(up.path, before);
      up.size = before;
      throw new RegistryError(400, 'SIZE_INVALID', `chunk has ${up.size - before} bytes, Content-Range says ${expected}`);
    }
  }

  private async append(up: Upload, source: Readable): Promise<void> {
    const before = up.size;
    let n = 0;
    const count = new Transform({
      transform(chunk: Buffer, _enc, done) {
        n += chunk.length;
        done(null, chunk);
      },
    });
    try {
      await pipeline(source, count, createWriteStream(up.path, { flags: 'r+', start: before }));
    } catch (e) {
      // An interrupted chunk is dropped whole, so the session stays at a known length.
      await truncate(up.path, before).catch(() => {});
      throw e;
    }
    up.size = before + n;
  }

  /** Writes a blob through the layout's ingest: verified, then renamed into blobs/. */
  private async store(digest: string, size: number, source: () => Readable): Promise<void> {
    const ingest = await this.layout.ingest({ digest, size });
    if (ingest) {
      try {
        // Bytes an interrupted pull left there are not this client's.
        if (ingest.offset !== 0) await ingest.restart();
        await ingest.append(source());
      } catch (e) {
        await ingest.close(true);
        throw verificationError(e);
      }
      await ingest.commit().catch((e: unknown) => {
        throw verificationError(e);
      });
    }
    this.stored.set(digest, size);
  }

  private created(res: ServerResponse, name: string, digest: string): void {
    send(res, 201, { location: `/v2/${name}/blobs/${digest}`, 'docker-content-digest': digest });
  }
}

function verificationError(e: unknown): unknown {
  if (!isOciToolError(e)) return e;
  if (e.code === 'OCI_ERR_DIGEST_MISMATCH') return new RegistryError(400, 'DIGEST_INVALID', e.message);
  if (e.code === 'OCI_ERR_SIZE_MISMATCH') return new RegistryError(400, 'SIZE_INVALID', e.message);
  return e;
}

const location = (up: Upload) => `/v2/${up.repository}/blobs/uploads/${up.id}`;

function status(up: Upload): Record<string, string> {
  return {
    location: location(up), 'docker-upload-uuid': up.id, 'blob-upload-session-id': up.id,
    // Inclusive, so an empty session has no range to report.
    ...(up.size > 0 ? { range: `0-${up.size - 1}` } : {}),
  };
}

/** The body's length when the client declared it, or undefined for a chunked body. */
function bodyLength(req: IncomingMessage): number | undefined {
  const value = req.headers['content-length'];
  if (value !== undefined && /^\d+$/.test(value)) return Number(value);
  return req.headers['transfer-encoding'] === undefined ? 0 : undefined;
}

async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = bodyLength(req);
  if (declared !== undefined && declared > limit) throw new RegistryError(413, 'SIZE_INVALID', `manifest of ${declared} bytes is over the ${limit} accepted`);
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    n += chunk.length;
    if (n > limit) throw new RegistryError(413, 'SIZE_INVALID', `manifest is over the ${limit} bytes accepted`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}
