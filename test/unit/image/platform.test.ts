import { describe, expect, it } from 'vitest';
import { OciToolError } from '../../../src/errors.js';
import {
  formatPlatform, hostPlatform, isAttestationManifest, normalizePlatform, parsePlatform, platformFromNode, platformMatcher, selectManifest,
} from '../../../src/image/platform.js';
import type { Descriptor, ImageIndex, Platform } from '../../../src/image/types.js';

const p = (s: string, extra: Partial<Platform> = {}): Platform => ({ ...parsePlatform(s), ...extra });
let n = 0;
const entry = (platform?: Platform, annotations?: Record<string, string>): Descriptor => ({
  mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: `sha256:${(++n).toString(16).padStart(64, '0')}`, size: 100,
  ...(platform ? { platform } : {}), ...(annotations ? { annotations } : {}),
});
const indexOf = (...manifests: Descriptor[]): ImageIndex => ({ schemaVersion: 2, manifests });

function failure(fn: () => unknown): OciToolError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(OciToolError);
    return e as OciToolError;
  }
  throw new Error('expected a throw');
}

describe('parsePlatform / formatPlatform', () => {
  it.each([
    ['linux/amd64', { os: 'linux', architecture: 'amd64' }],
    ['linux/arm/v7', { os: 'linux', architecture: 'arm', variant: 'v7' }],
    ['linux/arm64/v8', { os: 'linux', architecture: 'arm64', variant: 'v8' }],
    ['windows/amd64', { os: 'windows', architecture: 'amd64' }],
    ['linux/x86_64', { os: 'linux', architecture: 'x86_64' }],
  ])('%s', (s, want) => {
    expect(parsePlatform(s)).toEqual(want);
    expect(formatPlatform(parsePlatform(s))).toBe(s);
  });

  it.each([
    ['linux', 'expected os/arch[/variant], e.g. linux/amd64'],
    ['', 'expected os/arch[/variant], e.g. linux/amd64'],
    ['linux/arm/v7/extra', 'expected os/arch[/variant], e.g. linux/amd64'],
    ['linux/', 'has an empty component'],
    ['/amd64', 'has an empty component'],
    ['linux//v7', 'has an empty component'],
    ['linux/arm64/', 'has an empty component'],
    ['linux/amd 64', 'has an invalid component "amd 64"'],
    ['windows(10.0)/amd64', 'has an invalid component "windows(10.0)"'],
  ])('rejects %j', (s, msg) => {
    const e = failure(() => parsePlatform(s));
    expect(e.code).toBe('OCI_ERR_BAD_PLATFORM');
    expect(e.message).toBe(`invalid platform "${s}": ${msg}`);
  });
});

describe('platformFromNode / hostPlatform', () => {
  it.each([
    ['linux', 'x64', {}, 'linux/amd64'],
    ['linux', 'ia32', {}, 'linux/386'],
    ['darwin', 'arm64', {}, 'darwin/arm64/v8'],
    ['win32', 'x64', {}, 'windows/amd64'],
    ['linux', 'arm', { armVersion: '7' }, 'linux/arm/v7'],
    ['linux', 'arm', { armVersion: '6' }, 'linux/arm/v6'],
    ['linux', 'arm', {}, 'linux/arm/v7'],
    ['linux', 'arm', { armVersion: 'default' }, 'linux/arm/v7'],
    ['linux', 'ppc64', { littleEndian: true }, 'linux/ppc64le'],
    ['aix', 'ppc64', { littleEndian: false }, 'aix/ppc64'],
    ['linux', 's390x', {}, 'linux/s390x'],
    ['linux', 'riscv64', {}, 'linux/riscv64'],
    ['linux', 'loong64', {}, 'linux/loong64'],
    ['linux', 'mips', {}, 'linux/mips'],
    ['linux', 'mipsel', {}, 'linux/mipsle'],
    ['sunos', 'x64', {}, 'solaris/amd64'],
    ['freebsd', 'x64', {}, 'freebsd/amd64'],
  ])('%s %s %j → %s', (os, arch, opts, want) => {
    expect(formatPlatform(platformFromNode(os, arch, opts))).toBe(want);
  });

  it('describes this host', () => {
    const host = hostPlatform();
    expect(host.os).toBe(process.platform === 'win32' ? 'windows' : process.platform);
    if (process.arch === 'x64') expect(host.architecture).toBe('amd64');
    expect(() => parsePlatform(formatPlatform(host))).not.toThrow();
  });
});

describe('normalizePlatform', () => {
  it.each([
    ['linux/x86_64', 'linux/amd64'],
    ['linux/x86-64', 'linux/amd64'],
    ['linux/amd64/v1', 'linux/amd64'],
    ['linux/amd64/v3', 'linux/amd64/v3'],
    ['linux/aarch64', 'linux/arm64'],
    ['linux/arm64/v8', 'linux/arm64'],
    ['linux/arm64/8', 'linux/arm64'],
    ['linux/arm64/v8.2', 'linux/arm64/v8.2'],
    ['linux/armhf', 'linux/arm/v7'],
    ['linux/armel', 'linux/arm/v6'],
    ['linux/arm', 'linux/arm/v7'],
    ['linux/arm/7', 'linux/arm/v7'],
    ['linux/arm/6', 'linux/arm/v6'],
    ['linux/i386', 'linux/386'],
    ['Linux/AMD64', 'linux/amd64'],
    ['macos/arm64', 'darwin/arm64'],
  ])('%s → %s', (from, to) => {
    expect(formatPlatform(normalizePlatform(parsePlatform(from)))).toBe(to);
  });

  it('sorts and dedupes os.features and keeps os.version', () => {
    const got = normalizePlatform({ os: 'windows', architecture: 'amd64', 'os.version': '10.0.17763', 'os.features': ['win32k', 'a', 'win32k'] });
    expect(got).toEqual({ os: 'windows', architecture: 'amd64', 'os.version': '10.0.17763', 'os.features': ['a', 'win32k'] });
  });
});

describe('platformMatcher', () => {
  // want, then candidates in the order they should rank; '-' marks ones that must not match.
  it.each([
    ['linux/amd64', ['linux/amd64', 'linux/386'], ['linux/arm64', 'linux/amd64/v2', 'windows/amd64']],
    ['linux/amd64/v3', ['linux/amd64/v3', 'linux/amd64/v2', 'linux/amd64', 'linux/386'], ['linux/amd64/v4']],
    ['linux/x86_64', ['linux/amd64/v1', 'linux/386'], []],
    ['linux/arm64', ['linux/arm64/v8', 'linux/arm/v8', 'linux/arm/v7', 'linux/arm/v6', 'linux/arm/v5'], ['linux/arm64/v8.1', 'linux/amd64']],
    ['linux/arm64/v8', ['linux/aarch64', 'linux/arm', 'linux/armel'], []],
    ['linux/arm64/v8.2', ['linux/arm64/v8.2', 'linux/arm64/v8.1', 'linux/arm64', 'linux/arm/v7'], ['linux/arm64/v8.3', 'linux/arm64/v9']],
    ['linux/arm64/v9', ['linux/arm64/v9', 'linux/arm64/v8.5', 'linux/arm64/v8.4', 'linux/arm64/v8', 'linux/arm/v7'], ['linux/arm64/v9.1', 'linux/arm64/v8.6']],
    ['linux/arm64/v9.2', ['linux/arm64/v9.2', 'linux/arm64/v9.1', 'linux/arm64/v9', 'linux/arm64/v8.7', 'linux/arm64/v8.6', 'linux/arm64'], []],
    ['linux/arm/v7', ['linux/arm', 'linux/arm/v6', 'linux/arm/v5'], ['linux/arm/v8', 'linux/arm64']],
    ['linux/arm', ['linux/arm/v7', 'linux/armel', 'linux/arm/v5'], ['linux/arm/v8']],
    ['linux/arm/v6', ['linux/arm/v6', 'linux/arm/v5'], ['linux/arm/v7', 'linux/arm']],
    ['linux/arm/v5', ['linux/arm/v5'], ['linux/arm/v6']],
    ['linux/s390x', ['linux/s390x'], ['linux/ppc64le', 'linux/s390']],
    ['linux/386', ['linux/i386'], ['linux/amd64']],
    ['darwin/arm64', ['macos/arm64'], ['linux/arm64']],
  ])('%s', (want, ranked, rejected) => {
    const rank = platformMatcher(parsePlatform(want));
    const ranks = ranked.map((s) => rank(parsePlatform(s)));
    ranks.forEach((r, i) => expect(r, ranked[i]).toBeTypeOf('number'));
    expect([...ranks].sort((a, b) => (a as number) - (b as number))).toEqual(ranks);
    expect(new Set(ranks).size, 'ranks differ').toBe(ranks.length);
    for (const s of rejected) expect(rank(parsePlatform(s)), s).toBeUndefined();
  });

  it('ranks an exact match 0 and no platform as incompatible', () => {
    expect(platformMatcher(p('linux/arm/v7'))(p('linux/arm/v7'))).toBe(0);
    expect(platformMatcher(p('linux/amd64'))(undefined)).toBeUndefined();
  });

  it('requires the os.features an image needs', () => {
    const rank = platformMatcher(p('windows/amd64', { 'os.features': ['win32k'] }));
    expect(rank(p('windows/amd64', { 'os.features': ['win32k'] }))).toBe(0);
    expect(rank(p('windows/amd64'))).toBe(0);
    expect(rank(p('windows/amd64', { 'os.features': ['other'] }))).toBeUndefined();
    expect(platformMatcher(p('windows/amd64'))(p('windows/amd64', { 'os.features': ['win32k'] }))).toBeUndefined();
  });

  it('ignores os.version', () => {
    expect(platformMatcher(p('windows/amd64', { 'os.version': '10.0.20348.1' }))(p('windows/amd64', { 'os.version': '10.0.17763.5' }))).toBe(0);
  });
});

describe('selectManifest', () => {
  const WHERE = 'docker.io/library/busybox:latest';
  const amd64 = entry(p('linux/amd64'));
  const armv5 = entry(p('linux/arm/v5'));
  const armv6 = entry(p('linux/arm/v6'));
  const armv7 = entry(p('linux/arm/v7'));
  const arm64 = entry(p('linux/arm64/v8'));
  const i386 = entry(p('linux/386'));
  const attest = entry(p('unknown/unknown'), { 'vnd.docker.reference.type': 'attestation-manifest', 'vnd.docker.reference.digest': amd64.digest });
  const busybox = indexOf(amd64, armv5, armv6, armv7, arm64, i386, attest);

  it.each([
    ['linux/amd64', amd64],
    ['linux/x86_64', amd64],
    ['linux/amd64/v3', amd64],
    ['linux/arm64', arm64],
    ['linux/arm/v7', armv7],
    ['linux/arm', armv7],
    ['linux/armel', armv6],
    ['linux/arm/v8', armv7],
    ['linux/386', i386],
  ])('%s', (want, got) => {
    expect(selectManifest(busybox, p(want), WHERE)).toBe(got);
  });

  it.each([
    ['arm64 host falls back to arm/v7', indexOf(amd64, armv6, armv7), 'linux/arm64', armv7],
    ['amd64 host falls back to 386', indexOf(arm64, i386), 'linux/amd64', i386],
    ['first of equal ranks wins', indexOf(entry(p('linux/arm64')), arm64), 'linux/arm64/v8', undefined],
  ])('%s', (_name, index, want, got) => {
    expect(selectManifest(index, p(want), WHERE)).toBe(got ?? index.manifests[0]);
  });

  it('skips entries without a platform and attestations', () => {
    const stray = entry();
    const unknown = entry(p('unknown/unknown'));
    expect(isAttestationManifest(attest)).toBe(true);
    expect(isAttestationManifest(unknown)).toBe(true);
    expect(isAttestationManifest(amd64)).toBe(false);
    const e = failure(() => selectManifest(indexOf(stray, attest, unknown), p('linux/amd64'), WHERE));
    expect(e.message).toBe(`no image for linux/amd64 in ${WHERE}; available: none (the index names no platforms)`);
  });

  it('lists what is available when nothing matches', () => {
    const e = failure(() => selectManifest(indexOf(amd64, armv7, arm64, attest, entry(p('linux/amd64'))), p('linux/s390x'), WHERE));
    expect(e.code).toBe('OCI_ERR_PLATFORM_NOT_FOUND');
    expect(e.message).toBe(`no image for linux/s390x in ${WHERE}; available: linux/amd64, linux/arm/v7, linux/arm64/v8`);
  });

  it('does not run newer variants on older hosts', () => {
    const e = failure(() => selectManifest(indexOf(armv7, entry(p('linux/amd64/v3'))), p('linux/arm/v6'), WHERE));
    expect(e.message).toBe(`no image for linux/arm/v6 in ${WHERE}; available: linux/arm/v7, linux/amd64/v3`);
  });
});
