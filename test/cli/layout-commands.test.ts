// Needs the built CLI: `npm run build` first. ls, rm, gc and inspect --layout as a user runs them.
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeImage, writeIndex, type Descriptor } from '../../fixtures/build-image.js';
import { layered } from '../../fixtures/images.js';
import { formatBytes } from '../../src/cli/progress.js';
import { runCli } from '../support/cli.js';

let work: string;
let layout: string;
let app: Descriptor;
let multi: Descriptor;
let appManifest: { config: Descriptor; layers: Descriptor[] };

const blob = (digest: string) => readFile(join(layout, 'blobs', 'sha256', digest.slice(7)));
const short = (d: string) => d.slice(0, 19);

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'oci-tool-cli-layout-'));
  layout = join(work, 'layout');
  app = await writeImage(layout, { ...layered(2), config: { Cmd: ['sh'], Labels: { team: 'infra' } } }, 'docker.io/library/app:1.0');
  multi = await writeIndex(layout, [
    { ...layered(1), platform: { os: 'linux', architecture: 'amd64' } },
    { ...layered(1), platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
  ], 'multi');
  appManifest = JSON.parse((await blob(app.digest)).toString('utf8')) as typeof appManifest;
});
afterAll(async () => { await rm(work, { recursive: true, force: true }); });

describe('oci-tool ls', () => {
  it('prints a table of the images, and JSON with --json', async () => {
    const res = await runCli(['ls', '--layout', layout]);
    expect(res).toMatchObject({ code: 0, stderr: '' });
    const lines = res.stdout.split('\n');
    expect(lines[0]).toMatch(/^REF NAME +DIGEST +MEDIA TYPE +PLATFORM +SIZE$/);
    expect(lines[1]).toMatch(new RegExp(`^docker\\.io/library/app:1\\.0  ${short(app.digest)}  application/vnd\\.oci\\.image\\.manifest\\.v1\\+json +linux/amd64 +[\\d.]+ (B|kB)$`));
    expect(lines[2]).toMatch(new RegExp(`^multi +${short(multi.digest)}  application/vnd\\.oci\\.image\\.index\\.v1\\+json +linux/amd64,linux/arm64/v8 +[\\d.]+ (B|kB)$`));
    expect(lines.slice(3)).toEqual(['']);
    const json = JSON.parse((await runCli(['ls', '--layout', layout, '--json'])).stdout) as { refName: string; digest: string; size: number }[];
    expect(json.map((i) => [i.refName, i.digest])).toEqual([['docker.io/library/app:1.0', app.digest], ['multi', multi.digest]]);
    const appSize = app.size + appManifest.config.size + appManifest.layers.reduce((n, l) => n + l.size, 0);
    expect(json[0]?.size).toBe(appSize);
  });

  it('exits 3 where there is no layout, creating none', async () => {
    const res = await runCli(['ls', '--layout', join(work, 'none')]);
    expect(res).toEqual({ code: 3, stdout: '', stderr: `oci-tool: no OCI image layout at ${join(work, 'none')}\n` });
    expect(await stat(join(work, 'none')).catch(() => undefined)).toBeUndefined();
  });
});

describe('oci-tool inspect --layout', () => {
  it('prints the stored manifest and config bytes exactly', async () => {
    const raw = await runCli(['inspect', '--layout', layout, '--raw', 'app:1.0']);
    expect(raw.code).toBe(0);
    expect(Buffer.from(raw.stdout).equals(await blob(app.digest))).toBe(true);
    const config = await runCli(['inspect', '--layout', layout, '--config', 'docker.io/library/app:1.0']);
    expect(Buffer.from(config.stdout).equals(await blob(appManifest.config.digest))).toBe(true);
  });

  it('describes an image for people', async () => {
    const res = await runCli(['inspect', '--layout', layout, 'app:1.0']);
    expect(res.stderr).toBe('');
    expect(res.stdout).toBe([
      'Name:         docker.io/library/app:1.0',
      `Digest:       ${app.digest}`,
      'Media type:   application/vnd.oci.image.manifest.v1+json',
      'Platform:     linux/amd64',
      'Created:      1970-01-01T00:00:00Z',
      'Layers:',
      ...appManifest.layers.map((l) => `  ${l.digest}  ${formatBytes(l.size).padStart(8)}  application/vnd.oci.image.layer.v1.tar+gzip`),
      `Total size:   ${formatBytes(app.size + appManifest.config.size + appManifest.layers.reduce((n, l) => n + l.size, 0))}`,
      'Labels:',
      '  team=infra',
      'Cmd:          ["sh"]',
      '',
    ].join('\n'));
  });

  it('exits 2 for --raw with --json, and 3 for an image the layout lacks', async () => {
    expect(await runCli(['inspect', '--layout', layout, '--raw', '--json', 'multi'])).toEqual({ code: 2, stdout: '', stderr: 'oci-tool: --raw, --config and --json exclude each other\n' });
    const missing = await runCli(['inspect', '--layout', layout, 'nothing']);
    expect(missing).toEqual({ code: 3, stdout: '', stderr: `oci-tool: no image "nothing" in ${layout}; it holds: docker.io/library/app:1.0, multi\n` });
  });
});

describe('oci-tool tags', () => {
  it('exits 2 for a reference with a tag, before any network', async () => {
    expect(await runCli(['tags', '127.0.0.1:9/team/app:1.0'])).toEqual({ code: 2, stdout: '', stderr: 'oci-tool: tags takes a repository without tag or digest, not "127.0.0.1:9/team/app:1.0"\n' });
  });
});

describe('oci-tool rm and gc', () => {
  it('rm exits 3 naming what the layout holds, and changes nothing', async () => {
    const before = await readFile(join(layout, 'index.json'));
    expect(await runCli(['rm', '--layout', layout, 'busybox'])).toEqual({
      code: 3, stdout: '', stderr: `oci-tool: no image "busybox" in ${layout}; it holds: docker.io/library/app:1.0, multi\n`,
    });
    expect((await readFile(join(layout, 'index.json'))).equals(before)).toBe(true);
  });

  it('rm removes the name; gc --dry-run shows the blobs, gc removes them and reports the bytes', async () => {
    expect(await runCli(['rm', '--layout', layout, 'app:1.0'])).toEqual({ code: 0, stdout: `removed docker.io/library/app:1.0 (${app.digest})\n`, stderr: '' });
    // The second layer and the config and manifest are the app's alone; the first is shared with multi.
    const gone = [app, appManifest.config, appManifest.layers[1] as Descriptor];
    const bytes = gone.reduce((n, d) => n + d.size, 0);
    const dry = await runCli(['gc', '--layout', layout, '--dry-run']);
    expect(dry.code).toBe(0);
    expect(dry.stdout.split('\n').filter((l) => l.startsWith('would remove blob')).sort()).toEqual(gone.map((d) => `would remove blob ${d.digest} (${formatBytes(d.size)})`).sort());
    expect(dry.stdout).toContain(`would free ${formatBytes(bytes)} (3 blobs, 0 partial files)\n`);
    for (const d of gone) expect((await blob(d.digest)).length).toBe(d.size);
    const real = await runCli(['gc', '--layout', layout, '--json']);
    expect(real.code).toBe(0);
    const result = JSON.parse(real.stdout) as { blobs: { digest: string }[]; bytesFreed: number; dryRun: boolean };
    expect(result.dryRun).toBe(false);
    expect(result.blobs.map((b) => b.digest).sort()).toEqual(gone.map((d) => d.digest).sort());
    expect(result.bytesFreed).toBe(bytes);
    expect(await runCli(['gc', '--layout', layout])).toEqual({ code: 0, stdout: 'freed 0 B (0 blobs, 0 partial files)\n', stderr: '' });
    expect((await runCli(['validate', '--layout', layout])).code).toBe(0);
  });
});
