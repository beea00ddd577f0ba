// oci: — an OCI image layout directory as the source or the destination of a copy.
import { open } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { OciToolError } from '../errors.js';
import { Layout, REF_NAME_ANNOTATION } from '../image/layout.js';
import { findInLayout, refNames } from '../image/layout-refs.js';
import { Lease } from '../image/lease.js';
import type { Descriptor } from '../image/types.js';
import type { ImageSink, ImageSource } from './types.js';

export interface LayoutName {
  /** A ref name (or, as unpack reads it, a short reference or a digest); optional when the layout holds one image. */
  ref?: string;
  /** A position in index.json (skopeo's `oci:DIR:@N`). */
  index?: number;
}

const nameOf = (dir: string, n: LayoutName) => `oci:${dir}${n.index !== undefined ? `:@${n.index}` : n.ref !== undefined ? `:${n.ref}` : ''}`;

export async function openLayoutSource(dir: string, name: LayoutName = {}): Promise<LayoutSource> {
  return new LayoutSource(await Layout.open(dir, { create: false }), name);
}

export async function openLayoutSink(dir: string, ref?: string): Promise<LayoutSink> {
  const layout = await Layout.open(dir);
  // Held until close: gc keeps what this copy writes or finds present before index.json names it.
  return new LayoutSink(layout, ref, await Lease.begin(layout));
}

export class LayoutSource implements ImageSource {
  readonly name: string;

  constructor(readonly layout: Layout, private readonly which: LayoutName) {
    this.name = nameOf(layout.dir, which);
  }

  async resolve(): Promise<{ bytes: Buffer; descriptor: Descriptor }> {
    const descriptor = withoutRefName(await this.find());
    return { bytes: await this.layout.readBlob(descriptor), descriptor };
  }

  manifest(desc: Descriptor): Promise<Buffer> {
    return this.layout.readBlob(desc);
  }

  async blob(desc: Descriptor): Promise<Readable> {
    // Opened here so that a missing blob fails this call; the copy engine verifies the bytes.
    const fh = await open(this.layout.blobPath(desc.digest)).catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') throw new OciToolError('OCI_ERR_NOT_FOUND', `blob ${desc.digest} is not in ${this.layout.dir}`);
      throw new OciToolError('OCI_ERR_LAYOUT', `cannot read blob ${desc.digest} in ${this.layout.dir}: ${e.message}`);
    });
    return fh.createReadStream();
  }

  async close(): Promise<void> {}

  private async find(): Promise<Descriptor> {
    const { ref, index: at } = this.which;
    const index = await this.layout.readIndex();
    if (at !== undefined) {
      const d = index.manifests[at];
      if (!d) throw new OciToolError('OCI_ERR_NOT_FOUND', `${this.name}: ${this.layout.dir} holds ${index.manifests.length} images, so there is no @${at}`);
      return d;
    }
    if (ref !== undefined) {
      const d = await findInLayout(this.layout, ref);
      if (d) return d;
      const names = await refNames(this.layout);
      throw new OciToolError('OCI_ERR_NOT_FOUND', `no image named ${ref} in ${this.layout.dir}${names.length ? ` (it holds ${names.join(', ')})` : ''}`);
    }
    // As skopeo: without a name, the layout's only image.
    const only = index.manifests[0];
    if (index.manifests.length === 1 && only) return only;
    if (index.manifests.length === 0) throw new OciToolError('OCI_ERR_NOT_FOUND', `${this.layout.dir} holds no images`);
    const names = await refNames(this.layout);
    throw new OciToolError('OCI_ERR_BAD_REFERENCE', `${this.layout.dir} holds ${index.manifests.length} images; name one as oci:DIR:REF${names.length ? ` (${names.join(', ')})` : ''}`);
  }
}

export class LayoutSink implements ImageSink {
  readonly name: string;
  private top: Descriptor | undefined;

  constructor(readonly layout: Layout, private readonly ref: string | undefined, private readonly lease: Lease) {
    this.name = nameOf(layout.dir, { ref });
  }

  hasBlob(desc: Descriptor): Promise<boolean> {
    return this.layout.hasBlob(desc);
  }

  async putBlob(desc: Descriptor, openBlob: () => Promise<Readable>, hint: { signal?: AbortSignal } = {}): Promise<'exists' | 'mounted' | 'written'> {
    // Retained before the presence check, so that gc cannot take a present blob from under us.
    await this.lease.retain([desc.digest], { signal: hint.signal });
    const ingest = await this.layout.ingest(desc, { signal: hint.signal });
    if (!ingest) return 'exists';
    try {
      // A partial file from an interrupted run is dropped: the source stream starts at byte 0.
      if (ingest.offset > 0) await ingest.restart();
      await ingest.append(await openBlob());
      await ingest.commit();
    } catch (e) {
      await ingest.close(true);
      throw e;
    }
    return 'written';
  }

  async putManifest(bytes: Buffer, desc: Descriptor, opts: { top: boolean; signal?: AbortSignal }): Promise<void> {
    await this.lease.retain([desc.digest], { signal: opts.signal });
    await this.layout.putBlob(bytes, desc);
    if (opts.top) this.top = desc;
  }

  /** Names the image in index.json: under the ref name, or (without one) as an unnamed entry, as skopeo does. */
  async commit(signal?: AbortSignal): Promise<void> {
    const top = this.top;
    if (!top) throw new OciToolError('OCI_ERR_INTERNAL', `${this.name}: nothing to name`);
    const desc = withoutRefName(top);
    if (this.ref !== undefined) {
      await this.layout.setRef(this.ref, desc, { signal });
      return;
    }
    await this.layout.updateIndex((index) => ({
      ...index,
      manifests: [...index.manifests.filter((d) => d.digest !== desc.digest || d.annotations?.[REF_NAME_ANNOTATION] !== undefined), desc],
    }), { signal });
  }

  close(): Promise<void> {
    return this.lease.release();
  }
}

/** A descriptor without index.json's ref name, which says where an image is stored, not what it is. */
function withoutRefName(d: Descriptor): Descriptor {
  const { annotations, ...rest } = d;
  const kept = Object.entries(annotations ?? {}).filter(([k]) => k !== REF_NAME_ANNOTATION);
  return kept.length > 0 ? { ...rest, annotations: Object.fromEntries(kept) } : rest;
}
