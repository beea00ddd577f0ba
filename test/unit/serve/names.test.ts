import { describe, expect, it } from 'vitest';
import { parseAddr } from '../../../src/cli/serve.js';
import { paginate, parseRange } from '../../../src/serve/http.js';
import { findTag, isRepositoryName, parseServedName, pushedRefName, repositoriesOf, tagsOf, type NamedEntry } from '../../../src/serve/names.js';
import { parseRoute } from '../../../src/serve/routes.js';

const entry = (refName: string, value: string): NamedEntry<string> => {
  const name = parseServedName(refName);
  if (!name) throw new Error(`${refName} is not served`);
  return { name, value };
};

describe('parseServedName', () => {
  it('serves full references as their repository path and tag, ignoring the host', () => {
    expect(parseServedName('127.0.0.1:5000/library/busybox:latest')).toEqual({ repositories: ['library/busybox'], tag: 'latest' });
    expect(parseServedName('ghcr.io/org/app:1.2')).toEqual({ repositories: ['org/app', 'ghcr.io/org/app'], tag: '1.2' });
    expect(parseServedName('[::1]:5000/team/app:v2')).toEqual({ repositories: ['team/app'], tag: 'v2' });
  });

  it('serves Docker Hub names both with and without library/', () => {
    expect(parseServedName('docker.io/library/busybox:latest')).toEqual({
      repositories: ['library/busybox', 'busybox', 'docker.io/library/busybox'], tag: 'latest',
    });
    expect(parseServedName('busybox:1')).toEqual({ repositories: ['busybox', 'library/busybox'], tag: '1' });
    expect(parseServedName('team/app:2')).toEqual({ repositories: ['team/app'], tag: '2' });
    expect(parseServedName('team/app')).toEqual({ repositories: ['team/app'], tag: 'latest' });
  });

  it('treats a name with neither "/" nor ":" as a bare tag for every repository', () => {
    expect(parseServedName('v1')).toEqual({ repositories: [], tag: 'v1' });
    expect(parseServedName('latest')).toEqual({ repositories: [], tag: 'latest' });
    expect(parseServedName('.hidden')).toBeUndefined();
  });

  it('does not serve digest-only or malformed names by name', () => {
    expect(parseServedName(`127.0.0.1:5000/app@sha256:${'a'.repeat(64)}`)).toBeUndefined();
    expect(parseServedName(`sha256:${'a'.repeat(64)}`)).toBeUndefined();
    expect(parseServedName('Team/App:1')).toBeUndefined();
    expect(parseServedName('a b:1')).toBeUndefined();
  });

  it('maps what a push writes back to the pushed repository and tag, even when it looks like a host', () => {
    for (const [repo, tag] of [['newrepo', 'v1'], ['team/app', '2'], ['library/x', 'latest'], ['localhost/app', 'v1'], ['example.com/app', 'V_1.0']] as const) {
      const name = parseServedName(pushedRefName(repo, tag));
      expect(name?.tag).toBe(tag);
      expect(name?.repositories).toContain(repo);
    }
  });
});

describe('finding tags', () => {
  const entries = [
    entry('v1', 'bare-v1'),
    entry('127.0.0.1:5000/library/busybox:latest', 'old'),
    entry('docker.io/library/busybox:latest', 'new'),
    entry('team/app:2', 'app2'),
    entry('latest', 'bare-latest'),
  ];

  it('prefers a name for the repository over a bare tag, and the last of equals', () => {
    expect(findTag(entries, 'library/busybox', 'latest')).toBe('new');
    expect(findTag(entries, 'busybox', 'latest')).toBe('new');
    expect(findTag(entries, 'team/app', 'latest')).toBe('bare-latest');
    expect(findTag(entries, 'anything', 'v1')).toBe('bare-v1');
    expect(findTag(entries, 'team/app', '3')).toBeUndefined();
  });

  it('lists tags per repository (bare tags everywhere) and repositories for the catalog', () => {
    expect(tagsOf(entries, 'team/app')).toEqual(['2', 'latest', 'v1']);
    expect(tagsOf([entry('team/app:2', 'x')], 'other')).toBeUndefined();
    expect(repositoriesOf(entries)).toEqual(['library/busybox', 'team/app']);
  });
});

describe('repository grammar and routes', () => {
  it('accepts the distribution-spec grammar only', () => {
    for (const ok of ['a', 'library/busybox', 'a.b_c__d-e--f/g', 'x/y/z']) expect(isRepositoryName(ok)).toBe(true);
    for (const bad of ['', 'A', 'a/', '/a', 'a//b', '..', 'a/../b', 'a/.b', 'a_', 'a%2fb', 'x'.repeat(256)]) expect(isRepositoryName(bad)).toBe(false);
  });

  it('parses endpoints from raw paths, a repository name ending in a keyword included', () => {
    expect(parseRoute('/v2/')).toEqual({ kind: 'base' });
    expect(parseRoute('/v2/_catalog')).toEqual({ kind: 'catalog' });
    expect(parseRoute('/v2/a/b/manifests/v1')).toEqual({ kind: 'manifest', name: 'a/b', reference: 'v1' });
    expect(parseRoute('/v2/a/blobs/blobs/sha256:x')).toEqual({ kind: 'blob', name: 'a/blobs', digest: 'sha256:x' });
    expect(parseRoute('/v2/a/blobs/uploads/')).toEqual({ kind: 'uploads', name: 'a' });
    expect(parseRoute('/v2/a/blobs/uploads')).toEqual({ kind: 'uploads', name: 'a' });
    expect(parseRoute('/v2/a/blobs/uploads/123')).toEqual({ kind: 'upload', name: 'a', id: '123' });
    expect(parseRoute('/v2/a/tags/list')).toEqual({ kind: 'tags', name: 'a' });
    expect(parseRoute('/v2/a/referrers/sha256:x')).toEqual({ kind: 'referrers', name: 'a', digest: 'sha256:x' });
    expect(parseRoute('/v2/a/blobs/sha256:../../oci-layout')).toBeUndefined();
    expect(parseRoute('/index.json')).toBeUndefined();
    expect(() => parseRoute('/v2/../x/manifests/v1')).toThrow(/invalid repository name/);
    expect(() => parseRoute('/v2/a%2F..%2Fb/tags/list')).toThrow(/invalid repository name/);
  });
});

describe('parseRange', () => {
  it('reads single byte ranges and refuses what cannot be satisfied', () => {
    expect(parseRange(undefined, 10)).toBeUndefined();
    expect(parseRange('bytes=0-3', 10)).toEqual({ start: 0, end: 3 });
    expect(parseRange('bytes=4-', 10)).toEqual({ start: 4, end: 9 });
    expect(parseRange('bytes=5-100', 10)).toEqual({ start: 5, end: 9 });
    expect(parseRange('bytes=-3', 10)).toEqual({ start: 7, end: 9 });
    expect(parseRange('bytes=-30', 10)).toEqual({ start: 0, end: 9 });
    expect(parseRange('bytes=10-', 10)).toBe('unsatisfiable');
    expect(parseRange('bytes=5-4', 10)).toBe('unsatisfiable');
    expect(parseRange('bytes=-0', 10)).toBe('unsatisfiable');
    expect(parseRange('bytes=0-', 0)).toBe('unsatisfiable');
    expect(parseRange('bytes=x-y', 10)).toBe('unsatisfiable');
    expect(parseRange('bytes=-', 10)).toBe('unsatisfiable');
    // Several ranges or another unit: ignored, the whole is sent.
    expect(parseRange('bytes=0-1,4-5', 10)).toBeUndefined();
    expect(parseRange('items=0-1', 10)).toBeUndefined();
  });
});

describe('paginate', () => {
  const link = (n: number, last: string) => `/next?n=${n}&last=${last}`;
  it('pages after last, linking the next page only while more remain', () => {
    const all = ['a', 'b', 'c'];
    expect(paginate(all, undefined, null, link)).toEqual({ page: all, headers: {} });
    expect(paginate(all, 2, null, link)).toEqual({ page: ['a', 'b'], headers: { link: '</next?n=2&last=b>; rel="next"' } });
    expect(paginate(all, 2, 'b', link)).toEqual({ page: ['c'], headers: {} });
    expect(paginate(all, 0, null, link)).toEqual({ page: [], headers: {} });
    expect(paginate(all, undefined, 'a', link)).toEqual({ page: ['b', 'c'], headers: {} });
  });
});

describe('serve --addr', () => {
  it('takes HOST:PORT and [IPv6]:PORT, port 0 included', () => {
    expect(parseAddr('127.0.0.1:5000')).toEqual({ host: '127.0.0.1', port: 5000 });
    expect(parseAddr('localhost:0')).toEqual({ host: 'localhost', port: 0 });
    expect(parseAddr('[::1]:8080')).toEqual({ host: '::1', port: 8080 });
    for (const bad of ['5000', ':5000', '127.0.0.1', '127.0.0.1:65536', '::1:80', 'host:port', '']) {
      expect(() => parseAddr(bad), bad).toThrow(/invalid --addr/);
    }
  });
});
