import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { request, type Dispatcher } from 'undici';

export interface PushTarget {
  /** Registry base URL, e.g. http://127.0.0.1:5000 */
  url: string;
  repository: string;
  tag: string;
  headers?: Record<string, string>;
  /** e.g. an undici Agent trusting the test CA, for https registries. */
  dispatcher?: Dispatcher;
}

interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
}

interface Manifest {
  mediaType?: string;
  config?: Descriptor;
  layers?: Descriptor[];
  manifests?: Descriptor[];
}

const REF_NAME = 'org.opencontainers.image.ref.name';
const INDEX_TYPES = new Set(['application/vnd.oci.image.index.v1+json', 'application/vnd.docker.distribution.manifest.list.v2+json']);

function blobPath(layoutDir: string, digest: string): string {
  const [alg, hex] = digest.split(':');
  if (!alg || !hex || !/^[a-z0-9]+$/.test(alg) || !/^[a-f0-9]+$/.test(hex)) throw new Error(`bad digest ${digest}`);
  return join(layoutDir, 'blobs', alg, hex);
}

/** Push the image tagged `ref` in an OCI layout (or its only image) to target.repository:target.tag. */
export async function pushLayout(layoutDir: string, target: PushTarget, ref?: string): Promise<Descriptor> {
  const index = JSON.parse(await readFile(join(layoutDir, 'index.json'), 'utf8')) as Manifest;
  const entries = index.manifests ?? [];
  const top = ref === undefined ? (entries.length === 1 ? entries[0] : undefined) : entries.find((d) => d.annotations?.[REF_NAME] === ref);
  if (!top) throw new Error(ref === undefined ? `${layoutDir} has ${entries.length} images; pass a ref` : `no image named ${ref} in ${layoutDir}`);

  const base = `${target.url.replace(/\/$/, '')}/v2/${target.repository}`;
  const send = async (method: Dispatcher.HttpMethod, url: string, body?: Dispatcher.DispatchOptions['body'], headers: Record<string, string> = {}) => {
    const res = await request(url, { method, body, headers: { ...target.headers, ...headers }, dispatcher: target.dispatcher });
    const text = await res.body.text();
    return { status: res.statusCode, headers: res.headers, text };
  };
  const expect = (r: { status: number; text: string }, ok: number[], what: string): void => {
    if (!ok.includes(r.status)) throw new Error(`${what}: HTTP ${r.status} ${r.text.slice(0, 300)}`);
  };

  async function pushBlob(d: Descriptor): Promise<void> {
    const file = blobPath(layoutDir, d.digest);
    const head = await send('HEAD', `${base}/blobs/${d.digest}`);
    if (head.status === 200) return;
    const start = await send('POST', `${base}/blobs/uploads/`);
    expect(start, [202], `start upload ${d.digest}`);
    const location = start.headers.location;
    if (typeof location !== 'string') throw new Error(`upload of ${d.digest}: no Location header`);
    const put = new URL(location, base + '/');
    put.searchParams.set('digest', d.digest);
    const { size } = await stat(file);
    // Streamed from disk: test blobs may be large.
    const done = await send('PUT', put.toString(), createReadStream(file), {
      'content-type': 'application/octet-stream',
      'content-length': String(size),
    });
    expect(done, [201], `upload ${d.digest}`);
  }

  async function pushManifest(d: Descriptor, reference: string): Promise<void> {
    const bytes = await readFile(blobPath(layoutDir, d.digest));
    const manifest = JSON.parse(bytes.toString('utf8')) as Manifest;
    const mediaType = d.mediaType || manifest.mediaType;
    if (!mediaType) throw new Error(`manifest ${d.digest} has no mediaType`);
    if (INDEX_TYPES.has(mediaType)) {
      // Children first: the registry rejects an index whose manifests it lacks.
      for (const child of manifest.manifests ?? []) await pushManifest(child, child.digest);
    } else {
      for (const blob of [...(manifest.config ? [manifest.config] : []), ...(manifest.layers ?? [])]) await pushBlob(blob);
    }
    const res = await send('PUT', `${base}/manifests/${reference}`, bytes, { 'content-type': mediaType });
    expect(res, [201], `put manifest ${reference}`);
  }

  await pushManifest(top, target.tag);
  return top;
}
