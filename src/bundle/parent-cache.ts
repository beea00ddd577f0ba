// Per-layer cache of confined parent directories, so that an entry in a directory the layer has
// already written to costs no lstat walk. An entry's cleaned archive directory maps to the host
// directory it resolved to, kept only when:
//  - the walk expanded no symlink: a clean path (no `.`/`..`) walked without one looks only at
//    the prefixes of its result, root/a, root/a/b, ... and
//  - ensureParent then found or made the result a directory, so every one of those prefixes is a
//    real directory too (none can be a symlink, a file or missing).
// Within the layer this program is the only writer (confine.ts: races are out of scope), and
// apart from removals it only ever creates at clear paths (O_EXCL opens, mkdir, symlink, link,
// mknod fail on an existing path): nothing can appear at a cached prefix without that directory
// being removed first. So the cache is emptied whenever a directory may have been removed
// (clearPath's rm, any whiteout), and is dropped with the layer. Symlinks created or removed
// elsewhere cannot change a cached walk: it met only real directories.
import { cleanArchivePath, walkInRoot } from './confine.js';

export class ParentCache {
  private readonly dirs = new Map<string, string>();

  /** A cached host directory for a cleaned archive directory, if still valid. */
  get(dir: string): string | undefined {
    return this.dirs.get(dir);
  }

  /** Resolves dir in root; says whether the result may be cached once it is a directory. */
  resolve(root: string, dir: string): { path: string; cacheable: boolean } {
    const r = walkInRoot(root, dir);
    return { path: r.path, cacheable: r.symlinks === 0 && cleanArchivePath(dir) === dir };
  }

  /** Records dir → hostDir; only after ensureParent made or found hostDir a directory. */
  set(dir: string, hostDir: string): void {
    this.dirs.set(dir, hostDir);
  }

  /** A directory may have been removed somewhere: forget everything. */
  invalidate(): void {
    this.dirs.clear();
  }
}
