// A small tar builder for tests (after containerd's pkg/archive/tartest): entries in, tar out.
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import tarStream, { type Header } from 'tar-stream';

export interface TarEntry {
  name: string;
  type?: Header['type'];
  content?: string | Buffer;
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: Date;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  /** Extra PAX records (e.g. SCHILY.xattr.*). */
  pax?: Record<string, string>;
}

export const EPOCH = new Date('2020-01-02T03:04:05Z');

type Extra = Partial<Omit<TarEntry, 'name'>>;

export const file = (name: string, content: string | Buffer = '', extra: Extra = {}): TarEntry => ({ name, type: 'file', content, mode: 0o644, ...extra });
export const dir = (name: string, extra: Extra = {}): TarEntry => ({ name, type: 'directory', mode: 0o755, ...extra });
export const symlink = (name: string, target: string, extra: Extra = {}): TarEntry => ({ name, type: 'symlink', linkname: target, mode: 0o777, ...extra });
export const hardlink = (name: string, target: string, extra: Extra = {}): TarEntry => ({ name, type: 'link', linkname: target, mode: 0o644, ...extra });
/** `.wh.NAME` in NAME's directory. */
export const whiteout = (path: string): TarEntry => {
  const i = path.lastIndexOf('/');
  return file(`${path.slice(0, i + 1)}.wh.${path.slice(i + 1)}`);
};
export const opaque = (dirPath: string): TarEntry => file(`${dirPath.replace(/\/?$/, '/')}.wh..wh..opq`);

function packOf(entries: TarEntry[]) {
  const pack = tarStream.pack();
  for (const e of entries) {
    const type = e.type ?? 'file';
    const header = {
      name: e.name, type, mode: e.mode ?? 0o644, uid: e.uid ?? 0, gid: e.gid ?? 0, mtime: e.mtime ?? EPOCH,
      linkname: e.linkname, devmajor: e.devmajor, devminor: e.devminor, pax: e.pax,
    };
    // File bodies are written whole; other types carry none and finish by themselves.
    if (type === 'file' || type === 'contiguous-file') pack.entry(header, Buffer.from(e.content ?? ''));
    else pack.entry(header);
  }
  pack.finalize();
  return pack;
}

/** The whole tar in memory. */
export async function tarBuffer(entries: TarEntry[]): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of packOf(entries)) chunks.push(Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks);
}

/** The tar as a Node stream, produced as it is read. */
export function tarStreamOf(entries: TarEntry[]): Readable {
  return Readable.from(packOf(entries));
}

export async function tarGzip(entries: TarEntry[]): Promise<Buffer> {
  return gzipSync(await tarBuffer(entries));
}
