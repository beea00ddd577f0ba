// One repository of a registry: the distribution-spec "pull" endpoints here, and (for a repository
// opened with `push`) the push and discovery ones, whose bodies live in upload.ts, tags.ts and
// referrers.ts.
import type { Readable } from 'node:stream';
import { OciToolError } from '../errors.js';
import { digestOf, parseDigest, verifyBytes } from '../image/digest.js';
import { MANIFEST_ACCEPT } from '../image/media-types.js';
import { listReferrers, type Referrers } from './referrers.js';
import { listTags } from './tags.js';
import { header, RegistryTransport, type RegistryResponse, type TransportOptions } from './transport.js';
import { blobExists, putManifest, uploadBlob, type PushedManifest, type UploadOptions, type UploadResult } from './upload.js';

/** Manifests larger than this are refused, as distribution does, so a hostile server cannot exhaust memory. */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

export interface ManifestHead {
  digest?: string;
  mediaType?: string;
  size?: number;
}

export interface FetchedManifest {
  bytes: Buffer;
  digest: string;
  mediaType: string | undefined;
}

export interface BlobStream {
  body: Readable;
  /** The offset the body starts at: the requested one, or 0 when the server ignored the Range. */
  start: number;
}

/** Where a repository lives: a registry host and a path inside it (a mirror may add a prefix). */
export interface RepositoryLocation {
  registry: string;
  repository: string;
}

export interface RepositoryOptions extends Omit<TransportOptions, 'repository'> {
  /** Ask for `pull,push` access: needed for uploads and manifest writes. */
  push?: boolean;
}

export class RemoteRepository {
  readonly transport: RegistryTransport;
  /** The token scope every request of this repository asks for. */
  readonly scope: string;

  constructor(readonly location: RepositoryLocation, { push, ...opts }: RepositoryOptions) {
    this.transport = new RegistryTransport(location.registry, { ...opts, repository: location.repository });
    this.scope = `repository:${location.repository}:${push ? 'pull,push' : 'pull'}`;
  }

  get name(): string {
    return `${this.location.registry}/${this.location.repository}`;
  }

  /** A path of this repository's API, e.g. endpoint('tags/list') → /v2/NAME/tags/list. */
  endpoint(suffix: string): string {
    return `/v2/${this.location.repository}/${suffix}`;
  }

  /** The blob's size when the repository holds it, else undefined. */
  blobExists(digest: string, signal?: AbortSignal): Promise<{ size: number } | undefined> {
    return blobExists(this, digest, signal);
  }

  /** Makes the repository hold a blob: present already, mounted from another repository, or uploaded. */
  uploadBlob(desc: { digest: string; size: number }, open: () => Readable | Buffer, opts?: UploadOptions): Promise<UploadResult> {
    return uploadBlob(this, desc, open, opts);
  }

  /** PUT of a manifest by tag or digest; a `subject` is recorded in the referrers tag when the registry does not. */
  putManifest(reference: string, bytes: Buffer, mediaType: string, signal?: AbortSignal): Promise<PushedManifest> {
    return putManifest(this, reference, bytes, mediaType, signal);
  }

  /** Every tag, following the registry's pagination. */
  listTags(opts?: { pageSize?: number; signal?: AbortSignal }): Promise<string[]> {
    return listTags(this, opts);
  }

  /** Manifests whose `subject` is this digest: the referrers API, else the referrers tag. */
  referrers(digest: string, opts?: { artifactType?: string; signal?: AbortSignal }): Promise<Referrers> {
    return listReferrers(this, digest, opts);
  }

  /** Reads a manifest-like body (manifest, index, tag list), refusing more than MAX_MANIFEST_BYTES. */
  async readDocument(res: RegistryResponse, what: string): Promise<Buffer> {
    const declared = Number(header(res, 'content-length'));
    if (Number.isFinite(declared) && declared > MAX_MANIFEST_BYTES) {
      await res.body.dump().catch(() => {});
      throw new OciToolError('OCI_ERR_INVALID_CONTENT', `${what} is ${declared} bytes, over the ${MAX_MANIFEST_BYTES}-byte limit`);
    }
    const chunks: Buffer[] = [];
    let total = 0;
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      total += chunk.length;
      if (total > MAX_MANIFEST_BYTES) {
        res.body.destroy();
        throw new OciToolError('OCI_ERR_INVALID_CONTENT', `${what} exceeds the ${MAX_MANIFEST_BYTES}-byte limit`);
      }
      chunks.push(chunk);
    }
    return Buffer.concat(chunks);
  }

  /** HEAD of a manifest: its digest without spending a pull (Docker Hub counts GETs only). */
  async headManifest(reference: string, signal?: AbortSignal): Promise<ManifestHead> {
    const res = await this.transport.request({
      method: 'HEAD', path: this.path('manifests', reference), scope: this.scope, signal,
      headers: { accept: MANIFEST_ACCEPT }, what: `manifest ${this.name}:${reference}`,
    });
    await res.body.dump().catch(() => {});
    const length = Number(header(res, 'content-length'));
    return {
      digest: header(res, 'docker-content-digest'),
      mediaType: header(res, 'content-type')?.split(';')[0]?.trim(),
      size: Number.isFinite(length) ? length : undefined,
    };
  }

  /**
   * GET of a manifest. By digest, the bytes must hash to it; by tag, the digest is computed here
   * and must agree with the registry's Docker-Content-Digest when it sends one.
   */
  async getManifest(reference: string, expected?: { digest: string; size?: number }, signal?: AbortSignal): Promise<FetchedManifest> {
    const what = `manifest ${this.name}${reference.includes(':') ? '@' : ':'}${reference}`;
    const res = await this.transport.request({
      method: 'GET', path: this.path('manifests', reference), scope: this.scope, signal,
      headers: { accept: MANIFEST_ACCEPT }, what,
    });
    const bytes = await this.readDocument(res, what);
    const mediaType = header(res, 'content-type')?.split(';')[0]?.trim();
    const serverDigest = header(res, 'docker-content-digest');
    let digest: string;
    if (expected) {
      verifyBytes(bytes, expected, what);
      digest = expected.digest;
    } else {
      const algorithm = serverDigest ? safeAlgorithm(serverDigest) : 'sha256';
      digest = digestOf(bytes, algorithm);
      if (serverDigest && serverDigest !== digest) {
        throw new OciToolError('OCI_ERR_DIGEST_MISMATCH', `digest mismatch for ${what}: registry says ${serverDigest}, content is ${digest}`);
      }
    }
    return { bytes, digest, mediaType };
  }

  /** Opens a blob from an offset; follows redirects to blob storage without credentials. */
  async openBlob(digest: string, offset = 0, signal?: AbortSignal): Promise<BlobStream> {
    const headers: Record<string, string> = {};
    if (offset > 0) headers.range = `bytes=${offset}-`;
    const res = await this.transport.request({
      method: 'GET', path: this.path('blobs', digest), scope: this.scope, signal, headers, what: `blob ${digest} of ${this.name}`,
    });
    if (offset > 0 && res.status === 206) {
      const start = /^bytes (\d+)-/.exec(header(res, 'content-range') ?? '')?.[1];
      if (start !== undefined && Number(start) === offset) return { body: res.body, start: offset };
      res.body.destroy();
      throw new OciToolError('OCI_ERR_REGISTRY', `blob ${digest} of ${this.name}: registry answered a range request with an unexpected range`);
    }
    return { body: res.body, start: 0 };
  }

  private path(kind: 'manifests' | 'blobs', reference: string): string {
    return this.endpoint(`${kind}/${reference}`);
  }
}

function safeAlgorithm(digest: string): 'sha256' | 'sha512' {
  try {
    return parseDigest(digest).algorithm;
  } catch {
    return 'sha256';
  }
}
