// Driving ImageSource/ImageSink by hand in transport tests, without the copy engine in between.
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { Layout } from '../../src/image/layout.js';
import { parseManifestDocument, type Descriptor, type ImageManifest } from '../../src/image/types.js';
import type { ImageSink, ImageSource } from '../../src/transport/types.js';

export async function readAll(stream: Readable): Promise<Buffer> {
  return Buffer.concat(await stream.toArray());
}

/** The single-image manifest a source names; its bytes must hash to the digest it reports. */
export async function resolveManifest(source: ImageSource): Promise<{ manifest: ImageManifest; descriptor: Descriptor; bytes: Buffer }> {
  const { bytes, descriptor } = await source.resolve();
  const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  if (digest !== descriptor.digest) throw new Error(`${source.name}: manifest hashes to ${digest}, not ${descriptor.digest}`);
  const doc = parseManifestDocument(bytes, descriptor.mediaType, source.name);
  if (doc.kind !== 'manifest') throw new Error('expected a manifest');
  return { manifest: doc.manifest, descriptor, bytes };
}

/** An image of a layout as an ImageSource. */
export async function layoutSource(layoutDir: string, top: Descriptor): Promise<ImageSource> {
  const layout = await Layout.open(layoutDir, { create: false });
  return {
    name: `oci:${layoutDir}`,
    resolve: async () => ({ bytes: await layout.readBlob(top), descriptor: { mediaType: top.mediaType, digest: top.digest, size: top.size } }),
    manifest: (desc) => layout.readBlob(desc),
    blob: async (desc) => layout.openBlob(desc),
    close: async () => {},
  };
}

/** What the copy engine does: blobs, then child manifests, then the top one, then commit. */
export async function driveSink(source: ImageSource, sink: ImageSink): Promise<Descriptor> {
  const { bytes, descriptor } = await source.resolve();
  const put = async (manifestBytes: Buffer, desc: Descriptor, top: boolean): Promise<void> => {
    const doc = parseManifestDocument(manifestBytes, desc.mediaType, desc.digest);
    if (doc.kind === 'index') {
      for (const child of doc.index.manifests) await put(await source.manifest(child), child, false);
    } else {
      for (const blob of [doc.manifest.config, ...doc.manifest.layers]) await sink.putBlob(blob, () => source.blob(blob));
    }
    await sink.putManifest(manifestBytes, desc, { top });
  };
  await put(bytes, descriptor, true);
  await sink.commit();
  return descriptor;
}
