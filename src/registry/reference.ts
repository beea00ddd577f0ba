// Image references after github.com/distribution/reference (reference.go + normalize.go):
// [registry/]repository[:tag][@digest], normalized the way `docker pull` does.
import { OciToolError } from '../errors.js';

export interface Reference {
  /** Canonical (lower-case) host[:port]: "docker.io", "localhost:5000", "[::1]:5000". */
  readonly registry: string;
  /** Path inside the registry, e.g. "library/busybox". */
  readonly repository: string;
  /** Undefined only when a digest was given without a tag. */
  readonly tag?: string;
  readonly digest?: string;
}

const DOCKER_HUB = 'docker.io';
const NAME_MAX = 255;

const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
// An IPv6 literal has no zone ("%eth0") in the grammar.
const DOMAIN = new RegExp(`^(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?$`);
const TAG = /^\w[\w.-]{0,127}$/;
const ALGORITHM = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*$/;
const ENCODED = /^[a-zA-Z0-9=_-]{32,}$/;
const HEX_LENGTH: Readonly<Record<string, number>> = { sha256: 64, sha512: 128 };
// Docker refuses these as names: they are indistinguishable from image IDs.
const IMAGE_ID = /^[a-f0-9]{64}$/;

function fail(what: string, input: string, reason: string): OciToolError {
  const shown = input.length > 300 ? `${input.slice(0, 300)}…` : input;
  // JSON quoting keeps control characters from breaking the message onto several lines.
  return new OciToolError('OCI_ERR_BAD_REFERENCE', `invalid ${what} ${JSON.stringify(shown)}: ${reason}`);
}

/** Why a digest is invalid, or undefined when it is fine. */
function digestProblem(digest: string): string | undefined {
  if (digest === '') return 'empty digest';
  const colon = digest.indexOf(':');
  if (colon < 0) return 'digest must be "algorithm:encoded"';
  const algorithm = digest.slice(0, colon);
  const encoded = digest.slice(colon + 1);
  if (!ALGORITHM.test(algorithm)) return `invalid digest algorithm "${algorithm}"`;
  const hexLength = HEX_LENGTH[algorithm];
  if (hexLength !== undefined) {
    if (encoded.length !== hexLength || !/^[a-f0-9]+$/.test(encoded)) {
      return `${algorithm} digest must be ${hexLength} lowercase hex characters`;
    }
  } else if (!ENCODED.test(encoded)) {
    return 'invalid digest encoding';
  }
  return undefined;
}

/** Splits off the registry; only a first component that looks like a host is one. */
function splitRegistry(name: string): { registry: string; path: string; explicit: boolean } {
  const slash = name.indexOf('/');
  const first = name.slice(0, slash);
  if (slash < 0 || !(first === 'localhost' || /[.:]/.test(first))) return { registry: DOCKER_HUB, path: name, explicit: false };
  // Host names are case-insensitive; canonical lower case lets config and auth look-ups match.
  const registry = first.toLowerCase();
  return { registry: registry === 'index.docker.io' ? DOCKER_HUB : registry, path: name.slice(slash + 1), explicit: true };
}

export function parseReference(input: string): Reference {
  const bad = (reason: string) => fail('reference', input, reason);
  if (input === '') throw bad('empty reference');
  if (/\s/.test(input)) throw bad('contains whitespace');

  let rest = input;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    const problem = digestProblem(digest);
    if (problem) throw bad(problem);
  }

  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  // A colon before the last slash belongs to host:port, not to a tag.
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (tag === '') throw bad('empty tag');
    if (!TAG.test(tag)) throw bad(`invalid tag "${tag}"`);
  }

  if (rest === '') throw bad('missing repository name');
  const { registry, path, explicit } = splitRegistry(rest);
  if (explicit && !DOMAIN.test(registry)) throw bad(`invalid registry host "${rest.slice(0, rest.indexOf('/'))}"`);
  if (!explicit && IMAGE_ID.test(path)) throw bad('cannot specify 64-byte hexadecimal strings');
  // "sha256:..." alone is a digest without a repository, not the Hub repository "sha256".
  if (!explicit && tag !== undefined && HEX_LENGTH[path] !== undefined) throw bad('a digest needs a repository name ("repo@digest")');
  if (path === '') throw bad('missing repository name');
  if (/[A-Z]/.test(path)) throw bad('repository name must be lowercase');
  for (const component of path.split('/')) {
    if (component === '') throw bad('empty path component');
    if (!PATH_COMPONENT.test(component)) throw bad(`invalid repository path component "${component}"`);
  }

  const repository = registry === DOCKER_HUB && !path.includes('/') ? `library/${path}` : path;
  if (registry.length + 1 + repository.length > NAME_MAX) throw bad(`repository name must not be more than ${NAME_MAX} characters`);
  return {
    registry,
    repository,
    ...(tag !== undefined || digest === undefined ? { tag: tag ?? 'latest' } : {}),
    ...(digest !== undefined ? { digest } : {}),
  };
}

function suffix(ref: Reference): string {
  return `${ref.tag !== undefined ? `:${ref.tag}` : ''}${ref.digest !== undefined ? `@${ref.digest}` : ''}`;
}

export function formatReference(ref: Reference): string {
  return `${ref.registry}/${ref.repository}${suffix(ref)}`;
}

/** The short form docker shows: "busybox:latest", "user/repo:tag"; other registries stay in full. */
export function familiarName(ref: Reference): string {
  if (ref.registry !== DOCKER_HUB) return formatReference(ref);
  const short = ref.repository.replace(/^library\/(?=[^/]+$)/, '');
  return `${short}${suffix(ref)}`;
}

/** The host that serves the registry API: Docker Hub's is not docker.io itself. */
export function apiHost(registry: string): string {
  return registry.toLowerCase() === DOCKER_HUB ? 'registry-1.docker.io' : registry;
}

/** True for localhost, 127.0.0.0/8 and [::1], with or without a port. */
export function isLoopbackRegistry(registry: string): boolean {
  // Anything but host[:port] characters (say "user@host") is not trusted as loopback.
  if (!/^[A-Za-z0-9.:[\]-]+$/.test(registry)) return false;
  const bare = !registry.includes('[') && registry.split(':').length > 2 ? `[${registry}]` : registry;
  let host: string;
  try {
    // URL canonicalizes case, IPv6 spellings ("[0:0::1]") and IPv4 shorthands ("127.1").
    host = new URL(`http://${bare}`).hostname;
  } catch {
    return false;
  }
  return host === 'localhost' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

export function withDigest(ref: Reference, digest: string): Reference {
  const problem = digestProblem(digest);
  if (problem) throw fail('digest', digest, problem);
  return { ...ref, digest };
}

/** The layout ref name a pull writes by default: with the tag when there is one, else the digest. */
export function defaultRefName(ref: Reference): string {
  return ref.tag ? `${ref.registry}/${ref.repository}:${ref.tag}` : `${ref.registry}/${ref.repository}@${ref.digest}`;
}
