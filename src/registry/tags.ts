// Tag listing (distribution-spec "Listing Tags"), and the RFC 5988 Link pagination it shares with
// the referrers API.
import { OciToolError } from '../errors.js';
import type { RemoteRepository } from './remote.js';
import type { RegistryResponse } from './transport.js';

/** Pages followed at most: far beyond real repositories, short of a server that links forever. */
export const MAX_PAGES = 10_000;

/** Every tag of the repository, in the registry's order, following `Link: <…>; rel="next"`. */
export async function listTags(repo: RemoteRepository, opts: { pageSize?: number; signal?: AbortSignal } = {}): Promise<string[]> {
  const what = `tags of ${repo.name}`;
  if (opts.pageSize !== undefined && (!Number.isSafeInteger(opts.pageSize) || opts.pageSize < 1)) {
    throw new OciToolError('OCI_ERR_USAGE', `${what}: page size must be a positive integer, not ${opts.pageSize}`);
  }
  const tags: string[] = [];
  let next: string | undefined = repo.endpoint('tags/list') + (opts.pageSize ? `?n=${opts.pageSize}` : '');
  const seen = new Set<string>();
  while (next !== undefined) {
    enterPage(seen, next, what);
    const res = await repo.transport.request({ method: 'GET', path: next, scope: repo.scope, headers: { accept: 'application/json' }, what, signal: opts.signal });
    const body = await repo.readDocument(res, what);
    let page: unknown;
    try {
      page = JSON.parse(body.toString('utf8'));
    } catch {
      throw new OciToolError('OCI_ERR_INVALID_CONTENT', `${what}: the registry's tag list is not JSON`);
    }
    const list = (page as { tags?: unknown } | null)?.tags;
    // distribution answers `"tags": null` for a repository without tags.
    if (list !== null && list !== undefined && !(Array.isArray(list) && list.every((t) => typeof t === 'string'))) {
      throw new OciToolError('OCI_ERR_INVALID_CONTENT', `${what}: the registry's tag list has no list of strings`);
    }
    tags.push(...((list ?? []) as string[]));
    next = nextPage(res, repo.transport.origin, what);
  }
  return tags;
}

/** Counts a page and refuses a loop or an endless chain. */
export function enterPage(seen: Set<string>, url: string, what: string): void {
  if (seen.has(url)) throw new OciToolError('OCI_ERR_REGISTRY', `${what}: the registry's pagination links back to a page already read`);
  if (seen.size >= MAX_PAGES) throw new OciToolError('OCI_ERR_REGISTRY', `${what}: more than ${MAX_PAGES} pages`);
  seen.add(url);
}

/** The rel="next" target of a response, resolved against it; only the registry's own origin is followed. */
export function nextPage(res: RegistryResponse, registryOrigin: string, what: string): string | undefined {
  const target = nextLink(headerList(res, 'link'));
  if (target === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(target, res.url);
  } catch {
    throw new OciToolError('OCI_ERR_REGISTRY', `${what}: the registry sent an invalid next-page link`);
  }
  if (url.origin !== registryOrigin) throw new OciToolError('OCI_ERR_REGISTRY', `${what}: refusing a next-page link to another origin (${url.host})`);
  return url.toString();
}

/** The URI of the first link with relation "next" in a Link header (RFC 8288; rel may list several types). */
export function nextLink(value: string | undefined): string | undefined {
  if (!value) return undefined;
  const link = /<([^>]*)>((?:\s*;\s*[^;,=\s]+\s*(?:=\s*(?:"[^"]*"|[^;,\s]*))?)*)/g;
  for (let m = link.exec(value); m; m = link.exec(value)) {
    const params = m[2] ?? '';
    for (const p of params.matchAll(/;\s*([^;,=\s]+)\s*(?:=\s*(?:"([^"]*)"|([^;,\s]*)))?/g)) {
      if (p[1]?.toLowerCase() !== 'rel') continue;
      const types = (p[2] ?? p[3] ?? '').toLowerCase().split(/\s+/);
      if (types.includes('next')) return m[1];
    }
  }
  return undefined;
}

/** A header that may repeat, as one comma-separated list. */
export function headerList(res: RegistryResponse, name: string): string {
  const v = res.headers[name];
  return Array.isArray(v) ? v.join(', ') : (v ?? '');
}
