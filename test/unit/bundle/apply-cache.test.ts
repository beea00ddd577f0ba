// Regression cases for the per-layer parent cache and deferred directory metadata: whatever a
// later entry replaces (an ancestor turned into a symlink, a removed directory), nothing outside
// the rootfs changes. Each case runs in a fresh sandbox with a sibling outside/ canary.
import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { applyLayer, type ApplyOptions } from '../../../src/bundle/apply.js';
import { isOciToolError } from '../../../src/errors.js';
import { dir, file, hardlink, opaque, symlink, tarStreamOf, whiteout, type TarEntry } from '../../support/tar.js';

interface Sandbox {
  base: string;
  rootfs: string;
  outside: string;
}

const temps: string[] = [];
afterEach(async () => {
  await Promise.all(temps.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

async function sandbox(): Promise<Sandbox> {
  const base = await mkdtemp(join(tmpdir(), 'hostile-'));
  temps.push(base);
  const rootfs = join(base, 'bundle', 'rootfs');
  const outside = join(base, 'outside');
  await mkdir(rootfs, { recursive: true });
  await mkdir(join(outside, 'dir'), { recursive: true });
  await writeFile(join(outside, 'canary'), 'canary');
  await writeFile(join(outside, 'dir', 'inner'), 'inner');
  return { base, rootfs, outside };
}

/** Everything under base except the rootfs: type, owner, mode, links, times and content. */
async function snapshot(s: Sandbox, rel = ''): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of await readdir(join(s.base, rel))) {
    const r = rel ? `${rel}/${name}` : name;
    const p = join(s.base, r);
    if (p === s.rootfs) continue;
    const st = await lstat(p);
    const meta = `${st.mode.toString(8)} ${st.uid}:${st.gid} n${st.nlink} ${st.mtimeMs} ${st.size}`;
    if (st.isDirectory()) {
      out[`${r}/`] = meta;
      Object.assign(out, await snapshot(s, r));
    } else if (st.isSymbolicLink()) out[r] = `${meta} -> ${await readlink(p)}`;
    else out[r] = `${meta} ${st.isFile() ? await readFile(p, 'utf8') : 'special'}`;
  }
  return out;
}

interface Hostile {
  name: string;
  layers: (s: Sandbox) => TarEntry[][];
  /** Instead of layers: one raw input, e.g. compressed or cut off. */
  input?: (s: Sandbox) => Promise<Readable>;
  opts?: ApplyOptions;
  /** The last layer is refused with this one-line message. */
  refused?: RegExp;
  /** Extra checks of where the writes landed. */
  check?: (s: Sandbox) => Promise<void>;
}

const at = (s: Sandbox, p: string) => join(s.rootfs, p);
const content = (p: string) => readFile(p, 'utf8');
const isLink = async (p: string) => (await lstat(p)).isSymbolicLink();

const cases: Hostile[] = [
  {
    name: 'cached parent replaced by a symlink, then written through (relative target)',
    layers: () => [[dir('x/'), file('x/a', 'a'), symlink('x', '../../outside'), file('x/canary', 'pwned'), file('x/new', 'pwned')]],
    check: async (s) => expect(await content(at(s, 'outside/canary'))).toBe('pwned'),
  },
  {
    name: 'cached parent replaced by a symlink, then written through (absolute target)',
    layers: (s) => [[file('x/a', 'a'), symlink('x', s.outside), file('x/canary', 'pwned'), dir('x/dir/', { mode: 0o777 }), file('x/dir/inner', 'pwned')]],
  },
  {
    name: 'cached grandparent replaced by a symlink',
    layers: (s) => [[file('x/dir/a', 'a'), file('x/b', 'b'), symlink('x', s.outside), file('x/dir/inner', 'pwned'), file('x/canary', 'pwned')]],
  },
  {
    name: 'cached parent replaced by a hard link to a symlink',
    layers: (s) => [[symlink('s', s.outside), file('x/a', 'a'), hardlink('x', 's'), file('x/canary', 'pwned')]],
    check: async (s) => expect(await isLink(at(s, 'x'))).toBe(true),
  },
  {
    name: 'cached parent replaced by a file, then a fifo',
    layers: () => [[file('x/a', 'a'), file('x', 'now a file'), file('x/b', 'b')]],
    refused: /^layer entry "x\/b": its parent is not a directory in the rootfs$/,
  },
  {
    name: 'cached parent replaced by a fifo then a symlink',
    layers: (s) => [[file('x/a', 'a'), { name: 'x', type: 'fifo' }, symlink('x', s.outside), file('x/canary', 'pwned')]],
  },
  {
    name: 'cached parent removed by a whiteout of a lower directory, then a symlink',
    layers: (s) => [[dir('x/'), file('x/lower', 'l')], [file('y/a', 'a'), whiteout('x'), symlink('x', s.outside), file('x/canary', 'pwned')]],
  },
  {
    name: 'opaque whiteout above a cached parent, then a symlink in its place',
    layers: (s) => [[file('d/x/lower', 'l')], [file('d/x/a', 'a'), opaque('d'), symlink('d/x', s.outside), file('d/x/canary', 'pwned')]],
  },
  {
    name: 'cached parent through a symlink is never cached',
    layers: (s) => [[dir('real/'), symlink('l', 'real'), file('l/a', 'a'), symlink('l', s.outside), file('l/canary', 'pwned')]],
    check: async (s) => expect(await content(at(s, 'real/a'))).toBe('a'),
  },
  {
    name: 'deferred directory modes do not follow an ancestor turned into a symlink',
    layers: (s) => [[dir('x/dir/', { mode: 0o777, mtime: new Date(0) }), symlink('x', s.outside)], [dir('y/dir/', { mode: 0o700 }), symlink('y', '../../outside')]],
  },
  {
    name: 'rootless: reopened read-only directory under an ancestor turned into a symlink',
    layers: (s) => [[dir('x/dir/', { mode: 0o555 })], [file('x/dir/f', 'f'), symlink('x', s.outside)]],
    opts: { rootless: true },
  },
];

describe('applyLayer: hostile layers stay inside the rootfs', () => {
  it.each(cases)('$name', async (c) => {
    const s = await sandbox();
    const before = await snapshot(s);
    const inputs = c.input ? [await c.input(s)] : c.layers(s).map((l) => tarStreamOf(l));
    let error: unknown;
    for (const [i, input] of inputs.entries()) {
      try {
        await applyLayer(input, s.rootfs, c.opts ?? {});
      } catch (e) {
        error = e;
        expect(i, `only the last layer may be refused: ${String(e)}`).toBe(inputs.length - 1);
      }
    }
    expect(await snapshot(s)).toEqual(before);
    if (c.refused) {
      expect(isOciToolError(error), String(error)).toBe(true);
      expect((error as Error).message).toMatch(c.refused);
      expect((error as Error).message).not.toContain('\n');
    } else {
      expect(error).toBeUndefined();
    }
    await c.check?.(s);
  });
});

