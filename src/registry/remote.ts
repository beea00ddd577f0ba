// Read access to one repository of a registry (distribution-spec "pull" endpoints).
import type { Readable } from 'node:stream';
import { OciToolError } from '../errors.js';
import { digestOf, parseDigest, verifyBytes } from '../image/digest.js';
import { MANIFEST_ACCEPT } from '../image/media-types.js';
import { header, RegistryTransport, type TransportOptions } from './transport.js';

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

export class RemoteRepository {
  readonly transport: RegistryTransport;
  private readonly scope: string;

  constructor(readonly location: RepositoryLocation, opts: Omit<TransportOptions, 'repository'>) {
    this.transport = new RegistryTransport(location.registry, { ...opts, repository: location.repository });
    this.scope = `repository:${location.repository}:pull`;
  }

  get name(): string {
    return `${this.location.registry}/${this.location.repository}`;
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
    const bytes = Buffer.concat(chunks);
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
    return `/v2/${this.location.repository}/${kind}/${reference}`;
  }
}

function safeAlgorithm(digest: string): 'sha256' | 'sha512' {
  try {
    return parseDigest(digest).algorithm;
  } catch {
    return 'sha256';
  }
}
