import { describe, expect, it } from 'vitest';
import { isOciToolError } from '../../../src/errors.js';
import {
  apiHost,
  familiarName,
  formatReference,
  isLoopbackRegistry,
  parseReference,
  withDigest,
  type Reference,
} from '../../../src/registry/reference.js';

const SHA256 = `sha256:${'a'.repeat(64)}`;
const SHA512 = `sha512:${'0123456789abcdef'.repeat(8)}`;
const HEX64 = 'f'.repeat(64);

// input, then the expected reference as [registry, repository, tag, digest].
const good: [string, [string, string, string | undefined, string | undefined]][] = [
  ['busybox', ['docker.io', 'library/busybox', 'latest', undefined]],
  ['busybox:1.36', ['docker.io', 'library/busybox', '1.36', undefined]],
  ['user/repo', ['docker.io', 'user/repo', 'latest', undefined]],
  ['user/repo:tag', ['docker.io', 'user/repo', 'tag', undefined]],
  ['docker.io/busybox', ['docker.io', 'library/busybox', 'latest', undefined]],
  ['docker.io/library/busybox:latest', ['docker.io', 'library/busybox', 'latest', undefined]],
  ['index.docker.io/busybox', ['docker.io', 'library/busybox', 'latest', undefined]],
  ['index.docker.io/user/repo:v1', ['docker.io', 'user/repo', 'v1', undefined]],
  ['Docker.IO/busybox', ['docker.io', 'library/busybox', 'latest', undefined]],
  ['registry-1.docker.io/busybox', ['registry-1.docker.io', 'busybox', 'latest', undefined]],
  ['localhost/repo', ['localhost', 'repo', 'latest', undefined]],
  ['localhost:5000/repo', ['localhost:5000', 'repo', 'latest', undefined]],
  ['host:5000/ns/repo:tag', ['host:5000', 'ns/repo', 'tag', undefined]],
  ['Example.COM/ns/repo', ['example.com', 'ns/repo', 'latest', undefined]],
  ['my-registry.example.com/a/b/c', ['my-registry.example.com', 'a/b/c', 'latest', undefined]],
  ['127.0.0.1:5000/repo', ['127.0.0.1:5000', 'repo', 'latest', undefined]],
  ['[::1]:5000/repo', ['[::1]:5000', 'repo', 'latest', undefined]],
  ['[::1]/repo:tag', ['[::1]', 'repo', 'tag', undefined]],
  ['[2001:DB8::1]:443/repo', ['[2001:db8::1]:443', 'repo', 'latest', undefined]],
  [`repo@${SHA256}`, ['docker.io', 'library/repo', undefined, SHA256]],
  [`repo:tag@${SHA256}`, ['docker.io', 'library/repo', 'tag', SHA256]],
  [`ghcr.io/o/r@${SHA512}`, ['ghcr.io', 'o/r', undefined, SHA512]],
  [`repo@blake3:${'A'.repeat(32)}`, ['docker.io', 'library/repo', undefined, `blake3:${'A'.repeat(32)}`]],
  [`repo@sha256+b64u:${'Ab_-='.repeat(8)}`, ['docker.io', 'library/repo', undefined, `sha256+b64u:${'Ab_-='.repeat(8)}`]],
  ['my.reg/a.b-c__d--e/f_g', ['my.reg', 'a.b-c__d--e/f_g', 'latest', undefined]],
  ['repo-with---dashes/x.y', ['docker.io', 'repo-with---dashes/x.y', 'latest', undefined]],
  ['busybox:Latest_v1.2-rc', ['docker.io', 'library/busybox', 'Latest_v1.2-rc', undefined]],
  [`busybox:${'t'.repeat(128)}`, ['docker.io', 'library/busybox', 't'.repeat(128), undefined]],
  ['localhost:5000', ['docker.io', 'library/localhost', '5000', undefined]], // docker reads this as name:tag too
  [`docker.io/library/${HEX64}`, ['docker.io', `library/${HEX64}`, 'latest', undefined]],
  [`example.com/${'a'.repeat(255 - 'example.com/'.length)}`, ['example.com', 'a'.repeat(243), 'latest', undefined]],
];

// input, then a fragment of the expected message.
const bad: [string, string][] = [
  ['', 'empty reference'],
  [':tag', 'missing repository name'],
  ['repo:', 'empty tag'],
  ['repo@', 'empty digest'],
  ['/repo', 'empty path component'],
  ['repo/', 'empty path component'],
  ['a//b', 'empty path component'],
  ['localhost/', 'missing repository name'],
  ['docker.io/Busybox', 'repository name must be lowercase'],
  ['Foo/bar', 'repository name must be lowercase'],
  ['user/Repo:tag', 'repository name must be lowercase'],
  ['sha256:abc', 'digest needs a repository name'],
  ['busybox@sha256:abc', 'sha256 digest must be 64 lowercase hex characters'],
  [`busybox@sha256:${'a'.repeat(63)}`, 'sha256 digest must be 64 lowercase hex characters'],
  [`busybox@sha256:${'a'.repeat(65)}`, 'sha256 digest must be 64 lowercase hex characters'],
  [`busybox@sha256:${'A'.repeat(64)}`, 'sha256 digest must be 64 lowercase hex characters'],
  [`busybox@sha512:${'a'.repeat(64)}`, 'sha512 digest must be 128 lowercase hex characters'],
  [`busybox@${'a'.repeat(64)}`, 'algorithm:encoded'],
  [`busybox@SHA256:${'a'.repeat(64)}`, 'invalid digest algorithm'],
  ['busybox@blake3:short', 'invalid digest encoding'],
  [`a@${SHA256}@${SHA256}`, 'sha256 digest must be'],
  ['busy box', 'contains whitespace'],
  [' busybox', 'contains whitespace'],
  ['busybox\n', 'contains whitespace'],
  [HEX64, 'cannot specify 64-byte hexadecimal strings'],
  [`${HEX64}:latest`, 'cannot specify 64-byte hexadecimal strings'],
  ['repo:-tag', 'invalid tag'],
  ['repo:.tag', 'invalid tag'],
  [`repo:${'t'.repeat(129)}`, 'invalid tag'],
  ['repo:ta/g', 'invalid registry host "repo:ta"'], // a colon before a slash is a port
  ['a.b_c/repo', 'invalid registry host'],
  ['-repo', 'invalid repository path component "-repo"'],
  ['repo-', 'invalid repository path component'],
  ['re..po', 'invalid repository path component'],
  ['re___po', 'invalid repository path component'],
  ['ns/_repo', 'invalid repository path component'],
  ['rep\u00f6', 'invalid repository path component'],
  ['-host.com/repo', 'invalid registry host "-host.com"'],
  ['host-.com/repo', 'invalid registry host'],
  ['host..com/repo', 'invalid registry host'],
  ['host.com:/repo', 'invalid registry host'],
  ['host.com:port/repo', 'invalid registry host'],
  ['host_name.com/repo', 'invalid registry host'],
  ['[fe80::1%eth0]:5000/repo', 'invalid registry host'],
  ['[::1/repo', 'invalid registry host'],
  ['[]:5000/repo', 'invalid registry host'],
  [`example.com/${'a'.repeat(256 - 'example.com/'.length)}`, 'must not be more than 255 characters'],
  [`${'a'.repeat(246)}`, 'must not be more than 255 characters'], // docker.io/library/ makes it 264
];

describe('parseReference', () => {
  it.each(good)('parses %j', (input, [registry, repository, tag, digest]) => {
    const ref = parseReference(input);
    expect(ref).toStrictEqual({
      registry,
      repository,
      ...(tag !== undefined ? { tag } : {}),
      ...(digest !== undefined ? { digest } : {}),
    });
    // The canonical form parses back to the same reference.
    expect(parseReference(formatReference(ref))).toStrictEqual(ref);
  });

  it.each(bad)('rejects %j', (input, fragment) => {
    let caught: unknown;
    try {
      parseReference(input);
    } catch (e) {
      caught = e;
    }
    expect(isOciToolError(caught)).toBe(true);
    const err = caught as { code: string; message: string };
    expect(err.code).toBe('OCI_ERR_BAD_REFERENCE');
    expect(err.message).toContain(fragment);
    expect(err.message.startsWith(`invalid reference ${JSON.stringify(input.length > 300 ? `${input.slice(0, 300)}…` : input)}: `)).toBe(true);
    expect(err.message).not.toContain('\n');
  });

  it('names the input in the message', () => {
    expect(() => parseReference('Foo/bar')).toThrow('invalid reference "Foo/bar": repository name must be lowercase');
  });
});

describe('formatReference and familiarName', () => {
  const rows: [string, string, string][] = [
    ['busybox', 'docker.io/library/busybox:latest', 'busybox:latest'],
    ['user/repo:tag', 'docker.io/user/repo:tag', 'user/repo:tag'],
    ['docker.io/library/a/b', 'docker.io/library/a/b:latest', 'library/a/b:latest'],
    [`busybox@${SHA256}`, `docker.io/library/busybox@${SHA256}`, `busybox@${SHA256}`],
    [`reg.example/repo:tag@${SHA256}`, `reg.example/repo:tag@${SHA256}`, `reg.example/repo:tag@${SHA256}`],
    [`reg.example/repo@${SHA256}`, `reg.example/repo@${SHA256}`, `reg.example/repo@${SHA256}`],
    ['localhost:5000/repo', 'localhost:5000/repo:latest', 'localhost:5000/repo:latest'],
    ['[::1]:5000/a/b:t', '[::1]:5000/a/b:t', '[::1]:5000/a/b:t'],
  ];
  it.each(rows)('%j', (input, full, familiar) => {
    const ref = parseReference(input);
    expect(formatReference(ref)).toBe(full);
    expect(familiarName(ref)).toBe(familiar);
  });
});

describe('apiHost', () => {
  it('maps Docker Hub to its API host and leaves others alone', () => {
    expect(apiHost('docker.io')).toBe('registry-1.docker.io');
    expect(apiHost('localhost:5000')).toBe('localhost:5000');
    expect(apiHost('ghcr.io')).toBe('ghcr.io');
    expect(apiHost('[::1]:5000')).toBe('[::1]:5000');
  });
});

describe('isLoopbackRegistry', () => {
  const rows: [string, boolean][] = [
    ['localhost', true],
    ['localhost:5000', true],
    ['LOCALHOST:5000', true],
    ['127.0.0.1', true],
    ['127.0.0.1:5000', true],
    ['127.255.1.2:443', true],
    ['[::1]', true],
    ['[::1]:5000', true],
    ['[0:0:0:0:0:0:0:1]:5000', true],
    ['::1', true],
    ['128.0.0.1', false],
    ['127.0.0.1.nip.io', false],
    ['localhost.example.com', false],
    ['[::2]:5000', false],
    ['docker.io', false],
    ['user@localhost', false],
    ['localhost/evil', false],
    ['', false],
  ];
  it.each(rows)('%j -> %s', (registry, expected) => {
    expect(isLoopbackRegistry(registry)).toBe(expected);
  });
});

describe('withDigest', () => {
  it('adds a digest and keeps the tag', () => {
    const ref = withDigest(parseReference('busybox:1.36'), SHA256);
    expect(ref).toStrictEqual<Reference>({ registry: 'docker.io', repository: 'library/busybox', tag: '1.36', digest: SHA256 });
    expect(formatReference(ref)).toBe(`docker.io/library/busybox:1.36@${SHA256}`);
  });
  it('replaces an existing digest', () => {
    expect(withDigest(parseReference(`repo@${SHA256}`), SHA512).digest).toBe(SHA512);
  });
  it('rejects a bad digest', () => {
    expect(() => withDigest(parseReference('busybox'), 'sha256:abc')).toThrow(
      'invalid digest "sha256:abc": sha256 digest must be 64 lowercase hex characters',
    );
  });
});
