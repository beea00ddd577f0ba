// Needs the built CLI: `npm run build` first.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeImage } from '../../fixtures/build-image.js';
import { busybox } from '../../fixtures/images.js';
import { CLI, runCli } from '../support/cli.js';

let work: string;
let good: string;
let bad: string;
let layout: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'oci-tool-cli-validate-'));
  const config = { ociVersion: '1.3.0', root: { path: 'rootfs' }, process: { cwd: '/', args: ['sh'] } };
  good = join(work, 'good');
  bad = join(work, 'bad');
  for (const [dir, cwd] of [[good, '/'], [bad, 'tmp']] as const) {
    await mkdir(join(dir, 'rootfs'), { recursive: true });
    await writeFile(join(dir, 'config.json'), JSON.stringify({ ...config, process: { ...config.process, cwd } }));
  }
  layout = join(work, 'layout');
  await writeImage(layout, busybox(), 'busybox');
});
afterAll(async () => { await rm(work, { recursive: true, force: true }); });

describe('oci-tool validate', () => {
  it('says ok for a good bundle', async () => {
    expect(await runCli(['validate', good])).toEqual({ code: 0, stdout: '', stderr: `ok: ${join(good, 'config.json')}\n` });
  });

  it('prints each problem and exits 5 for a bad bundle', async () => {
    const target = join(bad, 'config.json');
    expect(await runCli(['validate', bad])).toEqual({
      code: 5,
      stdout: '',
      stderr: `${target}: /process/cwd: "tmp" is not an absolute path [process.cwd.absolute]\noci-tool: 1 problem in ${target}\n`,
    });
  });

  it('validates the current directory by default', async () => {
    const res = await new Promise<{ code: unknown; stderr: string }>((resolve) => {
      execFile(process.execPath, [CLI, 'validate'], { cwd: bad }, (err, _stdout, stderr) => resolve({ code: err?.code ?? 0, stderr }));
    });
    expect(res).toEqual({ code: 5, stderr: 'config.json: /process/cwd: "tmp" is not an absolute path [process.cwd.absolute]\noci-tool: 1 problem in config.json\n' });
  });

  it('prints the report as JSON with --json', async () => {
    const res = await runCli(['validate', '--json', bad]);
    expect(res.code).toBe(5);
    expect(JSON.parse(res.stdout)).toEqual({
      target: join(bad, 'config.json'), ok: false,
      problems: [{ pointer: '/process/cwd', rule: 'process.cwd.absolute', message: '"tmp" is not an absolute path' }],
    });
    expect(res.stderr).toBe(`oci-tool: 1 problem in ${join(bad, 'config.json')}\n`);
  });

  it('validates an image layout, whole or one image', async () => {
    expect(await runCli(['validate', '--layout', layout])).toEqual({ code: 0, stdout: '', stderr: `ok: ${layout}\n` });
    const json = await runCli(['validate', '--layout', layout, 'busybox', '--json']);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual({ target: layout, ok: true, problems: [] });
    const unknown = await runCli(['validate', '--layout', layout, 'alpine']);
    expect(unknown.code).toBe(5);
    expect(unknown.stderr).toBe(`${layout}: index.json#/manifests: no image named "alpine"; index.json names busybox [ref.unknown]\noci-tool: 1 problem in ${layout}\n`);
  });

  it('explains itself with --help', async () => {
    const res = await runCli(['validate', '--help']);
    expect(res.code).toBe(0);
    expect(res.stdout).toContain('--layout <dir>');
    expect(res.stdout).toContain('oci-tool validate --layout ./images');
  });
});
