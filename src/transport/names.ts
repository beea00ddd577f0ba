// Image names with a transport prefix, as skopeo and containers-transports(5) spell them:
// docker://REF, oci:DIR[:REF], oci-archive:FILE[:REF], docker-archive:FILE[:REF].
// Like containers/image, the path ends at its first ':' (a path cannot hold one); the rest is the
// reference, which may itself contain ':' ("oci:dir:registry.example.com:5000/app:1").
import { OciToolError } from '../errors.js';
import { parseReference, type Reference } from '../registry/reference.js';

export type TransportKind = 'docker' | 'oci' | 'oci-archive' | 'docker-archive';

export type TransportName =
  | { kind: 'docker'; reference: Reference }
  /** `ref`: a ref name (org.opencontainers.image.ref.name); `index`: the `@N` form, a position in index.json (sources only). */
  | { kind: 'oci' | 'oci-archive'; path: string; ref?: string; index?: number }
  /** `ref`: a tagged docker reference as written; `index`: the `@N` form (sources only). */
  | { kind: 'docker-archive'; path: string; ref?: string; index?: number };

export const TRANSPORTS: readonly TransportKind[] = ['docker', 'oci', 'oci-archive', 'docker-archive'];

// containers/image oci/internal refRegexp, after the annotation spec's ref.name grammar.
const COMPONENT = '[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*';
const OCI_REF = new RegExp(`^${COMPONENT}(?:/${COMPONENT})*$`);
// Transports containers/image has and oci-tool does not.
const OTHER = new Set(['dir', 'containers-storage', 'docker-daemon', 'sif', 'tarball', 'ostree']);

const bad = (input: string, reason: string) => new OciToolError('OCI_ERR_BAD_REFERENCE', `invalid image name ${JSON.stringify(input)}: ${reason}`);

export function parseTransportName(input: string): TransportName {
  const colon = input.indexOf(':');
  if (colon <= 0) throw bad(input, `expected TRANSPORT:NAME with one of ${TRANSPORTS.map((t) => `${t}:`).join(', ')}`);
  const transport = input.slice(0, colon);
  const rest = input.slice(colon + 1);
  switch (transport) {
    case 'docker':
      return { kind: 'docker', reference: dockerReference(input, rest) };
    case 'oci':
    case 'oci-archive': {
      const { path, tail } = splitPath(input, rest);
      if (tail === undefined || tail === '') return { kind: transport, path };
      const index = sourceIndex(input, tail);
      if (index !== undefined) return { kind: transport, path, index };
      if (!OCI_REF.test(tail)) throw bad(input, `"${tail}" is not a valid ref name`);
      return { kind: transport, path, ref: tail };
    }
    case 'docker-archive': {
      const { path, tail } = splitPath(input, rest);
      if (tail === undefined) return { kind: 'docker-archive', path };
      const index = sourceIndex(input, tail);
      if (index !== undefined) return { kind: 'docker-archive', path, index };
      const ref = parseReference(tail);
      if (ref.digest !== undefined) throw bad(input, 'docker-archive takes a tagged reference, not a digest');
      return { kind: 'docker-archive', path, ref: tail };
    }
    default:
      if (OTHER.has(transport)) throw new OciToolError('OCI_ERR_UNSUPPORTED', `the ${transport}: transport is not supported; use one of ${TRANSPORTS.map((t) => `${t}:`).join(', ')}`);
      throw bad(input, `unknown transport "${transport}"`);
  }
}

/** The name as skopeo would print it. */
export function formatTransportName(name: TransportName): string {
  if (name.kind === 'docker') {
    const r = name.reference;
    return `docker://${r.registry}/${r.repository}${r.digest ? `@${r.digest}` : `:${r.tag ?? 'latest'}`}`;
  }
  const tail = name.index !== undefined ? `:@${name.index}` : name.ref !== undefined ? `:${name.ref}` : '';
  return `${name.kind}:${name.path}${tail}`;
}

function dockerReference(input: string, rest: string): Reference {
  if (!rest.startsWith('//')) throw bad(input, 'a docker: name starts with "docker://"');
  const ref = parseReference(rest.slice(2));
  // As containers/image: the registry API cannot ask for a tag and a digest at once. (parseReference
  // fills in "latest" only when there is no digest, so a tag beside a digest was written.)
  if (ref.digest !== undefined && ref.tag !== undefined) throw bad(input, 'a reference with both a tag and a digest is not supported');
  return ref;
}

function splitPath(input: string, rest: string): { path: string; tail?: string } {
  const colon = rest.indexOf(':');
  const path = colon < 0 ? rest : rest.slice(0, colon);
  if (path === '') throw bad(input, 'missing path');
  return colon < 0 ? { path } : { path, tail: rest.slice(colon + 1) };
}

function sourceIndex(input: string, tail: string): number | undefined {
  if (!tail.startsWith('@')) return undefined;
  const digits = tail.slice(1);
  if (!/^\d+$/.test(digits) || !Number.isSafeInteger(Number(digits))) throw bad(input, `invalid source index "${tail}": expected @N with N a whole number`);
  return Number(digits);
}
