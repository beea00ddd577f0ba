// Transport names (docker://…, oci:…, oci-archive:…, docker-archive:…) to image sources and sinks.
// Each transport's module is loaded only when named, so a copy between registries never loads tar code.
import { OciToolError } from '../errors.js';
import type { RemoteOptions } from '../registry/open.js';
import { parseTransportName, type TransportName } from './names.js';
import type { ImageSink, ImageSource } from './types.js';

/** What opening a name may need: the registry options (credentials, TLS, retries) for docker:// names. */
export type TransportOptions = RemoteOptions;

export async function openSource(name: string | TransportName, opts: TransportOptions = {}): Promise<ImageSource> {
  const n = typeof name === 'string' ? parseTransportName(name) : name;
  switch (n.kind) {
    case 'docker':
      return (await import('./registry.js')).openRegistrySource(n.reference, opts);
    case 'oci':
      return (await import('./layout.js')).openLayoutSource(n.path, { ref: n.ref, index: n.index });
    case 'oci-archive':
      return (await import('./oci-archive.js')).openOciArchiveSource(n.path, archiveRef(n));
    case 'docker-archive':
      return (await import('./docker-archive.js')).openDockerArchiveSource(n.path, archiveRef(n));
  }
}

export async function openSink(name: string | TransportName, opts: TransportOptions = {}): Promise<ImageSink> {
  const n = typeof name === 'string' ? parseTransportName(name) : name;
  if (n.kind !== 'docker' && n.index !== undefined) {
    throw new OciToolError('OCI_ERR_BAD_REFERENCE', `${n.kind}:${n.path}:@${n.index}: a source index names an image to read, not a destination`);
  }
  switch (n.kind) {
    case 'docker':
      return (await import('./registry.js')).openRegistrySink(n.reference, opts);
    case 'oci':
      return (await import('./layout.js')).openLayoutSink(n.path, n.ref);
    case 'oci-archive':
      return (await import('./oci-archive.js')).openOciArchiveSink(n.path, n.ref);
    case 'docker-archive':
      return (await import('./docker-archive.js')).openDockerArchiveSink(n.path, n.ref);
  }
}

/** An archive's reference as its transport takes it: the name, or skopeo's "@N" source index. */
function archiveRef(n: { ref?: string; index?: number }): string | undefined {
  return n.index !== undefined ? `@${n.index}` : n.ref;
}
