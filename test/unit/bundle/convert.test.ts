import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { toRuntimeSpec, type ToRuntimeSpecOptions } from '../../../src/bundle/convert.js';
import { MAX_DB_BYTES } from '../../../src/bundle/passwd.js';
import { isOciToolError } from '../../../src/errors.js';
import { defaultSpec, type Spec } from '../../../src/generate/spec.js';
import { checkDocument } from '../../../src/image/schema.js';
import type { ImageConfig } from '../../../src/image/types.js';

const PASSWD = [
  'root:x:0:0:root:/root:/bin/sh',
  'alice:x:1000:1000::/home/alice:/bin/sh',
  'bob:x:1001:100::/home/bob:/bin/sh',
  // A crafted entry: an out-of-range numeric User must never be looked up as a name.
  '99999999999:x:0:0::/:/bin/sh',
  'garbled:x:12x:0::/:/bin/sh',
].join('\n');
const GROUP = ['root:x:0:', 'wheel:x:10:alice', 'users:x:100:alice,bob', 'alice:x:1000:', 'docker:x:999:bob', 'staff:x:50:root'].join('\n');

const temps: string[] = [];
afterEach(async () => {
  await Promise.all(temps.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

/** A fresh rootfs holding `files` (path → content) and `links` (path → target); `outside` is a sibling dir. */
async function rootfs(files: Record<string, string> = { 'etc/passwd': PASSWD, 'etc/group': GROUP }, links: Record<string, string> = {}) {
  const base = await mkdtemp(join(tmpdir(), 'convert-'));
  temps.push(base);
  const root = join(base, 'rootfs');
  const outside = join(base, 'outside');
  await mkdir(root);
  await mkdir(outside);
  for (const [p, content] of Object.entries(files)) {
    await mkdir(dirname(join(root, p)), { recursive: true });
    await writeFile(join(root, p), content);
  }
  for (const [p, target] of Object.entries(links)) {
    await mkdir(dirname(join(root, p)), { recursive: true });
    await symlink(target, join(root, p));
  }
  return { root, outside };
}

function image(config: ImageConfig['config'] = {}, extra: Partial<ImageConfig> = {}): ImageConfig {
  return { architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, config, ...extra };
}

async function convert(img: ImageConfig, opts: Partial<ToRuntimeSpecOptions> = {}): Promise<Spec> {
  const root = opts.rootfs ?? (await rootfs()).root;
  const spec = await toRuntimeSpec(img, { ...opts, rootfs: root });
  expect(checkDocument('runtime-config', spec)).toEqual([]);
  return spec;
}

async function failure(p: Promise<unknown>): Promise<{ code: string; message: string }> {
  const e = await p.then(() => undefined, (err: unknown) => err);
  if (!isOciToolError(e)) throw new Error(`expected an OciToolError, got ${String(e)}`);
  return { code: e.code, message: e.message };
}

describe('verbatim fields', () => {
  it.each([
    { name: 'Entrypoint + Cmd', config: { Entrypoint: ['/bin/app', '-v'], Cmd: ['serve'] }, args: ['/bin/app', '-v', 'serve'] },
    { name: 'Cmd alone', config: { Cmd: ['echo', 'hi'] }, args: ['echo', 'hi'] },
    { name: 'Entrypoint alone', config: { Entrypoint: ['/init'] }, args: ['/init'] },
    { name: 'neither: template args stay', config: {}, args: ['sh'] },
    { name: 'both empty', config: { Entrypoint: [], Cmd: [] }, args: ['sh'] },
  ])('args: $name', async ({ config, args }) => {
    expect((await convert(image(config))).process?.args).toEqual(args);
  });

  it.each([
    { config: { WorkingDir: '/srv/app' }, cwd: '/srv/app' },
    { config: {}, cwd: '/' },
    { config: { WorkingDir: '' }, cwd: '/' },
  ])('cwd from WorkingDir $config.WorkingDir', async ({ config, cwd }) => {
    expect((await convert(image(config))).process?.cwd).toBe(cwd);
  });

  it('refuses a relative WorkingDir', async () => {
    expect((await failure(convert(image({ WorkingDir: 'srv' })))).code).toBe('OCI_ERR_INVALID_CONTENT');
  });

  it('merges Env into the template env: the image wins per name, order kept', async () => {
    const spec = await convert(image({ Env: ['FOO=1', 'PATH=/app/bin', 'EMPTY=', 'FOO=2'] }));
    expect(spec.process?.env).toEqual(['PATH=/app/bin', 'TERM=xterm', 'FOO=2', 'EMPTY=']);
  });

  it.each(['NOEQUALS', '=value'])('refuses Env entry %j', async (e) => {
    expect((await failure(convert(image({ Env: [e] })))).message).toContain('NAME=VALUE');
  });

  it('refuses fields of the wrong type', async () => {
    const bad = image({ Cmd: 'echo hi' as unknown as string[] });
    expect((await failure(convert(bad))).message).toContain('Config.Cmd');
  });
});

describe('annotations', () => {
  const full = image(
    { StopSignal: 'SIGQUIT', ExposedPorts: { '8080/tcp': {}, '53/udp': {}, '443/tcp': {} } },
    { created: '2024-01-02T03:04:05Z', author: 'someone', architecture: 'arm64', variant: 'v8', 'os.version': '6.1', 'os.features': ['a', 'b'] },
  );
  it.each([
    ['os', 'linux'],
    ['architecture', 'arm64'],
    ['variant', 'v8'],
    ['os.version', '6.1'],
    ['os.features', 'a,b'],
    ['author', 'someone'],
    ['created', '2024-01-02T03:04:05Z'],
    ['stopSignal', 'SIGQUIT'],
    ['exposedPorts', '443/tcp,53/udp,8080/tcp'],
  ])('org.opencontainers.image.%s', async (key, value) => {
    expect((await convert(full)).annotations?.[`org.opencontainers.image.${key}`]).toBe(value);
  });

  it('leaves out what the config does not set', async () => {
    expect((await convert(image())).annotations).toEqual({ 'org.opencontainers.image.os': 'linux', 'org.opencontainers.image.architecture': 'amd64' });
  });

  it('ranks Labels over config values over manifest annotations over the template', async () => {
    const template = defaultSpec();
    template.annotations = { 't.only': 'template', 'm.and.t': 'template', 'org.opencontainers.image.author': 'template' };
    const img = image(
      { Labels: { 'org.opencontainers.image.created': 'label', 'l.and.m': 'label', 'l.only': 'label' } },
      { created: 'config', author: 'config' },
    );
    const manifest = { 'org.opencontainers.image.created': 'manifest', 'org.opencontainers.image.author': 'manifest', 'l.and.m': 'manifest', 'm.and.t': 'manifest', 'm.only': 'manifest' };
    const a = (await convert(img, { template, annotations: manifest })).annotations;
    expect(a).toMatchObject({
      'org.opencontainers.image.created': 'label',
      'org.opencontainers.image.author': 'config',
      'l.and.m': 'label',
      'l.only': 'label',
      'm.and.t': 'manifest',
      'm.only': 'manifest',
      't.only': 'template',
    });
  });

  it('adds no mounts for Volumes', async () => {
    const spec = await convert(image({ Volumes: { '/data': {} } }));
    expect(spec.mounts).toEqual(defaultSpec().mounts);
  });
});

describe('Config.User', () => {
  it.each([
    { user: '', uid: 0, gid: 0 },
    { user: 'alice', uid: 1000, gid: 1000, additionalGids: [10, 100] },
    { user: 'bob', uid: 1001, gid: 100, additionalGids: [100, 999] },
    { user: 'root', uid: 0, gid: 0, additionalGids: [50] },
    { user: '1000', uid: 1000, gid: 1000 },
    { user: '4242', uid: 4242, gid: 0 },
    { user: '4294967294', uid: 4294967294, gid: 0 },
    { user: '007', uid: 7, gid: 0 },
    { user: 'alice:wheel', uid: 1000, gid: 10 },
    { user: 'alice:5', uid: 1000, gid: 5 },
    { user: '1001:users', uid: 1001, gid: 100 },
    { user: '1234:5678', uid: 1234, gid: 5678 },
  ])('$user', async ({ user, uid, gid, additionalGids }) => {
    const u = (await convert(image({ User: user }))).process?.user;
    expect(u).toEqual({ uid, gid, ...(additionalGids && { additionalGids }) });
  });

  it.each([
    ['nobody', 'not in'],
    ['alice:nogroup', 'not in'],
    ['4294967296', 'out of range'],
    ['4294967295', 'out of range'],
    ['99999999999', 'out of range'],
    ['-1', 'out of range'],
    ['+5', 'out of range'],
    ['1000:4294967296', 'out of range'],
    ['1000:-1', 'out of range'],
    ['a:b:c', 'is not one of'],
    [':100', 'is not one of'],
    ['alice:', 'is not one of'],
    ['garbled', 'invalid uid'],
  ])('refuses %j', async (user, message) => {
    const f = await failure(convert(image({ User: user })));
    expect(f).toMatchObject({ code: 'OCI_ERR_INVALID_CONTENT' });
    expect(f.message).toContain(message);
  });

  it('needs no /etc/passwd for a numeric user, but does for a name', async () => {
    const { root } = await rootfs({});
    expect((await convert(image({ User: '1000' }), { rootfs: root })).process?.user).toEqual({ uid: 1000, gid: 0 });
    expect((await convert(image({ User: '1000:1000' }), { rootfs: root })).process?.user).toEqual({ uid: 1000, gid: 1000 });
    expect((await failure(convert(image({ User: 'alice' }), { rootfs: root }))).message).toContain('no /etc/passwd');
    expect((await failure(convert(image({ User: '1:staff' }), { rootfs: root }))).message).toContain('no /etc/group');
  });

  it('gives a name no supplementary groups when /etc/group is missing', async () => {
    const { root } = await rootfs({ 'etc/passwd': PASSWD });
    expect((await convert(image({ User: 'alice' }), { rootfs: root })).process?.user).toEqual({ uid: 1000, gid: 1000 });
  });

  it('follows symlinks only inside the rootfs', async () => {
    const { root } = await rootfs({ 'usr/lib/passwd': 'carol:x:3000:3000::/:/bin/sh' }, { 'etc/passwd': '/usr/lib/passwd' });
    expect((await convert(image({ User: 'carol' }), { rootfs: root })).process?.user).toEqual({ uid: 3000, gid: 3000 });
  });

  it.each([
    ['absolute', (outside: string) => ({ 'etc/passwd': join(outside, 'passwd') })],
    ['relative', () => ({ 'etc/passwd': '../../../../../../../../outside/passwd' })],
    ['via /etc', (outside: string) => ({ etc: outside })],
  ])('never reads a passwd symlinked out of the rootfs (%s)', async (_kind, links) => {
    const base = await mkdtemp(join(tmpdir(), 'convert-'));
    temps.push(base);
    const root = join(base, 'rootfs');
    const outside = join(base, 'outside');
    await mkdir(outside);
    await writeFile(join(outside, 'passwd'), 'evil:x:4242:4343::/:/bin/sh\n');
    for (const [p, target] of Object.entries(links(outside))) {
      await mkdir(dirname(join(root, p)), { recursive: true });
      await symlink(target, join(root, p));
    }
    expect((await failure(convert(image({ User: 'evil' }), { rootfs: root }))).message).toContain('no /etc/passwd');
    // The outside entry's gid would show here if it were read.
    expect((await convert(image({ User: '4242' }), { rootfs: root })).process?.user).toEqual({ uid: 4242, gid: 0 });
  });

  it('refuses a huge /etc/passwd', async () => {
    const huge = `alice:x:1000:1000::/:/bin/sh\n${'#'.repeat(MAX_DB_BYTES)}\n`;
    const { root } = await rootfs({ 'etc/passwd': huge });
    expect((await failure(convert(image({ User: 'alice' }), { rootfs: root }))).message).toContain('larger than');
  });

  it('refuses an /etc/passwd that is not a regular file', async () => {
    const { root } = await rootfs({ 'etc/passwd/x': '' });
    expect((await failure(convert(image({ User: 'alice' }), { rootfs: root }))).message).toContain('not a regular file');
  });

  it('refuses a rootfs that does not exist', async () => {
    const { outside } = await rootfs();
    expect((await failure(convert(image({ User: 'alice' }), { rootfs: join(outside, 'missing') }))).code).toBe('OCI_ERR_USAGE');
  });
});

describe('platform, root and template', () => {
  it('refuses a non-linux image', async () => {
    const f = await failure(convert(image({}, { os: 'windows' })));
    expect(f.code).toBe('OCI_ERR_UNSUPPORTED');
    expect(f.message).toContain('"windows"');
  });

  it('sets root.path and keeps the rest of the template', async () => {
    const template = { ...defaultSpec(), hostname: 'box' };
    const spec = await convert(image({ User: 'alice' }), { rootfsPath: 'fs', template });
    expect(spec.root).toEqual({ path: 'fs' });
    expect(spec.hostname).toBe('box');
    expect(spec.process?.rlimits).toEqual(defaultSpec().process?.rlimits);
    expect(template.process?.user).toEqual({ uid: 0, gid: 0 });
  });

  it('rootless: maps the calling user, drops cgroup limits and supplementary groups', async () => {
    const spec = await convert(image({ User: 'root' }), { rootless: true, ids: { uid: 1234, gid: 5678 } });
    expect(spec.linux?.uidMappings).toEqual([{ containerID: 0, hostID: 1234, size: 1 }]);
    expect(spec.linux?.gidMappings).toEqual([{ containerID: 0, hostID: 5678, size: 1 }]);
    expect(spec.linux?.namespaces?.map((n) => n.type)).toEqual(['pid', 'ipc', 'uts', 'mount', 'user']);
    expect(spec.linux?.resources).toBeUndefined();
    expect(spec.process?.user).toEqual({ uid: 0, gid: 0 });
  });

  it('rootless: refuses an image user the mapping cannot hold', async () => {
    const f = await failure(convert(image({ User: 'alice' }), { rootless: true, ids: { uid: 1234, gid: 5678 } }));
    expect(f).toMatchObject({ code: 'OCI_ERR_UNSUPPORTED' });
  });
});
