// docker:// — one repository of a registry as the source or the destination of a copy.
import { Readable } from 'node:stream';
import { isOciToolError, OciToolError } from '../errors.js';
import { parseDigest } from '../image/digest.js';
import type { Descriptor } from '../image/types.js';
import { openRepository, type OpenedRepository, type RemoteOptions } from '../registry/open.js';
import type { Reference } from '../registry/reference.js';
import type { RemoteRepository } from '../registry/remote.js';
import { backoffDelay, errorCode, isTemporaryError, wait } from '../registry/retry.js';
import type { Attachment, ImageSink, ImageSource } from './types.js';

/** cosign's tag-based attachments of a digest: signatures, attestations, SBOMs. */
const COSIGN_SUFFIXES = ['sig', 'att', 'sbom'] as const;

const nameOf = (ref: Reference) => `docker://${ref.registry}/${ref.repository}${ref.digest ? `@${ref.digest}` : `:${ref.tag ?? 'latest'}`}`;

export async function openRegistrySource(ref: Reference, opts: RemoteOptions = {}): Promise<RegistrySource> {
  return new RegistrySource(ref, await openRepository(ref, opts), opts);
}

export async function openRegistrySink(ref: Reference, opts: RemoteOptions = {}): Promise<RegistrySink> {
  return new RegistrySink(ref, await openRepository(ref, opts, { push: true }));
}

export class RegistrySource implements ImageSource {
  readonly name: string;
  readonly location: { registry: string; repository: string };
  private readonly repo: RemoteRepository;

  constructor(private readonly ref: Reference, private readonly opened: OpenedRepository, private readonly opts: RemoteOptions = {}) {
    this.name = nameOf(ref);
    this.repo = opened.repository;
    this.location = { registry: ref.registry, repository: ref.repository };
  }

  async resolve(signal?: AbortSignal): Promise<{ bytes: Buffer; descriptor: Descriptor }> {
    const { digest, tag } = this.ref;
    // By digest the bytes must hash to it; by tag getManifest checks Docker-Content-Digest.
    const got = digest ? await this.repo.getManifest(digest, { digest }, signal) : await this.repo.getManifest(tag ?? 'latest', undefined, signal);
    const mediaType = declaredMediaType(got.bytes) ?? got.mediaType ?? '';
    return { bytes: got.bytes, descriptor: { mediaType, digest: got.digest, size: got.bytes.length } };
  }

  async manifest(desc: Descriptor, signal?: AbortSignal): Promise<Buffer> {
    return (await this.repo.getManifest(desc.digest, desc, signal)).bytes;
  }

  async blob(desc: Descriptor, signal?: AbortSignal): Promise<Readable> {
    // The first answer is awaited here, so that a missing blob fails this call rather than the stream.
    const first = await this.repo.openBlob(desc.digest, 0, signal);
    return Readable.from(resuming(this.repo, desc, first.body, signal, this.opts), { objectMode: false });
  }

  /** cosign's `<alg>-<hex>.sig` (and .att, .sbom) tags of a digest, then its referrers. */
  async attachments(digest: string, signal?: AbortSignal): Promise<Attachment[]> {
    const { algorithm, hex } = parseDigest(digest);
    const out: Attachment[] = [];
    for (const suffix of COSIGN_SUFFIXES) {
      const tag = `${algorithm}-${hex}.${suffix}`;
      const got = await this.repo.getManifest(tag, undefined, signal).catch((e: unknown) => {
        if (isOciToolError(e) && e.code === 'OCI_ERR_NOT_FOUND') return undefined;
        throw e;
      });
      if (!got) continue;
      const mediaType = declaredMediaType(got.bytes) ?? got.mediaType ?? '';
      out.push({ tag, bytes: got.bytes, descriptor: { mediaType, digest: got.digest, size: got.bytes.length } });
    }
    for (const desc of (await this.repo.referrers(digest, { signal })).manifests) {
      out.push({ bytes: await this.manifest(desc, signal), descriptor: desc });
    }
    return out;
  }

  close(): Promise<void> {
    return this.opened.close();
  }
}

export class RegistrySink implements ImageSink {
  readonly name: string;
  private readonly repo: RemoteRepository;

  constructor(private readonly ref: Reference, private readonly opened: OpenedRepository) {
    this.name = nameOf(ref);
    this.repo = opened.repository;
  }

  async hasBlob(desc: Descriptor, signal?: AbortSignal): Promise<boolean> {
    return (await this.repo.blobExists(desc.digest, signal)) !== undefined;
  }

  async putBlob(desc: Descriptor, open: () => Promise<Readable>, hint: { from?: { registry: string; repository: string }; signal?: AbortSignal } = {}): Promise<'exists' | 'mounted' | 'written'> {
    const from = hint.from;
    // A mount is a request to this registry, so it can only name a repository of the same one.
    const mountFrom = from && from.registry === this.ref.registry && from.repository !== this.ref.repository ? from.repository : undefined;
    const result = await this.repo.uploadBlob(desc, () => lazily(open), { mountFrom, signal: hint.signal });
    return result === 'uploaded' ? 'written' : result;
  }

  async putManifest(bytes: Buffer, desc: Descriptor, opts: { top: boolean; signal?: AbortSignal }): Promise<void> {
    const { tag, digest } = this.ref;
    if (opts.top && digest !== undefined && digest !== desc.digest) {
      throw new OciToolError('OCI_ERR_DIGEST_MISMATCH', `${this.name} names ${digest}, but the image copied there is ${desc.digest}`);
    }
    // Children go by digest; the top by the destination's tag (or its digest).
    const reference = opts.top ? digest ?? tag ?? 'latest' : desc.digest;
    await this.repo.putManifest(reference, bytes, desc.mediaType, opts.signal);
  }

  async putAttachment(bytes: Buffer, desc: Descriptor, opts: { tag?: string; signal?: AbortSignal }): Promise<void> {
    await this.repo.putManifest(opts.tag ?? desc.digest, bytes, desc.mediaType, opts.signal);
  }

  async commit(): Promise<void> {
    // A registry names the image with the top manifest's PUT, the last write of a copy.
  }

  close(): Promise<void> {
    return this.opened.close();
  }
}

/** The mediaType a manifest declares in its body, if any. */
function declaredMediaType(bytes: Buffer): string | undefined {
  try {
    const mt = (JSON.parse(bytes.toString('utf8')) as { mediaType?: unknown }).mediaType;
    return typeof mt === 'string' && mt !== '' ? mt : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A blob's bytes, picking up with a Range request where a broken connection left off, so that a
 * sink never sees the break (a registry sink could not resume its upload from the middle).
 */
async function* resuming(repo: RemoteRepository, desc: Descriptor, firstBody: AsyncIterable<Buffer>, signal: AbortSignal | undefined, opts: RemoteOptions): AsyncGenerator<Buffer> {
  let offset = 0;
  let body: AsyncIterable<Buffer> | undefined = firstBody;
  let skip = 0;
  for (let attempt = 1; ; attempt++) {
    try {
      if (!body) {
        const next = await repo.openBlob(desc.digest, offset, signal);
        // A server ignoring the Range starts again from 0: drop what was already passed on.
        skip = offset - next.start;
        body = next.body as AsyncIterable<Buffer>;
      }
      for await (const piece of body) {
        let chunk = piece;
        if (skip > 0) {
          const dropped = Math.min(skip, chunk.length);
          skip -= dropped;
          chunk = chunk.subarray(dropped);
          if (chunk.length === 0) continue;
        }
        offset += chunk.length;
        yield chunk;
      }
      return;
    } catch (e) {
      body = undefined;
      if (!isTemporaryError(e) || signal?.aborted) throw e;
      if (attempt >= repo.transport.retry.attempts) {
        throw new OciToolError('OCI_ERR_NETWORK', `blob ${desc.digest} of ${repo.name}: connection broken at byte ${offset} of ${desc.size} after ${attempt} tries (${errorCode(e)})`, { cause: e });
      }
      const delayMs = backoffDelay(repo.transport.retry, attempt);
      opts.onProgress?.({ type: 'retry', what: `blob ${desc.digest}`, attempt, delayMs, reason: `connection broken at byte ${offset} (${errorCode(e)}); resuming` });
      await wait(delayMs, signal);
    }
  }
}

/** A stream that opens its source on first read: uploadBlob asks for its body synchronously, once per attempt. */
function lazily(open: () => Promise<Readable>): Readable {
  return Readable.from((async function* () {
    const src = await open();
    try {
      for await (const chunk of src) yield chunk as Buffer;
    } finally {
      src.destroy();
    }
  })(), { objectMode: false });
}
