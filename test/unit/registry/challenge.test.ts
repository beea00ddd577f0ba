import { describe, expect, it } from 'vitest';
import { parseChallenges } from '../../../src/registry/challenge.js';

describe('parseChallenges', () => {
  it('parses a Docker Hub bearer challenge', () => {
    const h = 'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"';
    expect(parseChallenges(h)).toEqual([
      {
        scheme: 'bearer',
        params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/busybox:pull' },
      },
    ]);
  });

  it('parses an insufficient_scope error challenge', () => {
    const h = 'Bearer realm="https://ghcr.io/token",service="ghcr.io",scope="repository:a/b:pull,push",error="insufficient_scope"';
    const [c] = parseChallenges(h);
    expect(c?.params).toEqual({ realm: 'https://ghcr.io/token', service: 'ghcr.io', scope: 'repository:a/b:pull,push', error: 'insufficient_scope' });
  });

  it('keeps commas and equals signs inside quoted strings', () => {
    const [c] = parseChallenges('Bearer scope="repository:x:pull,push, Basic realm=y",realm="a=b"');
    expect(c?.params).toEqual({ scope: 'repository:x:pull,push, Basic realm=y', realm: 'a=b' });
  });

  it('unescapes backslash escapes in quoted strings', () => {
    const [c] = parseChallenges('Basic realm="say \\"hi\\" \\\\ \\x"');
    expect(c?.params.realm).toBe('say "hi" \\ x');
  });

  it('splits several challenges in one header', () => {
    const h = 'Newauth realm="apps", type=1, title="Login to \\"apps\\"", Basic realm="simple"';
    expect(parseChallenges(h)).toEqual([
      { scheme: 'newauth', params: { realm: 'apps', type: '1', title: 'Login to "apps"' } },
      { scheme: 'basic', params: { realm: 'simple' } },
    ]);
  });

  it('accepts several header fields', () => {
    expect(parseChallenges(['Basic realm="a"', 'Bearer realm="b",service="s"']).map((c) => c.scheme)).toEqual(['basic', 'bearer']);
  });

  it('is case-insensitive for schemes and parameter names, not values', () => {
    expect(parseChallenges('BEARER Realm="https://Auth.example/Token", SERVICE=Reg')).toEqual([
      { scheme: 'bearer', params: { realm: 'https://Auth.example/Token', service: 'Reg' } },
    ]);
  });

  it('accepts unquoted values that are not strict tokens, and whitespace around "="', () => {
    const [c] = parseChallenges('Bearer realm = https://auth.example.com/token?x=1 ,service=registry.example.com');
    expect(c?.params).toEqual({ realm: 'https://auth.example.com/token?x=1', service: 'registry.example.com' });
  });

  it('parses token68 challenges', () => {
    expect(parseChallenges('Negotiate abc+/def==, Basic realm="r"')).toEqual([
      { scheme: 'negotiate', params: {}, token68: 'abc+/def==' },
      { scheme: 'basic', params: { realm: 'r' } },
    ]);
    // "x=" followed by a value is a param, not token68.
    expect(parseChallenges('Foo x=1')).toEqual([{ scheme: 'foo', params: { x: '1' } }]);
  });

  it('parses schemes without params', () => {
    expect(parseChallenges('Basic')).toEqual([{ scheme: 'basic', params: {} }]);
    expect(parseChallenges('Basic, Bearer realm="x"')).toEqual([
      { scheme: 'basic', params: {} },
      { scheme: 'bearer', params: { realm: 'x' } },
    ]);
  });

  it('returns nothing for an empty or missing header', () => {
    expect(parseChallenges(undefined)).toEqual([]);
    expect(parseChallenges('')).toEqual([]);
    expect(parseChallenges('  , ,')).toEqual([]);
    expect(parseChallenges([])).toEqual([]);
  });

  it('tolerates empty list elements, empty values and an unterminated quote', () => {
    expect(parseChallenges(',Bearer ,, realm="r",, service=,')).toEqual([{ scheme: 'bearer', params: { realm: 'r', service: '' } }]);
    expect(parseChallenges('Bearer realm="https://x/token')).toEqual([{ scheme: 'bearer', params: { realm: 'https://x/token' } }]);
  });

  it('keeps the first of repeated params and never touches the prototype', () => {
    const [c] = parseChallenges('Bearer realm="first", realm="second", __proto__="x"');
    expect(c?.params.realm).toBe('first');
    expect(Object.getPrototypeOf(c?.params)).toBe(Object.prototype);
    expect(Object.keys(c?.params ?? {})).toEqual(['realm', '__proto__']);
  });

  it('skips garbage it does not understand', () => {
    expect(parseChallenges('"quoted, junk", Basic realm="r"')).toEqual([{ scheme: 'basic', params: { realm: 'r' } }]);
  });
});
