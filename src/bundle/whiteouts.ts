// OCI whiteouts (image-spec layer.md): `.wh.NAME` removes NAME from lower layers, `.wh..wh..opq`
// empties its directory of lower-layer content. Both apply only to lower layers, whatever their
// position in the tar, so the layer tracks the paths it has written (and their ancestors, as
// umoci's upperPaths) and removal walks around them.
import { lstatSync, readdirSync, rmSync, type Stats } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { OciToolError } from '../errors.js';
import { resolveInRootSync } from './confine.js';

export const WHITEOUT_PREFIX = '.wh.';
export const OPAQUE_WHITEOUT = '.wh..wh..opq';

/** Host paths (relative to the rootfs) this layer created or kept, with their ancestors. */
export class UpperPaths {
  private readonly paths = new Set<string>();

  constructor(private readonly root: string) {}

  add(hostPath: string): void {
    for (let rel = this.rel(hostPath); rel !== '' && !this.paths.has(rel); rel = parent(rel)) this.paths.add(rel);
  }

  has(hostPath: string): boolean {
    const rel = this.rel(hostPath);
    return rel === '' || this.paths.has(rel);
  }

  /** relative(root, hostPath), cheaply for the normalized (join()ed) paths it is always given. */
  private rel(hostPath: string): string {
    if (hostPath.startsWith(this.root + sep) && !hostPath.endsWith(sep)) return hostPath.slice(this.root.length + 1);
    return relative(this.root, hostPath);
  }
}

function parent(rel: string): string {
  const d = dirname(rel);
  return d === '.' ? '' : d;
}

function lstatOrNull(p: string): Stats | null {
  try {
    return lstatSync(p, { throwIfNoEntry: false }) ?? null;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return null;
    throw e;
  }
}

/** Removes p unless this layer wrote it; inside a kept directory, removes what it did not write. */
function removeLower(p: string, upper: UpperPaths, keepSelf: boolean): void {
  const st = lstatOrNull(p);
  if (!st) return;
  if (!keepSelf && !upper.has(p)) {
    rmSync(p, { recursive: true, force: true });
    return;
  }
  if (!st.isDirectory()) return;
  for (const child of readdirSync(p)) removeLower(join(p, child), upper, false);
}

/**
 * Applies the whiteout entry `name` (already cleaned, basename starting with `.wh.`). The parent
 * is resolved inside the root, and the final name is never followed, so a whiteout can only
 * remove paths inside the rootfs.
 */
export function applyWhiteout(root: string, name: string, upper: UpperPaths): 'opaque' | 'remove' {
  const slash = name.lastIndexOf('/');
  const dir = slash < 0 ? '.' : name.slice(0, slash);
  const base = name.slice(slash + 1);
  const parentPath = resolveInRootSync(root, dir);
  if (base === OPAQUE_WHITEOUT) {
    const st = lstatOrNull(parentPath);
    if (st?.isDirectory()) removeLower(parentPath, upper, true);
    upper.add(parentPath);
    return 'opaque';
  }
  const target = base.slice(WHITEOUT_PREFIX.length);
  if (target === '' || target === '.' || target === '..') {
    throw new OciToolError('OCI_ERR_INVALID_CONTENT', `invalid whiteout entry ${JSON.stringify(name)}: it names no file`);
  }
  removeLower(join(parentPath, target), upper, false);
  return 'remove';
}
