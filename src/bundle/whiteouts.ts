// OCI whiteouts (image-spec layer.md): `.wh.NAME` removes NAME from lower layers, `.wh..wh..opq`
// empties its directory of lower-layer content. Both apply only to lower layers, whatever their
// position in the tar, so the layer tracks the paths it has written (and their ancestors, as
// umoci's upperPaths) and removal walks around them.
import { lstat, readdir, rm } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { OciToolError } from '../errors.js';
import { resolveInRoot } from './confine.js';

export const WHITEOUT_PREFIX = '.wh.';
export const OPAQUE_WHITEOUT = '.wh..wh..opq';

/** Host paths (relative to the rootfs) this layer created or kept, with their ancestors. */
export class UpperPaths {
  private readonly paths = new Set<string>();

  constructor(private readonly root: string) {}

  add(hostPath: string): void {
    for (let rel = relative(this.root, hostPath); rel !== '' && !this.paths.has(rel); rel = parent(rel)) this.paths.add(rel);
  }

  has(hostPath: string): boolean {
    const rel = relative(this.root, hostPath);
    return rel === '' || this.paths.has(rel);
  }
}

function parent(rel: string): string {
  const d = dirname(rel);
  return d === '.' ? '' : d;
}

async function lstatOrNull(p: string) {
  try {
    return await lstat(p);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return null;
    throw e;
  }
}

/** Removes p unless this layer wrote it; inside a kept directory, removes what it did not write. */
async function removeLower(p: string, upper: UpperPaths, keepSelf: boolean): Promise<void> {
  const st = await lstatOrNull(p);
  if (!st) return;
  if (!keepSelf && !upper.has(p)) {
    await rm(p, { recursive: true, force: true });
    return;
  }
  if (!st.isDirectory()) return;
  for (const child of await readdir(p)) await removeLower(join(p, child), upper, false);
}

/**
 * Applies the whiteout entry `name` (already cleaned, basename starting with `.wh.`). The parent
 * is resolved inside the root, and the final name is never followed, so a whiteout can only
 * remove paths inside the rootfs.
 */
export async function applyWhiteout(root: string, name: string, upper: UpperPaths): Promise<'opaque' | 'remove'> {
  const slash = name.lastIndexOf('/');
  const dir = slash < 0 ? '.' : name.slice(0, slash);
  const base = name.slice(slash + 1);
  const parentPath = await resolveInRoot(root, dir);
  if (base === OPAQUE_WHITEOUT) {
    const st = await lstatOrNull(parentPath);
    if (st?.isDirectory()) await removeLower(parentPath, upper, true);
    upper.add(parentPath);
    return 'opaque';
  }
  const target = base.slice(WHITEOUT_PREFIX.length);
  if (target === '' || target === '.' || target === '..') {
    throw new OciToolError('OCI_ERR_INVALID_CONTENT', `invalid whiteout entry ${JSON.stringify(name)}: it names no file`);
  }
  await removeLower(join(parentPath, target), upper, false);
  return 'remove';
}
