import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isOciToolError } from '../../../src/errors.js';
import {
  defaultRegistriesConfigPath, endpointsFor, loadRegistriesConfig, parseRegistriesConfig, type RegistriesConfig,
} from '../../../src/registry/mirrors.js';

const FILE = '/etc/oci-tool/registries.json';
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'oci-tool-mirrors-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function parseFailure(text: string): Error {
  try {
    parseRegistriesConfig(text, FILE);
  } catch (e) {
    expect(isOciToolError(e), String(e)).toBe(true);
    expect((e as { code: string }).code).toBe('OCI_ERR_BAD_CONFIG');
    return e as Error;
  }
  throw new Error('expected a parse failure');
}

describe('parseRegistriesConfig', () => {
  it('reads the documented example', () => {
    const config = parseRegistriesConfig(JSON.stringify({
      registry: [
        { prefix: 'docker.io', mirror: [{ location: '127.0.0.1:5000/dockerhub', insecure: true }, { location: 'mirror.example.com' }] },
        { prefix: 'registry.internal:5000', insecure: true },
      ],
    }), FILE);
    expect(config).toEqual({
      registry: [
        { prefix: 'docker.io', insecure: false, mirror: [{ location: '127.0.0.1:5000/dockerhub', insecure: true }, { location: 'mirror.example.com', insecure: false }] },
        { prefix: 'registry.internal:5000', insecure: true, mirror: [] },
      ],
    });
  });

  it('drops trailing slashes from prefixes and locations', () => {
    const config = parseRegistriesConfig('{"registry":[{"prefix":"docker.io/library/","mirror":[{"location":"m.example/cache//"}]}]}', FILE);
    expect(config.registry[0]).toMatchObject({ prefix: 'docker.io/library', mirror: [{ location: 'm.example/cache' }] });
  });

  it('counts only true as insecure', () => {
    const config = parseRegistriesConfig('{"registry":[{"prefix":"a.example","insecure":"yes","mirror":[{"location":"m.example","insecure":1}]}]}', FILE);
    expect(config.registry[0]).toMatchObject({ insecure: false, mirror: [{ insecure: false }] });
  });

  it('accepts an empty registry list', () => {
    expect(parseRegistriesConfig('{"registry":[]}', FILE)).toEqual({ registry: [] });
  });

  it.each([
    ['not JSON', '{registry: []}', 'not valid JSON'],
    ['empty', '', 'not valid JSON'],
    ['JSON null', 'null', '"registry" must be an array'],
    ['an array', '[]', '"registry" must be an array'],
    ['no registry', '{}', '"registry" must be an array'],
    ['a registry object', '{"registry":{"prefix":"a"}}', '"registry" must be an array'],
    ['a null entry', '{"registry":[null]}', 'registry[0] needs a "prefix" string'],
    ['an entry without prefix', '{"registry":[{"prefix":"ok"},{"insecure":true}]}', 'registry[1] needs a "prefix" string'],
    ['an empty prefix', '{"registry":[{"prefix":""}]}', 'registry[0] needs a "prefix" string'],
    ['a numeric prefix', '{"registry":[{"prefix":5}]}', 'registry[0] needs a "prefix" string'],
    ['a mirror object', '{"registry":[{"prefix":"a","mirror":{"location":"m"}}]}', 'registry[0] "mirror" must be an array'],
    ['a mirror without location', '{"registry":[{"prefix":"a","mirror":[{"location":"m"},{}]}]}', 'registry[0] mirror[1] needs a "location" string'],
    ['a null mirror', '{"registry":[{"prefix":"a","mirror":[null]}]}', 'registry[0] mirror[0] needs a "location" string'],
    ['a string mirror', '{"registry":[{"prefix":"a","mirror":["m.example"]}]}', 'registry[0] mirror[0] needs a "location" string'],
  ])('refuses %s, naming the file', (_name, text, what) => {
    const e = parseFailure(text);
    expect(e.message).toContain(FILE);
    expect(e.message).toContain(what);
  });
});

describe('loadRegistriesConfig', () => {
  it('reads a named file', async () => {
    const file = join(dir, 'named.json');
    await writeFile(file, '{"registry":[{"prefix":"docker.io","mirror":[{"location":"m.example"}]}]}');
    expect((await loadRegistriesConfig(file)).registry[0]?.mirror).toEqual([{ location: 'm.example', insecure: false }]);
  });

  it('fails on a missing named file, naming it', async () => {
    const file = join(dir, 'missing.json');
    await expect(loadRegistriesConfig(file)).rejects.toSatisfy((e: unknown) =>
      isOciToolError(e) && e.code === 'OCI_ERR_BAD_CONFIG' && e.message.includes(file));
  });

  it('treats a missing default file as an empty config', async () => {
    const env = { XDG_CONFIG_HOME: join(dir, 'no-such-dir') };
    expect(await loadRegistriesConfig(undefined, env)).toEqual({ registry: [] });
  });

  it('reads the default file and names it when it is broken', async () => {
    const env = { XDG_CONFIG_HOME: dir };
    await rm(join(dir, 'oci-tool'), { recursive: true, force: true });
    await mkdir(join(dir, 'oci-tool'));
    const file = join(dir, 'oci-tool', 'registries.json');
    await writeFile(file, '{"registry":[{"prefix":"q.example"}]}');
    expect((await loadRegistriesConfig(undefined, env)).registry.map((r) => r.prefix)).toEqual(['q.example']);
    await writeFile(file, '{"registry":[');
    await expect(loadRegistriesConfig(undefined, env)).rejects.toSatisfy((e: unknown) =>
      isOciToolError(e) && e.code === 'OCI_ERR_BAD_CONFIG' && e.message.includes(file));
  });

  it('finds the default path from the environment', () => {
    expect(defaultRegistriesConfigPath({ OCI_TOOL_REGISTRIES_CONF: '/x/r.json', XDG_CONFIG_HOME: '/cfg' })).toBe('/x/r.json');
    expect(defaultRegistriesConfigPath({ XDG_CONFIG_HOME: '/cfg', HOME: '/home/u' })).toBe('/cfg/oci-tool/registries.json');
    expect(defaultRegistriesConfigPath({ HOME: '/home/u' })).toBe('/home/u/.config/oci-tool/registries.json');
  });
});

describe('endpointsFor', () => {
  const busybox = { registry: 'docker.io', repository: 'library/busybox' };
  const config = (registry: RegistriesConfig['registry']): RegistriesConfig => ({ registry });
  const origin = (insecure = false) => ({ ...busybox, insecure, mirror: false });

  it('is the origin alone without configuration', () => {
    expect(endpointsFor(busybox, config([]))).toEqual([origin()]);
  });

  it('lists the mirrors of the matching prefix in order, then the origin (the documented example)', () => {
    const c = parseRegistriesConfig(JSON.stringify({
      registry: [
        { prefix: 'docker.io', mirror: [{ location: '127.0.0.1:5000/dockerhub', insecure: true }, { location: 'mirror.example.com' }] },
        { prefix: 'registry.internal:5000', insecure: true },
      ],
    }), FILE);
    expect(endpointsFor(busybox, c)).toEqual([
      { registry: '127.0.0.1:5000', repository: 'dockerhub/library/busybox', insecure: true, mirror: true },
      { registry: 'mirror.example.com', repository: 'library/busybox', insecure: false, mirror: true },
      origin(),
    ]);
    expect(endpointsFor({ registry: 'registry.internal:5000', repository: 'team/app' }, c)).toEqual([
      { registry: 'registry.internal:5000', repository: 'team/app', insecure: true, mirror: false },
    ]);
  });

  it('matches prefixes only at a path boundary', () => {
    const c = config([
      { prefix: 'docker.io/lib', mirror: [{ location: 'wrong.example' }] },
      { prefix: 'docker.i', mirror: [{ location: 'wrong.example' }] },
      { prefix: 'docker.io/library/busy', mirror: [{ location: 'wrong.example' }] },
    ]);
    expect(endpointsFor(busybox, c)).toEqual([origin()]);
  });

  it('does not let a registry prefix match a registry with a port', () => {
    const c = config([{ prefix: 'localhost', mirror: [{ location: 'wrong.example' }] }]);
    expect(endpointsFor({ registry: 'localhost:5000', repository: 'app' }, c)).toEqual([
      { registry: 'localhost:5000', repository: 'app', insecure: false, mirror: false },
    ]);
  });

  it('uses the longest matching prefix, whatever the order of the entries', () => {
    const entries = [
      { prefix: 'docker.io', insecure: false, mirror: [{ location: 'hub.example' }] },
      { prefix: 'docker.io/library', insecure: true, mirror: [{ location: 'lib.example/official' }] },
      { prefix: 'docker.io/library/busybox', insecure: false, mirror: [{ location: 'bb.example/only-busybox' }] },
      { prefix: 'docker.io/library/busyboxes', insecure: false, mirror: [{ location: 'wrong.example' }] },
    ];
    for (const order of [entries, [...entries].reverse()]) {
      expect(endpointsFor(busybox, config(order))).toEqual([
        { registry: 'bb.example', repository: 'only-busybox', insecure: false, mirror: true },
        origin(false),
      ]);
      expect(endpointsFor({ registry: 'docker.io', repository: 'library/alpine' }, config(order))).toEqual([
        { registry: 'lib.example', repository: 'official/alpine', insecure: false, mirror: true },
        { registry: 'docker.io', repository: 'library/alpine', insecure: true, mirror: false },
      ]);
      expect(endpointsFor({ registry: 'docker.io', repository: 'bitnami/redis' }, config(order))).toEqual([
        { registry: 'hub.example', repository: 'bitnami/redis', insecure: false, mirror: true },
        { registry: 'docker.io', repository: 'bitnami/redis', insecure: false, mirror: false },
      ]);
    }
  });

  it('puts a mirror location’s path in front of the rest of the repository', () => {
    const c = config([{ prefix: 'quay.io/org', mirror: [{ location: 'cache.example:8443/a/b', insecure: true }] }]);
    expect(endpointsFor({ registry: 'quay.io', repository: 'org/team/app' }, c)[0]).toEqual(
      { registry: 'cache.example:8443', repository: 'a/b/team/app', insecure: true, mirror: true },
    );
  });

  it('skips a mirror that would leave no repository', () => {
    const c = config([{ prefix: 'docker.io/library/busybox', mirror: [{ location: 'bare.example' }, { location: 'bare.example/bb' }] }]);
    expect(endpointsFor(busybox, c)).toEqual([
      { registry: 'bare.example', repository: 'bb', insecure: false, mirror: true },
      origin(),
    ]);
  });

  it('puts extra mirrors first, secure, before the configured ones', () => {
    const c = config([{ prefix: 'docker.io', insecure: true, mirror: [{ location: 'conf.example', insecure: true }] }]);
    expect(endpointsFor(busybox, c, ['first.example', 'second.example:5000/hub'])).toEqual([
      { registry: 'first.example', repository: 'library/busybox', insecure: false, mirror: true },
      { registry: 'second.example:5000', repository: 'hub/library/busybox', insecure: false, mirror: true },
      { registry: 'conf.example', repository: 'library/busybox', insecure: true, mirror: true },
      origin(true),
    ]);
  });

  it('applies extra mirrors relative to the matching prefix, or to the registry when none matches', () => {
    const c = config([{ prefix: 'docker.io/library', mirror: [] }]);
    expect(endpointsFor(busybox, c, ['x.example/lib'])[0]).toMatchObject({ registry: 'x.example', repository: 'lib/busybox' });
    expect(endpointsFor({ registry: 'ghcr.io', repository: 'o/r' }, c, ['x.example'])[0]).toMatchObject({ registry: 'x.example', repository: 'o/r' });
  });

  it('drops trailing slashes from extra mirrors as from configured ones', () => {
    expect(endpointsFor(busybox, config([]), ['x.example/', 'y.example/cache/'])).toEqual([
      { registry: 'x.example', repository: 'library/busybox', insecure: false, mirror: true },
      { registry: 'y.example', repository: 'cache/library/busybox', insecure: false, mirror: true },
      origin(),
    ]);
  });
});
