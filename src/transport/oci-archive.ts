// oci-archive:FILE[:REF] (containers-transports(5)): an OCI image layout (image-spec
// image-layout.md: oci-layout, index.json, blobs/<alg>/<hex>) packed in an uncompressed tar.
// Reading indexes the tar once and streams blobs from their offsets; nothing is extracted.
// Writing fills a private layout beside FILE and packs it over FILE at commit().
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { addAbortSignal, type Readable } from 'node:stream';
import { OciToolError } from '../errors.js';
import { parseDigest, sizeMismatch, verifyBytes, VerifyingStream } from '../image/digest.js';
import { Layout, REF_NAME_ANNOTATION } from '../image/layout.js';
import { INDEX_MEDIA_TYPE } from '../image/media-types.js';
import { parseManifestDocument, type Descriptor, type ImageIndex } from '../image/types.js';
import { TarIndex, type TarMember } from './archive-tar.js';
import { makeStagingDir, writeTarAtomically, type TarEntry } from './archive-write.js';
import type { ImageSink, ImageSource } from './types.js';

// Registries refuse manifests above 4 MiB; index.json and oci-layout are smaller still.
const MAX_MANIFEST = 4 * 1024 * 1024;

const transportName = (file: string, ref?: string) => `oci-archive:${file}${ref ? `:${ref}` : ''}`;

export async function openOciArchiveSource(file: string, ref?: string): Promise<ImageSource> {
  const tar = await TarIndex.open(file);
  const marker = tar.find('oci-layout');
  if (!marker || marker.type !== 'file') {
    const hint = tar.find('manifest.json') ? ' (it looks like a docker-archive)' : '';
    throw new OciToolError('OCI_ERR_LAYOUT', `${file} is not an OCI archive: it has no oci-layout file${hint}`);
  }
  let version: unknown;
  try {
    version = (JSON.parse((await tar.read(marker, MAX_MANIFEST, 'oci-layout')).toString('utf8')) as { imageLayoutVersion?: unknown }).imageLayoutVersion;
  } catch {
    version = undefined;
  }
  if (typeof version !== 'string' || !version.startsWith('1.')) {
    throw new OciToolError('OCI_ERR_LAYOUT', `oci-layout in ${file} is not an OCI layout marker of version 1.x`);
  }
  const indexMember = tar.find('index.json');
  if (!indexMember || indexMember.type !== 'file') throw new OciToolError('OCI_ERR_LAYOUT', `${file} is not an OCI archive: it has no index.json`);
  const doc = parseManifestDocument(await tar.read(indexMember, MAX_MANIFEST, 'index.json'), INDEX_MEDIA_TYPE, `index.json in ${file}`);
  if (doc.kind !== 'index') throw new OciToolError('OCI_ERR_LAYOUT', `index.json in ${file} is not an image index`);
  return new OciArchiveSource(transportName(file, ref), file, tar, chooseImage(doc.index, file, ref));
}

/** The image REF names (a ref name, or @N for the Nth entry), or the only one. */
function chooseImage(index: ImageIndex, file: string, ref: string | undefined): Descriptor {
  const list = index.manifests;
  const held = () => list.map((d, i) => d.annotations?.[REF_NAME_ANNOTATION] ?? `@${i} (unnamed ${d.digest})`).join(', ');
  let chosen: Descriptor | undefined;
  if (ref !== undefined && /^@\d+$/.test(ref)) {
    chosen = list[Number(ref.slice(1))];
    if (!chosen) throw new OciToolError('OCI_ERR_NOT_FOUND', `${file} has no image ${ref}: it holds ${list.length} (${held() || 'none'})`);
  } else if (ref !== undefined) {
    const named = list.filter((d) => d.annotations?.[REF_NAME_ANNOTATION] === ref);
    if (named.length === 0) throw new OciToolError('OCI_ERR_NOT_FOUND', `${file} has no image named "${ref}": it holds ${held() || 'none'}`);
    if (named.length > 1) throw new OciToolError('OCI_ERR_INVALID_CONTENT', `index.json in ${file} names ${named.length} images "${ref}"`);
    chosen = named[0];
  } else {
    if (list.length === 0) throw new OciToolError('OCI_ERR_NOT_FOUND', `${file} holds no images`);
    if (list.length > 1) throw new OciToolError('OCI_ERR_USAGE', `${file} holds ${list.length} images (${held()}); name one as oci-archive:${file}:NAME or :@N`);
    chosen = list[0];
  }
  // The name belongs to this archive, not to the image: a sink gives it its own.
  const { [REF_NAME_ANNOTATION]: _name, ...rest } = chosen!.annotations ?? {};
  const { annotations: _all, ...bare } = chosen!;
  return Object.keys(rest).length > 0 ? { ...bare, annotations: rest } : bare;
}

class OciArchiveSource implements ImageSource {
  constructor(readonly name: string, private readonly file: string, private readonly tar: TarIndex, private readonly top: Descriptor) {}

  async resolve(): Promise<{ bytes: Buffer; descriptor: Descriptor }> {
    return { bytes: await this.manifest(this.top), descriptor: this.top };
  }

  async manifest(desc: Descriptor): Promise<Buffer> {
    const bytes = await this.tar.read(this.member(desc), MAX_MANIFEST, `manifest ${desc.digest}`);
    verifyBytes(bytes, desc, `manifest ${desc.digest} in ${this.file}`);
    return bytes;
  }

  async blob(desc: Descriptor, signal?: AbortSignal): Promise<Readable> {
    const stream = this.tar.stream(this.member(desc)).pipe(new VerifyingStream(desc, `blob ${desc.digest} in ${this.file}`));
    return signal ? addAbortSignal(signal, stream) : stream;
  }

  private member(desc: Descriptor): TarMember {
    const { algorithm, hex } = parseDigest(desc.digest, `digest in ${this.file}`);
    const member = this.tar.find(`blobs/${algorithm}/${hex}`);
    if (!member || member.type !== 'file') throw new OciToolError('OCI_ERR_NOT_FOUND', `blob ${desc.digest} is not in ${this.file}`);
    if (member.size !== desc.size) throw sizeMismatch(`blob ${desc.digest} in ${this.file}`, desc.size, member.size);
    return member;
  }

  async close(): Promise<void> {}
}

export async function openOciArchiveSink(file: string, ref?: string): Promise<ImageSink> {
  if (ref === '') throw new OciToolError('OCI_ERR_BAD_REFERENCE', `empty image name for oci-archive:${file}`);
  const staging = await makeStagingDir(file);
  try {
    return new OciArchiveSink(transportName(file, ref), file, ref, staging, await Layout.open(staging));
  } catch (e) {
    await rm(staging, { recursive: true, force: true });
    throw e;
  }
}

class OciArchiveSink implements ImageSink {
  private top?: Descriptor;
  private closed = false;

  constructor(
    readonly name: string,
    private readonly file: string,
    private readonly ref: string | undefined,
    private readonly staging: string,
    private readonly layout: Layout,
  ) {}

  hasBlob(desc: Descriptor): Promise<boolean> {
    return this.layout.hasBlob(desc);
  }

  async putBlob(desc: Descriptor, open: () => Promise<Readable>, hint?: { signal?: AbortSignal }): Promise<'exists' | 'written'> {
    const ingest = await this.layout.ingest(desc);
    if (!ingest) return 'exists';
    try {
      const source = await open();
      await ingest.append(hint?.signal ? addAbortSignal(hint.signal, source) : source);
    } catch (e) {
      await ingest.close(true);
      throw e;
    }
    await ingest.commit(); // checks size and digest; a mismatch leaves nothing behind
    return 'written';
  }

  async putManifest(bytes: Buffer, desc: Descriptor, opts: { top: boolean }): Promise<void> {
    await this.layout.putBlob(bytes, desc);
    if (opts.top) this.top = desc;
  }

  async commit(signal?: AbortSignal): Promise<void> {
    // Blobs a manifest names may be missing from a layout (image-layout.md); the top one may not.
    if (!this.top) throw new OciToolError('OCI_ERR_INTERNAL', `nothing to write to ${this.file}: no image manifest was stored`);
    const entry: Descriptor = this.ref === undefined ? this.top : { ...this.top, annotations: { ...this.top.annotations, [REF_NAME_ANNOTATION]: this.ref } };
    await this.layout.updateIndex(() => ({ schemaVersion: 2, mediaType: INDEX_MEDIA_TYPE, manifests: [entry] }));
    await writeTarAtomically(this.file, await this.entries(), signal);
    await this.close();
  }

  /** oci-layout, index.json, then blobs in name order: the same image always packs the same way. */
  private async entries(): Promise<TarEntry[]> {
    const entries: TarEntry[] = [
      { name: 'oci-layout', type: 'file', path: join(this.staging, 'oci-layout') },
      { name: 'index.json', type: 'file', path: join(this.staging, 'index.json') },
      { name: 'blobs', type: 'dir' },
    ];
    const blobs = join(this.staging, 'blobs');
    for (const algorithm of (await readdir(blobs)).sort()) {
      entries.push({ name: `blobs/${algorithm}`, type: 'dir' });
      for (const hex of (await readdir(join(blobs, algorithm))).sort()) {
        entries.push({ name: `blobs/${algorithm}/${hex}`, type: 'file', path: join(blobs, algorithm, hex) });
      }
    }
    return entries;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await rm(this.staging, { recursive: true, force: true });
  }
}
