// Referrers (distribution-spec v1.1): the referrers API, and the referrers tag schema that stands in
// for it on registries without one, read here and kept up to date by putManifest.
import { isDeepStrictEqual } from 'node:util';
import { isOciToolError, OciToolError } from '../errors.js';
import { parseDigest } from '../image/digest.js';
import { INDEX_MEDIA_TYPE } from '../image/media-types.js';
import { parseManifestDocument, type Descriptor, type ImageIndex } from '../image/types.js';
import type { RemoteRepository } from './remote.js';
import { header } from './transport.js';
import { enterPage, headerList, nextPage } from './tags.js';

export interface Referrers {
  manifests: Descriptor[];
  /** Where the list came from: the registry's referrers API, or the `<alg>-<hex>` tag. */
  via: 'api' | 'tag';
}

/** The referrers tag of a digest: algorithm (≤ 32 characters), '-', encoded part (≤ 64), other characters as '-'. */
export function referrersTag(digest: string): string {
  const colon = digest.indexOf(':');
  if (colon <= 0) throw new OciToolError('OCI_ERR_INVALID_CONTENT', `invalid digest "${digest}"`);
  const clean = (s: string) => s.replace(/[^a-zA-Z0-9._-]/g, '-');
  return `${clean(digest.slice(0, colon).slice(0, 32))}-${clean(digest.slice(colon + 1).slice(0, 64))}`;
}

export async function listReferrers(
  repo: RemoteRepository,
  digest: string,
  opts: { artifactType?: string; signal?: AbortSignal } = {},
): Promise<Referrers> {
  parseDigest(digest, 'subject digest');
  const { artifactType, signal } = opts;
  const what = `referrers of ${repo.name}@${digest}`;
  const manifests: Descriptor[] = [];
  const seen = new Set<string>();
  let next: string | undefined = repo.endpoint(`referrers/${digest}`) + (artifactType ? `?artifactType=${encodeURIComponent(artifactType)}` : '');
  while (next !== undefined) {
    enterPage(seen, next, what);
    const first = seen.size === 1;
    const res = await repo.transport.request({
      method: 'GET', path: next, scope: repo.scope, headers: { accept: INDEX_MEDIA_TYPE }, allowStatus: first ? [404] : undefined, what, signal,
    });
    if (res.status === 404) {
      // No referrers API: the spec's fallback is the tag schema.
      await res.body.dump().catch(() => {});
      return { manifests: select((await readTagIndex(repo, digest, signal, 'lenient'))?.manifests ?? [], artifactType, false), via: 'tag' };
    }
    const doc = parseManifestDocument(await repo.readDocument(res, what), header(res, 'content-type'), what);
    if (doc.kind !== 'index') throw new OciToolError('OCI_ERR_INVALID_CONTENT', `${what}: the registry answered with an image manifest, not an image index`);
    const applied = headerList(res, 'oci-filters-applied').split(',').some((f) => f.trim() === 'artifactType');
    manifests.push(...select(doc.index.manifests, artifactType, applied));
    next = nextPage(res, repo.transport.origin, what);
  }
  return { manifests, via: 'api' };
}

/**
 * The referrers tag's index with `desc` added (or replacing an entry of the same digest), as bytes to
 * push; undefined when the tag already lists exactly that descriptor.
 */
export async function referrersIndexWith(repo: RemoteRepository, subject: string, desc: Descriptor, signal?: AbortSignal): Promise<Buffer | undefined> {
  const manifests = [...((await readTagIndex(repo, subject, signal, 'strict'))?.manifests ?? [])];
  const at = manifests.findIndex((d) => d.digest === desc.digest);
  if (at >= 0 && isDeepStrictEqual(manifests[at], desc)) return undefined;
  if (at >= 0) manifests[at] = desc;
  else manifests.push(desc);
  return Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: INDEX_MEDIA_TYPE, manifests }));
}

/**
 * The index under the referrers tag, undefined when there is none. Something else under the tag is
 * an error when about to write there ('strict'), and no referrers when reading ('lenient'), as the
 * spec asks of each.
 */
async function readTagIndex(repo: RemoteRepository, subject: string, signal: AbortSignal | undefined, mode: 'strict' | 'lenient'): Promise<ImageIndex | undefined> {
  const tag = referrersTag(subject);
  const where = `referrers tag ${repo.name}:${tag}`;
  try {
    const got = await repo.getManifest(tag, undefined, signal);
    const doc = parseManifestDocument(got.bytes, got.mediaType, where);
    if (doc.kind !== 'index') throw new OciToolError('OCI_ERR_INVALID_CONTENT', `${where} holds an image manifest, not an image index`);
    return doc.index;
  } catch (e) {
    if (isOciToolError(e) && e.code === 'OCI_ERR_NOT_FOUND') return undefined;
    if (mode === 'lenient' && isOciToolError(e) && (e.code === 'OCI_ERR_INVALID_CONTENT' || e.code === 'OCI_ERR_UNSUPPORTED')) return undefined;
    throw e;
  }
}

function select(list: readonly Descriptor[], artifactType: string | undefined, applied: boolean): Descriptor[] {
  return artifactType && !applied ? list.filter((d) => d.artifactType === artifactType) : [...list];
}
