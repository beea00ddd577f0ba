import { describe, expect, it } from 'vitest';
import { OciToolError } from '../../../src/errors.js';
import {
  backoffDelay, defaultRetryPolicy, isTemporaryError, isTemporaryStatus, parseRetryAfter, wait, type RetryPolicy,
} from '../../../src/registry/retry.js';

const NOW = Date.parse('2024-03-01T12:00:00Z');

describe('parseRetryAfter', () => {
  it.each([
    ['0', 0],
    ['1', 1000],
    ['120', 120_000],
    [' 7 ', 7000],
    ['007', 7000],
  ])('reads delta-seconds %j', (value, ms) => {
    expect(parseRetryAfter(value, NOW)).toBe(ms);
  });

  it.each([
    ['IMF-fixdate', 'Fri, 01 Mar 2024 12:00:30 GMT', 30_000],
    ['obsolete RFC 850 date', 'Friday, 01-Mar-24 12:01:00 GMT', 60_000],
    ['asctime date (GMT whatever the local zone)', 'Fri Mar  1 12:00:05 2024', 5000],
    ['date with a one-digit day and +0000', 'Fri, 1 Mar 2024 12:00:30 +0000', 30_000],
    ['date in the past', 'Fri, 01 Mar 2024 11:00:00 GMT', 0],
    ['date now', 'Fri, 01 Mar 2024 12:00:00 GMT', 0],
  ])('reads an HTTP date (%s) as the time until it', (_name, value, ms) => {
    expect(parseRetryAfter(value, NOW)).toBe(ms);
  });

  it('measures a date from now by default', () => {
    const inTenSeconds = new Date(Date.now() + 10_000).toUTCString();
    const ms = parseRetryAfter(inTenSeconds) as number;
    expect(ms).toBeGreaterThan(8000);
    expect(ms).toBeLessThanOrEqual(10_000);
  });

  it.each([
    undefined, '', '   ', 'soon', 'later please', '5s', '10 seconds', '1.5', '-1', '1e3', '0x10', 'Infinity',
    // Strings that V8's lenient Date.parse reads as dates in 2001 must not become "retry now".
    'abc 2', 'tomorrow 1', 'Retry 3',
    'Fri, 01 Mar 2024', 'Fri, 32 Mar 2024 12:00:00 GMT',
  ])('ignores junk %j', (value) => {
    expect(parseRetryAfter(value, NOW)).toBeUndefined();
  });
});

describe('backoffDelay', () => {
  const policy: RetryPolicy = { attempts: 10, baseDelayMs: 100, maxDelayMs: 1000, maxRetryAfterMs: 5000 };

  it('lies between half the ceiling and the ceiling, which doubles per attempt up to maxDelayMs', () => {
    const ceilings = [100, 200, 400, 800, 1000, 1000, 1000];
    ceilings.forEach((ceiling, i) => {
      expect(backoffDelay(policy, i + 1, () => 0)).toBe(ceiling / 2);
      expect(backoffDelay(policy, i + 1, () => 0.5)).toBe(ceiling * 0.75);
      expect(backoffDelay(policy, i + 1, () => 0.999999)).toBe(ceiling);
    });
  });

  it('never leaves its bounds for any random value', () => {
    for (let attempt = 1; attempt <= 20; attempt++) {
      for (let r = 0; r < 1; r += 0.01) {
        const d = backoffDelay(policy, attempt, () => r);
        const ceiling = Math.min(1000, 100 * 2 ** (attempt - 1));
        expect(d).toBeGreaterThanOrEqual(ceiling / 2);
        expect(d).toBeLessThanOrEqual(ceiling);
        expect(Number.isInteger(d)).toBe(true);
      }
    }
  });

  it('uses Math.random by default and stays within the default policy', () => {
    for (let i = 0; i < 100; i++) {
      const d = backoffDelay(defaultRetryPolicy, 1);
      expect(d).toBeGreaterThanOrEqual(defaultRetryPolicy.baseDelayMs / 2);
      expect(d).toBeLessThanOrEqual(defaultRetryPolicy.baseDelayMs);
    }
    expect(backoffDelay(defaultRetryPolicy, 50, () => 0.999)).toBeLessThanOrEqual(defaultRetryPolicy.maxDelayMs);
  });
});

describe('isTemporaryStatus', () => {
  it.each([408, 425, 429, 500, 502, 503, 504])('%i is temporary', (status) => {
    expect(isTemporaryStatus(status)).toBe(true);
  });
  it.each([200, 206, 301, 400, 401, 403, 404, 416, 501, 505])('%i is not', (status) => {
    expect(isTemporaryStatus(status)).toBe(false);
  });
});

describe('isTemporaryError', () => {
  const coded = (code: unknown, cause?: unknown) => Object.assign(new Error(`failed with ${String(code)}`, { cause }), { code });

  it.each(['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'UND_ERR_SOCKET', 'UND_ERR_BODY_TIMEOUT', 'ERR_STREAM_PREMATURE_CLOSE'])(
    'recognises %s', (code) => {
      expect(isTemporaryError(coded(code))).toBe(true);
    },
  );

  it('finds the code down a cause chain, as fetch reports it', () => {
    const fetchFailed = new TypeError('fetch failed', { cause: coded('UND_ERR_CONNECT_TIMEOUT') });
    expect(isTemporaryError(fetchFailed)).toBe(true);
    expect(isTemporaryError(new OciToolError('OCI_ERR_NETWORK', 'x', { cause: fetchFailed }))).toBe(true);
    expect(isTemporaryError(new Error('a', { cause: new Error('b', { cause: { code: 'ECONNRESET' } }) }))).toBe(true);
  });

  it('looks five errors deep and no deeper', () => {
    const chain = (depth: number) => {
      let e: unknown = coded('ECONNRESET');
      for (let i = 0; i < depth; i++) e = new Error(`wrap ${i}`, { cause: e });
      return e;
    };
    expect(isTemporaryError(chain(4))).toBe(true);
    expect(isTemporaryError(chain(5))).toBe(false);
  });

  it('stops on a cause cycle', () => {
    const a = new Error('a') as Error & { cause?: unknown };
    const b = new Error('b', { cause: a });
    a.cause = b;
    expect(isTemporaryError(a)).toBe(false);
  });

  it.each([
    ['a permanent code', coded('ENOENT')],
    ['a certificate error', coded('CERT_HAS_EXPIRED')],
    ['an OciToolError code', new OciToolError('OCI_ERR_NETWORK', 'x')],
    ['a numeric code', coded(104)],
    ['no code', new Error('plain')],
    ['a permanent code over a temporary one', coded('EACCES', new Error('x'))],
    ['undefined', undefined],
    ['null', null],
    ['a string', 'ECONNRESET'],
  ])('does not count %s', (_name, e) => {
    expect(isTemporaryError(e)).toBe(false);
  });
});

describe('wait', () => {
  it('waits the given time', async () => {
    const started = Date.now();
    await wait(50);
    expect(Date.now() - started).toBeGreaterThanOrEqual(45);
  });

  it('stops early with an AbortError when its signal aborts', async () => {
    const ac = new AbortController();
    const started = Date.now();
    setTimeout(() => ac.abort(), 20);
    await expect(wait(10_000, ac.signal)).rejects.toMatchObject({ name: 'AbortError' });
    expect(Date.now() - started).toBeLessThan(2000);
  });
});
