// The push endpoints of a repository (distribution-spec v1.1 "Push"): blobs (present already,
// mounted from another repository, or uploaded in one PUT or in PATCH chunks) and manifests, with
// the referrers tag kept up to date for registries without the referrers API.
import { pipeline, Readable, Transform } from 'node:stream';
import { isOciToolError, OciToolError } from '../errors.js';
import { digestOf, parseDigest, verifyBytes, VerifyingStream } from '../image/digest.js';
import { INDEX_MEDIA_TYPE } from '../image/media-types.js';
import type { Descriptor } from '../image/types.js';
import { referrersIndexWith, referrersTag } from './referrers.js';
import type { RemoteRepository } from './remote.js';
import { header, type RegistryResponse } from './transport.js';

export interface UploadOptions {
  /** Another repository of the same registry that may hold the blob; mounting it costs no upload. */
  mountFrom?: string;
  /** Upload in PATCH chunks of this many bytes (at least the registry's OCI-Chunk-Min-Length) instead of one PUT. */
  chunkSize?: number;
  signal?: AbortSignal;
}

export type UploadResult = 'exists' | 'mounted' | 'uploaded';

export interface PushedManifest {
  digest: string;
  /** For a manifest with a `subject`: whether the registry recorded it ('api') or the referrers tag was updated ('tag'). */
  referrers?: 'api' | 'tag';
}

/** A chunk is held in memory while it is sent; a registry asking for bigger chunks gets one streamed PUT. */
export const MAX_CHUNK_BYTES = 64 * 1024 * 1024;

const OCTETS = 'application/octet-stream';
// distribution-spec's repository name grammar.
const NAME_RE = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$/;

interface Session {
  /** Absolute URL of the upload; registries may change it with every response. */
  location: string;
  minChunk: number;
}

export async function blobExists(repo: RemoteRepository, digest: string, signal?: AbortSignal): Promise<{ size: number } | undefined> {
  parseDigest(digest, 'blob digest');
  const res = await repo.transport.request({
    method: 'HEAD', path: repo.endpoint(`blobs/${digest}`), scope: repo.scope, allowStatus: [404], what: `blob ${digest} of ${repo.name}`, signal,
  });
  await res.body.dump().catch(() => {});
  if (res.status === 404) return undefined;
  const size = Number(header(res, 'content-length'));
  return { size: Number.isSafeInteger(size) ? size : -1 };
}

export async function uploadBlob(
  repo: RemoteRepository,
  desc: { digest: string; size: number },
  open: () => Readable | Buffer,
  opts: UploadOptions = {},
): Promise<UploadResult> {
  const { digest, size } = desc;
  const { algorithm } = parseDigest(digest, 'blob digest');
  const what = `blob ${digest} to ${repo.name}`;
  if (!Number.isSafeInteger(size) || size < 0) throw new OciToolError('OCI_ERR_USAGE', `${what}: invalid size ${size}`);
  const { chunkSize, signal } = opts;
  if (chunkSize !== undefined && (!Number.isSafeInteger(chunkSize) || chunkSize < 1)) {
    throw new OciToolError('OCI_ERR_USAGE', `${what}: chunk size must be a positive integer, not ${chunkSize}`);
  }
  const from = opts.mountFrom !== undefined && opts.mountFrom !== repo.location.repository ? opts.mountFrom : undefined;
  if (from !== undefined && !NAME_RE.test(from)) throw new OciToolError('OCI_ERR_USAGE', `${what}: invalid repository name "${from}" to mount from`);

  if (await blobExists(repo, digest, signal)) return 'exists';
  const query = from !== undefined ? `?mount=${digest}&from=${from}` : algorithm === 'sha256' ? '' : `?digest-algorithm=${algorithm}`;
  const start = await repo.transport.request({
    method: 'POST', path: repo.endpoint(`blobs/uploads/${query}`), what, signal,
    // A mount reads the other repository, so the token must cover it too.
    scope: from !== undefined ? `${repo.scope} repository:${from}:pull` : repo.scope,
  });
  await start.body.dump().catch(() => {});
  if (from !== undefined && start.status === 201) {
    checkBlobDigest(start, digest, what);
    return 'mounted';
  }
  // 202: an upload session (also the answer to a mount the registry would not do).
  const session = sessionOf(start, what);
  try {
    const chunk = chunkSize === undefined ? undefined : Math.max(chunkSize, session.minChunk);
    const done = chunk !== undefined && chunk <= MAX_CHUNK_BYTES
      ? await sendChunks(repo, session, desc, open, chunk, what, signal)
      : await sendWhole(repo, session, desc, open, what, signal);
    checkBlobDigest(done, digest, what);
  } catch (e) {
    // A closing PUT the registry committed but whose answer was lost: its retry finds no upload.
    if (isOciToolError(e) && (e.code === 'OCI_ERR_NOT_FOUND' || e.code === 'OCI_ERR_NETWORK') && !signal?.aborted) {
      if (await blobExists(repo, digest, signal).catch(() => undefined)) return 'uploaded';
    }
    await cancel(repo, session, what);
    throw e;
  }
  return 'uploaded';
}

/** One PUT with the whole blob, streamed and verified on the way. */
async function sendWhole(repo: RemoteRepository, session: Session, desc: { digest: string; size: number }, open: () => Readable | Buffer, what: string, signal?: AbortSignal): Promise<RegistryResponse> {
  const res = await repo.transport.request({
    method: 'PUT', path: withDigest(session.location, desc.digest), scope: repo.scope, what, signal,
    headers: { 'content-type': OCTETS, 'content-length': String(desc.size) },
    body: () => verified(open(), desc, what),
  });
  await res.body.dump().catch(() => {});
  return res;
}

/** PATCH after PATCH, each chunk held in memory so that it can be sent again, then the closing PUT. */
async function sendChunks(repo: RemoteRepository, session: Session, desc: { digest: string; size: number }, open: () => Readable | Buffer, chunkSize: number, what: string, signal?: AbortSignal): Promise<RegistryResponse> {
  const src = verified(open(), desc, what);
  const chunks = Buffer.isBuffer(src) ? sliced(src, chunkSize) : gathered(src, chunkSize);
  let offset = 0;
  for await (const chunk of chunks) {
    await sendChunk(repo, session, chunk, offset, what, signal);
    offset += chunk.length;
  }
  const res = await repo.transport.request({ method: 'PUT', path: withDigest(session.location, desc.digest), scope: repo.scope, what, signal });
  await res.body.dump().catch(() => {});
  return res;
}

async function sendChunk(repo: RemoteRepository, session: Session, chunk: Buffer, offset: number, what: string, signal?: AbortSignal): Promise<void> {
  const end = offset + chunk.length;
  let from = offset;
  for (let round = 1; ; round++) {
    const res = await repo.transport.request({
      method: 'PATCH', path: session.location, scope: repo.scope, what, signal, allowStatus: [416],
      headers: { 'content-type': OCTETS, 'content-range': `${from}-${end - 1}` }, body: chunk.subarray(from - offset),
    });
    await res.body.dump().catch(() => {});
    let held: number | undefined;
    if (res.status === 416) {
      // Out of step with the registry (say a retried chunk it had already taken): ask where the upload stands.
      const status = await repo.transport.request({ method: 'GET', path: session.location, scope: repo.scope, what, signal });
      await status.body.dump().catch(() => {});
      session.location = locationOf(status) ?? session.location;
      held = heldBytes(status, end);
      if (held === undefined) throw new OciToolError('OCI_ERR_REGISTRY', `${what}: the registry refused a chunk (HTTP 416) and did not say how much it holds`);
    } else {
      session.location = locationOf(res) ?? session.location;
      held = heldBytes(res, end) ?? end;
    }
    if (held === end) return;
    if (held < offset || held > end || round >= 3) {
      throw new OciToolError('OCI_ERR_REGISTRY', `${what}: the registry holds ${held} bytes of the upload where ${end} were sent`);
    }
    from = held;
  }
}

/** PUT of a manifest; see RemoteRepository.putManifest. */
export async function putManifest(repo: RemoteRepository, reference: string, bytes: Buffer, mediaType: string, signal?: AbortSignal): Promise<PushedManifest> {
  const what = `manifest ${repo.name}${reference.includes(':') ? '@' : ':'}${reference}`;
  const info = referrerInfo(bytes, mediaType, what);
  const { digest, subjectHeard } = await putBytes(repo, reference, bytes, mediaType, what, signal);
  if (info === undefined) return { digest };
  if (subjectHeard) return { digest, referrers: 'api' };
  const desc: Descriptor = {
    mediaType, digest, size: bytes.length,
    ...(info.artifactType ? { artifactType: info.artifactType } : {}),
    ...(info.annotations ? { annotations: info.annotations } : {}),
  };
  const index = await referrersIndexWith(repo, info.subject, desc, signal);
  if (index) {
    const tag = referrersTag(info.subject);
    await putBytes(repo, tag, index, INDEX_MEDIA_TYPE, `referrers tag ${repo.name}:${tag}`, signal);
  }
  return { digest, referrers: 'tag' };
}

async function putBytes(repo: RemoteRepository, reference: string, bytes: Buffer, mediaType: string, what: string, signal?: AbortSignal): Promise<{ digest: string; subjectHeard: boolean }> {
  let digest: string;
  if (reference.includes(':')) {
    verifyBytes(bytes, { digest: reference }, what);
    digest = reference;
  } else {
    digest = digestOf(bytes);
  }
  const res = await repo.transport.request({
    method: 'PUT', path: repo.endpoint(`manifests/${reference}`), scope: repo.scope, headers: { 'content-type': mediaType }, body: bytes, what, signal,
  });
  await res.body.dump().catch(() => {});
  const told = header(res, 'docker-content-digest');
  if (told !== undefined && told !== digest) {
    throw new OciToolError('OCI_ERR_DIGEST_MISMATCH', `digest mismatch for ${what}: registry says ${told}, content is ${digest}`);
  }
  return { digest, subjectHeard: Boolean(header(res, 'oci-subject')) };
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const nonEmpty = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

/** What the referrers list needs of a manifest with a `subject`; undefined without one. */
function referrerInfo(bytes: Buffer, mediaType: string, what: string): { subject: string; artifactType?: string; annotations?: Record<string, string> } | undefined {
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new OciToolError('OCI_ERR_INVALID_CONTENT', `${what} is not valid JSON`);
  }
  if (!isObject(doc)) throw new OciToolError('OCI_ERR_INVALID_CONTENT', `${what} is not a JSON object`);
  // The spec: with a mediaType field, Content-Type must be exactly that.
  if (typeof doc.mediaType === 'string' && doc.mediaType !== mediaType) {
    throw new OciToolError('OCI_ERR_INVALID_CONTENT', `${what} declares mediaType ${doc.mediaType} but was to be pushed as ${mediaType}`);
  }
  if (doc.subject === undefined) return undefined;
  const subject = isObject(doc.subject) ? doc.subject.digest : undefined;
  if (typeof subject !== 'string') throw new OciToolError('OCI_ERR_INVALID_CONTENT', `${what}: subject has no digest`);
  parseDigest(subject, `subject digest of ${what}`);
  const annotations = isObject(doc.annotations) && Object.values(doc.annotations).every((v) => typeof v === 'string')
    ? (doc.annotations as Record<string, string>)
    : undefined;
  // An image manifest without artifactType is typed by its config; an index then has none.
  const artifactType = nonEmpty(doc.artifactType) ?? (isObject(doc.config) ? nonEmpty(doc.config.mediaType) : undefined);
  return { subject, artifactType, annotations };
}

function sessionOf(res: RegistryResponse, what: string): Session {
  if (res.status !== 202) throw new OciToolError('OCI_ERR_REGISTRY', `${what}: registry answered HTTP ${res.status} where an upload session (202) was expected`);
  const location = locationOf(res);
  if (location === undefined) throw new OciToolError('OCI_ERR_REGISTRY', `${what}: registry started an upload without a Location`);
  const min = Number(header(res, 'oci-chunk-min-length'));
  return { location, minChunk: Number.isSafeInteger(min) && min > 0 ? min : 0 };
}

function locationOf(res: RegistryResponse): string | undefined {
  const location = header(res, 'location');
  if (!location) return undefined;
  try {
    return new URL(location, res.url).toString();
  } catch {
    return undefined;
  }
}

/** Bytes the registry holds after a chunk, from `Range: 0-<last>`; "0-0" is also how an empty upload is told. */
function heldBytes(res: RegistryResponse, expected: number): number | undefined {
  const m = /^(?:bytes=)?0-(\d+)$/.exec(header(res, 'range')?.trim() ?? '');
  if (!m) return undefined;
  const last = Number(m[1]);
  return last === 0 && expected !== 1 ? 0 : last + 1;
}

/** The upload URL with the digest query parameter added, leaving the registry's own parameters as they are. */
function withDigest(location: string, digest: string): string {
  return `${location}${location.includes('?') ? '&' : '?'}digest=${digest}`;
}

/** The registry's Docker-Content-Digest, when in the same algorithm, must name the blob we sent. */
function checkBlobDigest(res: RegistryResponse, digest: string, what: string): void {
  const told = header(res, 'docker-content-digest');
  if (told === undefined || told === digest) return;
  // The spec lets a registry answer in another algorithm, which cannot be compared without the bytes.
  if (told.split(':')[0] !== digest.split(':')[0]) return;
  throw new OciToolError('OCI_ERR_DIGEST_MISMATCH', `digest mismatch for ${what}: registry stored ${told}`);
}

/** Best effort: the registry also expires abandoned uploads itself. */
async function cancel(repo: RemoteRepository, session: Session, what: string): Promise<void> {
  try {
    const res = await repo.transport.request({
      method: 'DELETE', path: session.location, scope: repo.scope, attempts: 1, what: `cancel of ${what}`, signal: AbortSignal.timeout(10_000),
    });
    await res.body.dump().catch(() => {});
  } catch {
    // nothing more to do
  }
}

/**
 * The source checked against its descriptor as it is read; bytes in hand are checked at once. The
 * last piece is held back until the check passes, so a registry never receives a complete body of
 * wrong bytes (it would answer with its own error, racing ours).
 */
function verified(src: Readable | Buffer, desc: { digest: string; size: number }, what: string): Readable | Buffer {
  if (Buffer.isBuffer(src)) {
    verifyBytes(src, desc, what);
    return src;
  }
  let held: Buffer | undefined;
  const holdLast = new Transform({
    transform(chunk: Buffer, _enc, done) {
      const previous = held;
      held = chunk;
      done(null, previous);
    },
    flush(done) {
      done(null, held);
    },
  });
  return pipeline(Readable.from(readSource(src, what), { objectMode: false }), new VerifyingStream(desc, what), holdLast, () => {});
}

/**
 * The source's own read errors, told apart from the network's: a body stream is also destroyed with
 * the socket's error, which must stay retryable. Stopping the generator from downstream is a return,
 * not a throw, so only the source's failures reach the catch.
 */
async function* readSource(src: Readable, what: string): AsyncGenerator<Buffer> {
  try {
    for await (const chunk of src) yield chunk as Buffer;
  } catch (e) {
    if (isOciToolError(e) || (e instanceof Error && e.name === 'AbortError')) throw e;
    throw new OciToolError('OCI_ERR_LAYOUT', `${what}: cannot read the blob to upload: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
}

function* sliced(buf: Buffer, size: number): Generator<Buffer> {
  for (let at = 0; at < buf.length; at += size) yield buf.subarray(at, at + size);
}

/** Re-cuts a stream into chunks of `size` bytes (the last may be shorter). */
async function* gathered(src: AsyncIterable<Buffer>, size: number): AsyncGenerator<Buffer> {
  let parts: Buffer[] = [];
  let held = 0;
  for await (const piece of src) {
    let rest = piece;
    while (held + rest.length >= size) {
      const take = size - held;
      parts.push(rest.subarray(0, take));
      yield Buffer.concat(parts, size);
      parts = [];
      held = 0;
      rest = rest.subarray(take);
    }
    if (rest.length > 0) {
      parts.push(rest);
      held += rest.length;
    }
  }
  if (held > 0) yield Buffer.concat(parts, held);
}
