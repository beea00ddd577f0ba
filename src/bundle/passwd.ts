// image-spec conversion.md "Config.User": a user spec resolved to uid, gid and supplementary groups
// through the rootfs' /etc/passwd and /etc/group. Those files are image content, so they are read
// confined to the rootfs (resolveInRoot), size-limited, and every numeric ID is range-checked.
import { constants } from 'node:fs';
import { lstat, open, stat } from 'node:fs/promises';
import { OciToolError } from '../errors.js';
import { resolveInRoot } from './confine.js';

/** Highest usable ID: (uid_t)-1 means "unchanged" to setuid/chown, so it is never a real ID. */
export const MAX_ID = 0xffff_fffe;
/** Larger passwd/group files are refused rather than read into memory. */
export const MAX_DB_BYTES = 1024 * 1024;

export interface ExecUser {
  uid: number;
  gid: number;
  /** Set only for a bare user name (conversion.md: not for a numeric user or an explicit group). */
  additionalGids?: number[];
}

type Db = '/etc/passwd' | '/etc/group';

const invalid = (msg: string) => new OciToolError('OCI_ERR_INVALID_CONTENT', msg);

/**
 * A decimal ID in 0..MAX_ID; undefined when `s` is not numeric. Anything numeric-looking but out of
 * range (`-1`, `4294967296`) throws: it must neither wrap to another ID (CVE-2024-40635) nor fall
 * back to a name lookup that a crafted /etc/passwd could answer with 0 (CVE-2026-46680).
 */
export function parseId(s: string, what: string): number | undefined {
  if (!/^[+-]?\d+$/.test(s)) return undefined;
  const digits = s.replace(/^0+(?=\d)/, '');
  if (!/^\d{1,10}$/.test(digits) || Number(digits) > MAX_ID) {
    throw invalid(`${what} ${JSON.stringify(s)} is out of range (0 to ${MAX_ID})`);
  }
  return Number(digits);
}

// An ID field of a passwd/group line; a malformed one never matches anything.
function idField(s: string | undefined): number | undefined {
  try {
    return s === undefined ? undefined : parseId(s, 'id');
  } catch {
    return undefined;
  }
}

function isMissing(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/** The lines of a passwd/group file split into fields; undefined when the rootfs has none. */
async function readDb(rootfs: string, name: Db): Promise<string[][] | undefined> {
  const root = await stat(rootfs).catch(() => undefined);
  if (!root?.isDirectory()) throw new OciToolError('OCI_ERR_USAGE', `rootfs ${rootfs} is not a directory`);
  const path = await resolveInRoot(rootfs, name);
  let before;
  try {
    before = await lstat(path);
  } catch (e) {
    if (isMissing(e)) return undefined;
    throw e;
  }
  // lstat first: opening a FIFO or device node of the image could block or have side effects.
  if (!before.isFile()) throw invalid(`${name} in the rootfs is not a regular file`);
  const tooLarge = () => invalid(`${name} in the rootfs is larger than ${MAX_DB_BYTES} bytes`);
  if (before.size > MAX_DB_BYTES) throw tooLarge();
  // The last component was resolved to a plain file; O_NOFOLLOW refuses a symlink swapped in since.
  const fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  try {
    const now = await fh.stat();
    if (!now.isFile() || now.ino !== before.ino || now.dev !== before.dev) throw invalid(`${name} in the rootfs changed while being read`);
    const buf = Buffer.alloc(MAX_DB_BYTES + 1);
    let n = 0;
    for (let r = 1; r > 0 && n < buf.length; n += r) r = (await fh.read(buf, n, buf.length - n, n)).bytesRead;
    if (n > MAX_DB_BYTES) throw tooLarge();
    return buf.subarray(0, n).toString('utf8').split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#'))
      .map((l) => l.split(':'));
  } finally {
    await fh.close();
  }
}

// A named entry's ID field must be valid: a garbled one must not quietly become 0.
function entryId(db: Db, entry: string[], index: number, what: string): number {
  const id = idField(entry[index]);
  if (id === undefined) throw invalid(`${db} in the rootfs: entry ${JSON.stringify(entry[0])} has an invalid ${what} ${JSON.stringify(entry[index] ?? '')}`);
  return id;
}

/**
 * Resolves Config.User (`user`, `uid`, `user:group`, `uid:gid`, `user:gid`, `uid:group`) against
 * the rootfs. A name not found is an error; a numeric user needs no passwd entry (its gid then
 * comes from its entry if there is one, else 0).
 */
export async function resolveUser(rootfs: string, spec: string): Promise<ExecUser> {
  const parts = spec.split(':');
  const [userPart = '', groupPart] = parts;
  if (parts.length > 2 || userPart === '' || groupPart === '') {
    throw invalid(`Config.User ${JSON.stringify(spec)} is not one of user, uid, user:group, uid:gid, user:gid, uid:group`);
  }
  const uidNum = parseId(userPart, 'Config.User uid');
  const gidNum = groupPart === undefined ? undefined : parseId(groupPart, 'Config.User gid');
  const out: ExecUser = { uid: 0, gid: 0 };
  if (uidNum === undefined) {
    const passwd = await readDb(rootfs, '/etc/passwd');
    if (!passwd) throw invalid(`Config.User names user ${JSON.stringify(userPart)} but the rootfs has no /etc/passwd`);
    const entry = passwd.find((f) => f[0] === userPart);
    if (!entry) throw invalid(`Config.User names user ${JSON.stringify(userPart)}, which is not in the rootfs' /etc/passwd`);
    out.uid = entryId('/etc/passwd', entry, 2, 'uid');
    out.gid = entryId('/etc/passwd', entry, 3, 'gid');
  } else {
    out.uid = uidNum;
    if (groupPart === undefined) {
      const entry = (await readDb(rootfs, '/etc/passwd'))?.find((f) => idField(f[2]) === uidNum);
      if (entry) out.gid = entryId('/etc/passwd', entry, 3, 'gid');
    }
  }
  if (gidNum !== undefined) out.gid = gidNum;
  else if (groupPart !== undefined) {
    const group = await readDb(rootfs, '/etc/group');
    if (!group) throw invalid(`Config.User names group ${JSON.stringify(groupPart)} but the rootfs has no /etc/group`);
    const entry = group.find((f) => f[0] === groupPart);
    if (!entry) throw invalid(`Config.User names group ${JSON.stringify(groupPart)}, which is not in the rootfs' /etc/group`);
    out.gid = entryId('/etc/group', entry, 2, 'gid');
  } else if (uidNum === undefined) {
    // Supplementary groups: every group listing the user name as a member, in file order.
    const gids = new Set<number>();
    for (const f of (await readDb(rootfs, '/etc/group')) ?? []) {
      const gid = idField(f[2]);
      const members = (f[3] ?? '').split(',').map((m) => m.trim());
      if (gid !== undefined && members.includes(userPart)) gids.add(gid);
    }
    out.additionalGids = [...gids];
  }
  return out;
}
