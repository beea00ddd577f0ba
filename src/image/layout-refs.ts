// Finding an image in a layout by what a user types: a ref name, a short or full reference
// (normalized as pull names it), or a digest.
import { defaultRefName, parseReference } from '../registry/reference.js';
import { isDigest } from './digest.js';
import { REF_NAME_ANNOTATION, type Layout } from './layout.js';
import type { Descriptor } from './types.js';

export async function findInLayout(layout: Layout, ref: string): Promise<Descriptor | undefined> {
  const index = await layout.readIndex();
  const byName = (name: string) => index.manifests.find((d) => d.annotations?.[REF_NAME_ANNOTATION] === name);
  const exact = byName(ref);
  if (exact) return exact;
  if (isDigest(ref)) return index.manifests.find((d) => d.digest === ref);
  let normalized: string;
  try {
    normalized = defaultRefName(parseReference(ref));
  } catch {
    return undefined;
  }
  const named = byName(normalized);
  if (named) return named;
  // A reference with a digest may name a stored image whose ref name carries only the tag.
  const digest = /@(.+)$/.exec(ref)?.[1];
  return digest ? index.manifests.find((d) => d.digest === digest) : undefined;
}

/** The ref names a layout holds, for "not found" messages. */
export async function refNames(layout: Layout): Promise<string[]> {
  const index = await layout.readIndex();
  return index.manifests.flatMap((d) => d.annotations?.[REF_NAME_ANNOTATION] ?? []);
}
