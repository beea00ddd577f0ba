// Regression cases for the per-layer parent cache and deferred directory metadata: whatever a
// later entry replaces (an ancestor turned into a symlink, a removed directory), nothing outside
// the rootfs changes. Each case runs in a fresh sandbox with a sibling outside/ canary.
import { describe, expect, it } from 'vitest';
import { at, content, isLink, runHostile, type Hostile } from '../../support/hostile.js';
import { dir, file, hardlink, opaque, symlink, whiteout } from '../../support/tar.js';

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
  it.each(cases)('$name', runHostile);
});
