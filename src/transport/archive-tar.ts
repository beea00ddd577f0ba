// Random access to the members of an uncompressed tar file: one pass over the headers records each
// member's data offset and size (the data itself is skipped, not read), then members are streamed
// straight from the file by offset. Understands ustar, GNU long names and PAX path/size records.
import { createReadStream } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { posix } from 'node:path';
import { Readable } from 'node:stream';
import { OciToolError } from '../errors.js';

export interface TarMember {
  readonly name: string;
  readonly type: 'file' | 'dir' | 'symlink' | 'link' | 'other';
  /** Where the member's data starts in the file. */
  readonly offset: number;
  readonly size: number;
  readonly linkname?: string;
}

const BLOCK = 512;
// Long names and PAX records are small; a huge one means a damaged or hostile file.
const MAX_META = 1024 * 1024;
const MAX_LINK_HOPS = 16;

/** Archive paths compare in one form: no "./" or leading "/", no trailing "/", "." and ".." resolved. */
export function normalizeMemberName(name: string): string {
  const n = posix.normalize(`/${name}`).slice(1);
  return n.endsWith('/') ? n.slice(0, -1) : n;
}

export class TarIndex {
  private constructor(readonly file: string, private readonly members: ReadonlyMap<string, TarMember>) {}

  /** Reads every header of FILE once. */
  static async open(file: string): Promise<TarIndex> {
    const fh = await open(file, 'r').catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') throw new OciToolError('OCI_ERR_NOT_FOUND', `${file} does not exist`);
      throw new OciToolError('OCI_ERR_LAYOUT', `cannot open ${file}: ${e.message}`);
    });
    try {
      return new TarIndex(file, await readHeaders(fh, file));
    } finally {
      await fh.close();
    }
  }

  names(): string[] {
    return [...this.members.keys()];
  }

  /** The member with this name, following symbolic and hard links to the file they name. */
  find(name: string): TarMember | undefined {
    let current = this.members.get(normalizeMemberName(name));
    for (let hops = 0; current && (current.type === 'symlink' || current.type === 'link'); hops++) {
      if (hops === MAX_LINK_HOPS || current.linkname === undefined) return undefined;
      // A symlink is relative to its own directory; a hard link names an archive path.
      const target = current.type === 'symlink' && !current.linkname.startsWith('/')
        ? posix.join(posix.dirname(current.name), current.linkname)
        : current.linkname;
      const normal = posix.normalize(target);
      if (normal === '..' || normal.startsWith('../')) return undefined;
      current = this.members.get(normalizeMemberName(target));
    }
    return current;
  }

  /** A regular file's bytes as a stream. */
  stream(member: TarMember): Readable {
    if (member.size === 0) return Readable.from([]);
    return createReadStream(this.file, { start: member.offset, end: member.offset + member.size - 1 });
  }

  /** A small member read whole; `what` names it in errors. */
  async read(member: TarMember, limit: number, what: string): Promise<Buffer> {
    if (member.size > limit) throw new OciToolError('OCI_ERR_INVALID_CONTENT', `${what} in ${this.file} is ${member.size} bytes, more than the ${limit} allowed`);
    const fh = await open(this.file, 'r');
    try {
      return await readExactly(fh, member.offset, member.size, this.file);
    } finally {
      await fh.close();
    }
  }

  /** The first bytes of a member (fewer if it is shorter), for sniffing compression. */
  async head(member: TarMember, n: number): Promise<Buffer> {
    const fh = await open(this.file, 'r');
    try {
      return await readExactly(fh, member.offset, Math.min(n, member.size), this.file);
    } finally {
      await fh.close();
    }
  }
}

async function readExactly(fh: FileHandle, position: number, length: number, file: string): Promise<Buffer> {
  const buf = Buffer.alloc(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await fh.read(buf, done, length - done, position + done);
    if (bytesRead === 0) throw new OciToolError('OCI_ERR_INVALID_CONTENT', `${file} is truncated: it ends inside a tar member`);
    done += bytesRead;
  }
  return buf;
}

interface Pending {
  path?: string;
  linkpath?: string;
  size?: number;
}

async function readHeaders(fh: FileHandle, file: string): Promise<Map<string, TarMember>> {
  const members = new Map<string, TarMember>();
  const fileSize = (await fh.stat()).size;
  const bad = (what: string, at: number) => new OciToolError('OCI_ERR_INVALID_CONTENT', `${file} is not a valid tar archive: ${what} at offset ${at}`);
  let pos = 0;
  let pending: Pending = {};
  while (pos + BLOCK <= fileSize) {
    const header = await readExactly(fh, pos, BLOCK, file);
    // End of archive: a zero block (tar writes two; one is enough to stop).
    if (header.every((b) => b === 0)) break;
    if (!checksumOk(header)) throw bad('bad header checksum', pos);
    const flag = String.fromCharCode(header[156] ?? 0);
    const headerSize = parseNumber(header.subarray(124, 136));
    if (headerSize === undefined) throw bad('bad size field', pos);
    const dataOffset = pos + BLOCK;
    const metaOnly = flag === '1' || flag === '2' || flag === '3' || flag === '4' || flag === '5' || flag === '6';
    const size = metaOnly ? 0 : pending.size ?? headerSize;
    if (dataOffset + size > fileSize) throw bad('member extends past the end of the file', pos);
    const next = dataOffset + Math.ceil(size / BLOCK) * BLOCK;
    const meta = async () => {
      if (size > MAX_META) throw bad('oversized extended header', pos);
      return readExactly(fh, dataOffset, size, file);
    };

    if (flag === 'x') {
      pending = { ...pending, ...parsePax(await meta(), () => bad('malformed PAX header', pos)) };
    } else if (flag === 'L') {
      pending = { ...pending, path: cString(await meta()) };
    } else if (flag === 'K') {
      pending = { ...pending, linkpath: cString(await meta()) };
    } else if (flag === 'g') {
      // Global PAX records only carry defaults (times, charset) that do not matter here.
    } else {
      const rawName = pending.path ?? ustarName(header);
      const name = normalizeMemberName(rawName);
      const type = flag === '0' || flag === '\0' || flag === '7' ? 'file'
        : flag === '5' ? 'dir' : flag === '2' ? 'symlink' : flag === '1' ? 'link' : 'other';
      const linkname = pending.linkpath ?? cString(header.subarray(157, 257));
      // A later member of the same name replaces an earlier one, as on extraction.
      if (name !== '') members.set(name, { name, type, offset: dataOffset, size, ...(type === 'symlink' || type === 'link' ? { linkname } : {}) });
      pending = {};
    }
    pos = next;
  }
  return members;
}

function checksumOk(header: Buffer): boolean {
  const stored = parseNumber(header.subarray(148, 156));
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const b = i >= 148 && i < 156 ? 0x20 : (header[i] as number);
    unsigned += b;
    signed += b > 127 ? b - 256 : b;
  }
  // Some old writers summed signed bytes; both are accepted, as GNU tar does.
  return stored === unsigned || stored === signed;
}

/** Octal (NUL/space padded) or, with the high bit set, GNU base-256. */
function parseNumber(field: Buffer): number | undefined {
  if (((field[0] ?? 0) & 0x80) !== 0) {
    let n = (field[0] as number) & 0x7f;
    for (let i = 1; i < field.length; i++) n = n * 256 + (field[i] as number);
    return Number.isSafeInteger(n) ? n : undefined;
  }
  const text = field.toString('latin1').replace(/[\0 ]+$/, '').replace(/^[ ]+/, '');
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) return undefined;
  return parseInt(text, 8);
}

function cString(buf: Buffer): string {
  const end = buf.indexOf(0);
  return buf.subarray(0, end < 0 ? buf.length : end).toString('utf8');
}

function ustarName(header: Buffer): string {
  const name = cString(header.subarray(0, 100));
  // Only POSIX ustar ("ustar\0") has the prefix field; GNU tar keeps other data there.
  const posixUstar = header.subarray(257, 263).toString('latin1') === 'ustar\0';
  const prefix = posixUstar ? cString(header.subarray(345, 500)) : '';
  return prefix ? `${prefix}/${name}` : name;
}

/** PAX records: "<length> <key>=<value>\n", the length counting the whole record. */
function parsePax(buf: Buffer, bad: () => OciToolError): Pending {
  const out: Pending = {};
  let i = 0;
  while (i < buf.length) {
    if (buf[i] === 0) break;
    const space = buf.indexOf(0x20, i);
    const length = space < 0 ? NaN : Number(buf.subarray(i, space).toString('latin1'));
    if (!Number.isSafeInteger(length) || length <= space - i || i + length > buf.length) throw bad();
    const record = buf.subarray(space + 1, i + length - 1).toString('utf8');
    const eq = record.indexOf('=');
    if (eq < 0) throw bad();
    const key = record.slice(0, eq);
    const value = record.slice(eq + 1);
    if (key === 'path') out.path = value;
    else if (key === 'linkpath') out.linkpath = value;
    else if (key === 'size') {
      if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value))) throw bad();
      out.size = Number(value);
    }
    i += length;
  }
  return out;
}
