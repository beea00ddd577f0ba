// When and how long to wait before trying a registry request again.
import { setTimeout as sleep } from 'node:timers/promises';

export interface RetryPolicy {
  /** Total tries, the first included. */
  attempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  /** A Retry-After longer than this is not waited for; the request fails instead. */
  maxRetryAfterMs: number;
}

export const defaultRetryPolicy: RetryPolicy = { attempts: 6, baseDelayMs: 250, maxDelayMs: 8_000, maxRetryAfterMs: 120_000 };

const temporaryStatuses = new Set([408, 425, 429, 500, 502, 503, 504]);
const temporaryCodes = new Set([
  'ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'ENETUNREACH', 'EHOSTUNREACH', 'EAI_AGAIN', 'ENOTFOUND',
  'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CLOSED',
  'ERR_STREAM_PREMATURE_CLOSE', 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH', 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH',
]);

export function isTemporaryStatus(status: number): boolean {
  return temporaryStatuses.has(status);
}

/** An error and the causes it wraps (undici nests the socket error), outermost first. */
export function* causes(e: unknown): Generator<{ code?: unknown; message?: unknown }> {
  for (let cur: unknown = e, depth = 0; cur && typeof cur === 'object' && depth < 5; cur = (cur as { cause?: unknown }).cause, depth++) {
    yield cur as { code?: unknown; message?: unknown };
  }
}

/** The first error code in the chain (ECONNRESET, UND_ERR_SOCKET, …), else the message. */
export function errorCode(e: unknown): string {
  for (const c of causes(e)) if (typeof c.code === 'string') return c.code;
  return e instanceof Error ? e.message : String(e);
}

/** Network-level failures worth another try (connection resets, timeouts, truncated bodies). */
export function isTemporaryError(e: unknown): boolean {
  for (const c of causes(e)) if (typeof c.code === 'string' && temporaryCodes.has(c.code)) return true;
  return false;
}

// RFC 9110's three HTTP-date forms (IMF-fixdate, RFC 850, asctime), a little leniently. Anything
// else is junk: Date.parse alone would read strings such as "1.5" or "abc 2" as dates in 2001.
const httpDate = /^[A-Za-z]{3,9},? +\d{1,2}[ -][A-Za-z]{3}[ -]\d{2,4} +\d{1,2}:\d{2}:\d{2} +(?:GMT|UTC|[+-]0000)$/;
const asctimeDate = /^[A-Za-z]{3} +[A-Za-z]{3} +\d{1,2} +\d{1,2}:\d{2}:\d{2} +\d{4}$/;

/** Retry-After as milliseconds: delta-seconds or an HTTP date; undefined when it is neither. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  // asctime dates carry no zone; HTTP dates are always GMT.
  const at = httpDate.test(trimmed) ? Date.parse(trimmed) : asctimeDate.test(trimmed) ? Date.parse(`${trimmed} GMT`) : NaN;
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** Exponential backoff with full jitter, so that concurrent downloads do not retry in step. */
export function backoffDelay(policy: RetryPolicy, attempt: number, random = Math.random): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

export function wait(ms: number, signal?: AbortSignal): Promise<void> {
  return sleep(ms, undefined, signal ? { signal } : undefined);
}
