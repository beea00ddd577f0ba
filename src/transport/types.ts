// The two ends of a copy. Transports (docker://, oci:, oci-archive:, docker-archive:) implement these;
// src/transport/copy.ts moves an image from one to the other.
import type { Readable } from 'node:stream';
import type { Descriptor } from '../image/types.js';

/** Where an image comes from: a registry, a layout, an archive. */
export interface ImageSource {
  readonly name: string; // for messages, e.g. "docker://host/repo:tag"
  /** The manifest or index the reference names. */
  resolve(signal?: AbortSignal): Promise<{ bytes: Buffer; descriptor: Descriptor }>;
  /** A manifest (a child of an index) by descriptor, verified. */
  manifest(desc: Descriptor, signal?: AbortSignal): Promise<Buffer>;
  /** A blob's bytes as a stream; the copy engine verifies digest and size while it streams. */
  blob(desc: Descriptor, signal?: AbortSignal): Promise<Readable>;
  /** For registry sources: where blobs live, so a sink on the same registry can mount them. */
  readonly location?: { registry: string; repository: string };
  /** Manifests attached to a digest (cosign's `.sig` tags, referrers), for copies that carry signatures along. */
  attachments?(digest: string, signal?: AbortSignal): Promise<Attachment[]>;
  close(): Promise<void>;
}

/** A manifest that belongs with an image without being part of it: a signature, an SBOM, an attestation. */
export interface Attachment {
  bytes: Buffer;
  descriptor: Descriptor;
  /** The tag it lives under at the source (cosign's `sha256-<hex>.sig`); none for a referrer. */
  tag?: string;
}

/** Where an image goes. Blobs first, then child manifests, then the top one with its name. */
export interface ImageSink {
  readonly name: string;
  hasBlob(desc: Descriptor, signal?: AbortSignal): Promise<boolean>;
  /** Returns 'exists' without calling `open` when the sink has the blob already (the copy engine relies on it). */
  putBlob(
    desc: Descriptor,
    open: () => Promise<Readable>,
    hint?: { from?: { registry: string; repository: string }; signal?: AbortSignal },
  ): Promise<'exists' | 'mounted' | 'written'>;
  putManifest(bytes: Buffer, desc: Descriptor, opts: { top: boolean; signal?: AbortSignal }): Promise<void>;
  /** Stores an attachment's manifest (its blobs already put) under its tag, or by digest. */
  putAttachment?(bytes: Buffer, desc: Descriptor, opts: { tag?: string; signal?: AbortSignal }): Promise<void>;
  /** Finishes (an archive is written out here); nothing is visible under the name before. */
  commit(signal?: AbortSignal): Promise<void>;
  close(): Promise<void>;
}
