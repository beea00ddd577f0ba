// Replies in the distribution-spec's terms: JSON error bodies with its codes, byte ranges.
import type { ServerResponse } from 'node:http';

/** Error codes of the distribution-spec ("code-1" … "code-14"). */
export type RegistryErrorCode =
  | 'BLOB_UNKNOWN' | 'BLOB_UPLOAD_INVALID' | 'BLOB_UPLOAD_UNKNOWN' | 'DIGEST_INVALID' | 'MANIFEST_BLOB_UNKNOWN'
  | 'MANIFEST_INVALID' | 'MANIFEST_UNKNOWN' | 'NAME_INVALID' | 'NAME_UNKNOWN' | 'SIZE_INVALID' | 'UNAUTHORIZED'
  | 'DENIED' | 'UNSUPPORTED' | 'TOOMANYREQUESTS';

/** A failure answered with its status and a spec error body; anything else thrown is a 500. */
export class RegistryError extends Error {
  constructor(
    readonly status: number,
    readonly code: RegistryErrorCode,
    message: string,
    readonly headers: Record<string, string> = {},
    readonly detail?: unknown,
  ) {
    super(message);
    this.name = 'RegistryError';
  }
}

export const API_VERSION_HEADER = { 'docker-distribution-api-version': 'registry/2.0' };

export function sendError(res: ServerResponse, status: number, code: string, message: string, headers: Record<string, string> = {}, detail?: unknown): void {
  const body = JSON.stringify({ errors: [{ code, message, ...(detail !== undefined ? { detail } : {}) }] });
  send(res, status, { 'content-type': 'application/json', ...headers }, body);
}

export function sendJson(res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
  send(res, status, { 'content-type': 'application/json', ...headers }, JSON.stringify(value));
}

/** A small body in hand (HEAD gets the same headers and no body). */
export function send(res: ServerResponse, status: number, headers: Record<string, string>, body: string | Uint8Array = ''): void {
  res.writeHead(status, { ...headers, 'content-length': String(Buffer.byteLength(body)) });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

export type ByteRange = { start: number; end: number };

/**
 * A Range header against a representation of `size` bytes (RFC 9110 §14): undefined to send the
 * whole (no header, another unit, or several ranges, which a server may ignore), a range to send
 * with 206, or 'unsatisfiable' for 416 (also for a malformed bytes range, which a server may reject).
 */
export function parseRange(header: string | undefined, size: number): ByteRange | 'unsatisfiable' | undefined {
  if (header === undefined) return undefined;
  const m = /^\s*bytes\s*=\s*(.*)$/i.exec(header);
  if (!m) return undefined;
  const spec = (m[1] ?? '').trim();
  if (spec.includes(',')) return undefined;
  const r = /^(\d*)-(\d*)$/.exec(spec);
  if (!r || (r[1] === '' && r[2] === '')) return 'unsatisfiable';
  const first = r[1] === '' ? undefined : Number(r[1]);
  const last = r[2] === '' ? undefined : Number(r[2]);
  if (first === undefined) {
    // A suffix: the last N bytes.
    if (last === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(size - (last as number), 0), end: size - 1 };
  }
  if (!Number.isSafeInteger(first) || first >= size || (last !== undefined && last < first)) return 'unsatisfiable';
  return { start: first, end: last === undefined || !Number.isSafeInteger(last) ? size - 1 : Math.min(last, size - 1) };
}

/** A query parameter as a non-negative integer page size. */
export function pageSize(value: string | null): number | undefined {
  if (value === null) return undefined;
  if (!/^\d{1,9}$/.test(value)) throw new RegistryError(400, 'UNSUPPORTED', `n must be a non-negative integer, not ${JSON.stringify(value.slice(0, 20))}`);
  return Number(value);
}

/** One page of a sorted list after `last`, with the Link to the next page when more remain. */
export function paginate(all: readonly string[], n: number | undefined, last: string | null, link: (n: number, last: string) => string): { page: string[]; headers: Record<string, string> } {
  const after = last === null ? all : all.filter((t) => t > last);
  if (n === undefined) return { page: [...after], headers: {} };
  const page = after.slice(0, n);
  const more = n > 0 && page.length < after.length;
  return { page, headers: more ? { link: `<${link(n, page.at(-1) as string)}>; rel="next"` } : {} };
}
