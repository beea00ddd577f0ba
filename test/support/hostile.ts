// A sandbox for hostile-layer tests (after umoci's tar_extract_test and containerd's
// TestBreakouts): bundle/rootfs beside an outside/ canary, and a runner that applies a case's
// layers and checks that nothing outside the rootfs changed.
import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { afterEach, expect } from 'vitest';
import { applyLayer, type ApplyOptions } from '../../src/bundle/apply.js';
import { isOciToolError } from '../../src/errors.js';
import { tarStreamOf, type TarEntry } from './tar.js';

export interface Sandbox {
  base: string;
  rootfs: string;
  outside: string;
}

const temps: string[] = [];
afterEach(async () => {
  await Promise.all(temps.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

export async function sandbox(): Promise<Sandbox> {
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

export interface Hostile {
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

export const at = (s: Sandbox, p: string) => join(s.rootfs, p);
export const content = (p: string) => readFile(p, 'utf8');
export const isLink = async (p: string) => (await lstat(p)).isSymbolicLink();

/** Applies a case's layers in a fresh sandbox; only the last may be refused, nothing outside may change. */
export async function runHostile(c: Hostile): Promise<void> {
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
}
