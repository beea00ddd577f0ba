// What both archive sinks share: a private staging directory beside the target file, and writing
// the finished tar to a temporary file there that is renamed over the target, so that FILE is
// either the old archive or the complete new one, never a partial write.
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, open, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { OciToolError } from '../errors.js';

export type TarEntry =
  | { readonly name: string; readonly type: 'dir' }
  | { readonly name: string; readonly type: 'file'; readonly bytes: Uint8Array }
  | { readonly name: string; readonly type: 'file'; readonly path: string }
  | { readonly name: string; readonly type: 'symlink'; readonly linkname: string };

// Fixed owner, times and modes: the same image gives the same archive bytes.
const EPOCH = new Date(0);

/** Creates the staging directory for an archive to be written at FILE (which must not be a directory). */
export async function makeStagingDir(file: string): Promise<string> {
  const st = await stat(file).catch(() => undefined);
  if (st?.isDirectory()) throw new OciToolError('OCI_ERR_USAGE', `${file} is a directory, not an archive file`);
  return mkdtemp(join(dirname(file), `.${basename(file)}.oci-tool-`)).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') throw new OciToolError('OCI_ERR_NOT_FOUND', `cannot write ${file}: directory ${dirname(file)} does not exist`);
    throw new OciToolError('OCI_ERR_LAYOUT', `cannot write beside ${file}: ${e.message}`);
  });
}

/** Writes the entries, in order, as a tar at FILE; nothing appears under that name until it is complete. */
export async function writeTarAtomically(file: string, entries: Iterable<TarEntry>, signal?: AbortSignal): Promise<void> {
  const tmp = join(dirname(file), `.${basename(file)}.tmp-${randomBytes(6).toString('hex')}`);
  const pack = tar.pack();
  try {
    await Promise.all([
      feed(pack, entries, signal).catch((e: unknown) => {
        pack.destroy(e as Error);
        throw e;
      }),
      pipeline(Readable.from(pack), createWriteStream(tmp, { flags: 'wx' }), ...(signal ? [{ signal }] : [])).catch((e: unknown) => {
        pack.destroy(e as Error);
        throw e;
      }),
    ]);
    const fh = await open(tmp, 'r+');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, file);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

function header(entry: TarEntry, size: number): Parameters<tar.Pack['entry']>[0] {
  return {
    name: entry.type === 'dir' ? `${entry.name}/` : entry.name,
    type: entry.type === 'dir' ? 'directory' : entry.type,
    mode: entry.type === 'dir' ? 0o755 : entry.type === 'symlink' ? 0o777 : 0o644,
    uid: 0, gid: 0, mtime: EPOCH, size,
    ...(entry.type === 'symlink' ? { linkname: entry.linkname } : {}),
  };
}

async function feed(pack: tar.Pack, entries: Iterable<TarEntry>, signal?: AbortSignal): Promise<void> {
  for (const entry of entries) {
    signal?.throwIfAborted();
    await new Promise<void>((resolve, reject) => {
      const done = (err?: Error | null) => (err ? reject(err) : resolve());
      if (entry.type !== 'file') {
        pack.entry(header(entry, 0), done);
      } else if ('bytes' in entry) {
        pack.entry(header(entry, entry.bytes.byteLength), Buffer.from(entry.bytes.buffer, entry.bytes.byteOffset, entry.bytes.byteLength), done);
      } else {
        copyInto(pack, entry, done).catch(reject);
      }
    });
  }
  pack.finalize();
}

/** Streams a file into a pack entry, respecting the entry's backpressure. */
async function copyInto(pack: tar.Pack, entry: TarEntry & { path: string }, done: (err?: Error | null) => void): Promise<void> {
  const { size } = await stat(entry.path);
  const sink = pack.entry(header(entry, size), done);
  try {
    await pump(entry.path, sink);
  } catch (e) {
    sink.destroy(e as Error);
    throw e;
  }
}

async function pump(path: string, sink: ReturnType<tar.Pack['entry']>): Promise<void> {
  for await (const chunk of createReadStream(path)) {
    if (!sink.write(chunk as Buffer)) {
      // A destroyed entry (the pack failed) never drains again.
      if (sink.destroying || sink.destroyed) throw new OciToolError('OCI_ERR_INTERNAL', `writing ${path} into the archive was cut short`);
      await new Promise<void>((resolve, reject) => {
        const off = () => {
          sink.off('drain', ok).off('close', ok).off('error', fail);
        };
        const ok = () => {
          off();
          resolve();
        };
        const fail = (e: Error) => {
          off();
          reject(e);
        };
        sink.on('drain', ok).on('close', ok).on('error', fail);
      });
    }
  }
  sink.end(null);
}
