// How a served repository and tag find an image in index.json, whose entries are named by
// org.opencontainers.image.ref.name in whatever form the writer chose:
//
//  - A full reference (what `oci-tool pull` writes, e.g. "127.0.0.1:5000/library/busybox:latest"
//    or "docker.io/library/busybox:latest") is served as its repository path and tag; the registry
//    host is ignored. When the host has no port and could itself be a path component
//    ("localhost/app:1", "example.com/app:1"), the whole name answers as a repository too.
//  - A name without a host ("busybox:1", "team/app:2", what a --push writes as "<repo>:<tag>") is
//    that repository and tag; a missing tag means "latest".
//  - Docker Hub names answer both ways: "library/busybox" and "busybox".
//  - A name with neither "/" nor ":" ("v1", "latest", as `skopeo copy … oci:DIR:v1` writes) is a
//    bare tag, served under that tag in every repository.
//  - Names with only a digest, or that parse as nothing above, are not served by name (their
//    content still is, by digest).
// When several entries answer, one naming the repository beats a bare tag, and among equals the
// last in index.json wins (Layout.setRef appends, so that is the one written most recently).
import { parseReference } from '../registry/reference.js';

/** The repository grammar of the distribution-spec. */
const REPOSITORY = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$/;
// Clients cap host + "/" + name at 255; leave room for a host.
const REPOSITORY_MAX = 255;

export const isRepositoryName = (name: string): boolean => name.length <= REPOSITORY_MAX && REPOSITORY.test(name);
export const isTag = (tag: string): boolean => TAG.test(tag);

export interface ServedName {
  /** Repositories the entry answers to, the first being the one listed by _catalog; empty for a bare tag (every repository). */
  readonly repositories: readonly string[];
  readonly tag: string;
}

/** How an index.json ref name is served, or undefined when it is not served by name. */
export function parseServedName(refName: string): ServedName | undefined {
  if (!refName.includes('/') && !refName.includes(':')) return isTag(refName) ? { repositories: [], tag: refName } : undefined;
  let ref;
  try {
    ref = parseReference(refName);
  } catch {
    return undefined;
  }
  if (ref.tag === undefined) return undefined;
  // parseReference drops the host and adds "library/"; the written form decides what comes first.
  const name = refName.replace(/@.*$/, '').replace(/:[^:/]*$/, '');
  const slash = name.indexOf('/');
  const first = name.slice(0, slash);
  const hasHost = slash >= 0 && (first === 'localhost' || /[.:]/.test(first));
  const written = hasHost ? name.slice(slash + 1) : name;
  const repositories = [written];
  if (ref.registry === 'docker.io') repositories.push(ref.repository, ref.repository.replace(/^library\/(?=[^/]+$)/, ''));
  if (hasHost && PATH_COMPONENT.test(first)) repositories.push(name);
  return { repositories: [...new Set(repositories)].filter(isRepositoryName), tag: ref.tag };
}

/** The ref name a --push of repository:tag writes (and that parseServedName maps back). */
export function pushedRefName(repository: string, tag: string): string {
  return `${repository}:${tag}`;
}

export interface NamedEntry<T> {
  readonly name: ServedName;
  readonly value: T;
}

export const answersTo = (name: ServedName, repository: string): boolean => name.repositories.includes(repository);

/** The entry serving repository:tag, by the precedence above. */
export function findTag<T>(entries: readonly NamedEntry<T>[], repository: string, tag: string): T | undefined {
  let bare: T | undefined;
  let named: T | undefined;
  for (const e of entries) {
    if (e.name.tag !== tag) continue;
    if (answersTo(e.name, repository)) named = e.value;
    else if (e.name.repositories.length === 0) bare = e.value;
  }
  return named ?? bare;
}

/** Tags served in a repository (sorted as Go's sort.Strings), or undefined when nothing answers to it. */
export function tagsOf<T>(entries: readonly NamedEntry<T>[], repository: string): string[] | undefined {
  const tags = new Set<string>();
  let known = false;
  for (const e of entries) {
    if (answersTo(e.name, repository) || e.name.repositories.length === 0) {
      known = true;
      tags.add(e.name.tag);
    }
  }
  return known ? [...tags].sort(byCodeUnits) : undefined;
}

/** Repository names for _catalog: each entry's first name; bare tags add none. */
export function repositoriesOf<T>(entries: readonly NamedEntry<T>[]): string[] {
  return [...new Set(entries.flatMap((e) => e.name.repositories.slice(0, 1)))].sort(byCodeUnits);
}

/** Byte order, as Go's sort.Strings (tags and repositories are ASCII). */
export const byCodeUnits = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
