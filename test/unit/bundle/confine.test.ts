import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { isOciToolError } from '../../../src/errors.js';
import { cleanArchivePath, isInside, MAX_SYMLINKS, resolveInRoot } from '../../../src/bundle/confine.js';

const temps: string[] = [];
afterEach(async () => {
  await Promise.all(temps.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

/** A fresh root; `links` are symlinks to plant (path → target), `files` plain files, `dirs` directories. */
async function freshRoot(setup: { links?: Record<string, string>; files?: string[]; dirs?: string[] } = {}): Promise<string> {
  const base = await mkdtemp(join(tmpdir(), 'confine-'));
  temps.push(base);
  const root = join(base, 'rootfs');
  await mkdir(root);
  await writeFile(join(base, 'outside-canary'), 'outside');
  for (const d of setup.dirs ?? []) await mkdir(join(root, d), { recursive: true });
  for (const f of setup.files ?? []) {
    await mkdir(dirname(join(root, f)), { recursive: true });
    await writeFile(join(root, f), f);
  }
  for (const [p, target] of Object.entries(setup.links ?? {})) {
    await mkdir(dirname(join(root, p)), { recursive: true });
    await symlink(target, join(root, p));
  }
  return root;
}

interface Case {
  name: string;
  setup?: Parameters<typeof freshRoot>[0];
  path: string;
  followFinal?: boolean;
  /** Expected result relative to root ('' = root itself), or 'error'. */
  want: string | 'error';
}

const cases: Case[] = [
  { name: '/..', path: '/..', want: '' },
  { name: '../../..', path: '../../..', want: '' },
  { name: '/./.././..', path: '/./.././..', want: '' },
  { name: '.. in the middle', path: 'a/../../b', want: 'b' },
  { name: 'absolute name re-rooted', path: '/etc/passwd', want: 'etc/passwd' },
  { name: 'escape to the sibling by ..', path: '../outside-canary', want: 'outside-canary' },
  { name: 'symlink to /', setup: { links: { l: '/' } }, path: 'l/etc/passwd', want: 'etc/passwd' },
  { name: 'symlink to ../../..', setup: { links: { l: '../../..' } }, path: 'l/outside-canary', want: 'outside-canary' },
  { name: 'nested relative symlink climbing out', setup: { links: { 'a/b/l': '../../../../x' } }, path: 'a/b/l/y', want: 'x/y' },
  { name: 'absolute symlink into /etc', setup: { links: { 'etc-link': '/etc' } }, path: 'etc-link/shadow', want: 'etc/shadow' },
  { name: 'symlink /etc → /etc is a loop inside root', setup: { links: { etc: '/etc' } }, path: 'etc/shadow', want: 'error' },
  { name: 'absolute symlink into /etc, elsewhere', setup: { links: { 'usr/conf': '/etc' } }, path: 'usr/conf/shadow', want: 'etc/shadow' },
  { name: 'symlink to a file outside', setup: { links: { f: '/etc/passwd' } }, path: 'f', want: 'etc/passwd' },
  { name: 'symlink to a file outside, final not followed', setup: { links: { f: '/etc/passwd' } }, path: 'f', followFinal: false, want: 'f' },
  { name: 'parent symlink followed, final not', setup: { links: { d: '/x', 'x/f': '/etc/passwd' } }, path: 'd/f', followFinal: false, want: 'x/f' },
  {
    name: 'chain of symlinks',
    setup: { links: { a: 'b', b: 'c/d', 'c/d': '/e/../../f', f: '../../g' } },
    path: 'a/h',
    want: 'g/h',
  },
  { name: '.. after a symlink is physical', setup: { links: { l: '/x/y' }, dirs: ['x/y'] }, path: 'l/../z', want: 'x/z' },
  { name: 'missing component then .. then a symlink', setup: { links: { l: '/in' } }, path: 'nope/../l/x', want: 'in/x' },
  { name: 'missing components returned joined', path: 'no/such/dir/file', want: 'no/such/dir/file' },
  { name: 'component under a file', setup: { files: ['f'] }, path: 'f/x', want: 'f/x' },
  { name: 'symlink loop', setup: { links: { a: 'b', b: 'a' } }, path: 'a/x', want: 'error' },
  { name: 'self loop', setup: { links: { a: 'a' } }, path: 'a', want: 'error' },
  { name: 'loop through ..', setup: { links: { 'd/l': '../d/l' } }, path: 'd/l/x', want: 'error' },
  { name: 'NUL byte', path: 'a\0b', want: 'error' },
];

describe('resolveInRoot: hostile paths', () => {
  it.each(cases)('$name', async (c) => {
    const root = await freshRoot(c.setup);
    if (c.want === 'error') {
      const e = await resolveInRoot(root, c.path, { followFinal: c.followFinal }).catch((x: unknown) => x);
      expect(isOciToolError(e) && e.code).toBe('OCI_ERR_INVALID_CONTENT');
      expect((e as Error).message).not.toContain('\n');
      return;
    }
    const got = await resolveInRoot(root, c.path, { followFinal: c.followFinal });
    expect(isInside(root, got)).toBe(true);
    expect(relative(root, got)).toBe(c.want);
  });

  it('re-roots a symlink naming the real host path of a file outside', async () => {
    const root = await freshRoot();
    const real = join(dirname(root), 'outside-canary');
    await symlink(real, join(root, 'real'));
    expect(await resolveInRoot(root, 'real')).toBe(join(root, real));
  });

  it(`follows a chain of ${MAX_SYMLINKS} symlinks and refuses one more`, async () => {
    const root = await freshRoot();
    for (let i = 0; i < MAX_SYMLINKS + 1; i++) await symlink(`l${i + 1}`, join(root, `l${i}`));
    expect(relative(root, await resolveInRoot(root, `l1/x`))).toBe(`l${MAX_SYMLINKS + 1}/x`);
    await expect(resolveInRoot(root, 'l0/x')).rejects.toThrow(/symlink loop or more than 255/);
  });

  it('names the path in the loop error, on one line', async () => {
    const root = await freshRoot({ links: { a: 'b', b: 'a' } });
    await expect(resolveInRoot(root, 'a/x')).rejects.toThrow('cannot resolve "a/x" in the rootfs: a symlink loop or more than 255 symlinks');
  });

  it('accepts a relative root', async () => {
    const root = await freshRoot({ links: { l: '/' } });
    const rel = relative(process.cwd(), root);
    expect(await resolveInRoot(rel, 'l/../../x')).toBe(join(root, 'x'));
  });
});

describe('cleanArchivePath', () => {
  it.each([
    ['a/b', 'a/b'],
    ['./a/./b/', 'a/b'],
    ['//a//b', 'a/b'],
    ['../../etc/passwd', 'etc/passwd'],
    ['/etc/../..', '.'],
    ['/', '.'],
    ['./', '.'],
    ['.', '.'],
    ['a/..', '.'],
    ['.wh..wh..opq', '.wh..wh..opq'],
  ])('%j → %j', (input, want) => {
    expect(cleanArchivePath(input)).toBe(want);
  });

  it.each([[''], ['a\0b'], ['\0']])('refuses %j', (input) => {
    expect(() => cleanArchivePath(input)).toThrow(expect.objectContaining({ code: 'OCI_ERR_INVALID_CONTENT' }));
  });
});
