// Which images a pull may name: a subset of containers-policy.json(5) for the docker transport
// (insecureAcceptAnything, reject, sigstoreSigned with keys), scoped per registry, namespace,
// repository or reference; the most specific scope wins, then the transport default, then default.
import type { KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { OciToolError } from '../errors.js';
import type { ResolvedImage } from '../registry/pull.js';
import type { Reference } from '../registry/reference.js';
import type { RemoteRepository } from '../registry/remote.js';
import { loadPublicKey } from './keys.js';
import { verifyDigest, type TrustOptions, type VerifyResult } from './verify.js';

type IdentityRule = 'matchRepoDigestOrExact' | 'matchRepository' | 'matchExact';

export type Requirement =
  | { type: 'insecureAcceptAnything' }
  | { type: 'reject' }
  | { type: 'sigstoreSigned'; keys: KeyObject[]; signedIdentity: IdentityRule };

export interface Policy {
  default: Requirement[];
  /** Scopes of the docker transport ("" is the transport's default). */
  docker: Map<string, Requirement[]>;
}

const bad = (file: string, why: string) => new OciToolError('OCI_ERR_BAD_CONFIG', `${file}: ${why}`);

export async function loadPolicy(file: string): Promise<Policy> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new OciToolError('OCI_ERR_BAD_CONFIG', `cannot read policy ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  return parsePolicy(text, file);
}

/** Parses policy JSON; key paths are read relative to the policy file's folder. */
export async function parsePolicy(text: string, file: string): Promise<Policy> {
  let doc: { default?: unknown; transports?: Record<string, Record<string, unknown>> };
  try {
    doc = JSON.parse(text) as typeof doc;
  } catch (e) {
    throw bad(file, `not valid JSON (${e instanceof Error ? e.message : String(e)})`);
  }
  if (typeof doc !== 'object' || doc === null || !Array.isArray(doc.default)) throw bad(file, 'needs a "default" list of requirements');
  const docker = new Map<string, Requirement[]>();
  for (const [scope, reqs] of Object.entries(doc.transports?.docker ?? {})) {
    docker.set(scope, await requirements(reqs, file, `transports.docker[${JSON.stringify(scope)}]`));
  }
  return { default: await requirements(doc.default, file, 'default'), docker };
}

async function requirements(list: unknown, file: string, where: string): Promise<Requirement[]> {
  if (!Array.isArray(list) || list.length === 0) throw bad(file, `${where} must be a non-empty list of requirements`);
  const out: Requirement[] = [];
  for (const raw of list as Record<string, unknown>[]) {
    const type = raw?.type;
    if (type === 'insecureAcceptAnything' || type === 'reject') {
      out.push({ type });
    } else if (type === 'sigstoreSigned') {
      out.push(await sigstoreSigned(raw, file, where));
    } else if (type === 'signedBy') {
      throw new OciToolError('OCI_ERR_UNSUPPORTED', `${file}: ${where}: "signedBy" (GPG simple signing) is not supported; use "sigstoreSigned"`);
    } else {
      throw bad(file, `${where}: unknown requirement type ${JSON.stringify(type)}`);
    }
  }
  return out;
}

async function sigstoreSigned(raw: Record<string, unknown>, file: string, where: string): Promise<Requirement> {
  for (const unsupported of ['fulcio', 'pki', 'rekorPublicKeyPath', 'rekorPublicKeyPaths', 'rekorPublicKeyData', 'rekorPublicKeyDatas']) {
    if (raw[unsupported] !== undefined) throw new OciToolError('OCI_ERR_UNSUPPORTED', `${file}: ${where}: sigstoreSigned "${unsupported}" is not supported; use keyPath/keyData here, or 'oci-tool verify' for keyless`);
  }
  const strings = (v: unknown, name: string): string[] => {
    if (v === undefined) return [];
    const list = typeof v === 'string' ? [v] : v;
    if (!Array.isArray(list) || !list.every((x) => typeof x === 'string')) throw bad(file, `${where}: ${name} must be a string or a list of strings`);
    return list as string[];
  };
  const keys: KeyObject[] = [];
  for (const path of [...strings(raw.keyPath, 'keyPath'), ...strings(raw.keyPaths, 'keyPaths')]) {
    const full = resolve(dirname(file), path);
    let pem: string;
    try {
      pem = await readFile(full, 'utf8');
    } catch {
      throw bad(file, `${where}: cannot read key ${full}`);
    }
    keys.push(loadPublicKey(pem, full));
  }
  for (const data of [...strings(raw.keyData, 'keyData'), ...strings(raw.keyDatas, 'keyDatas')]) {
    keys.push(loadPublicKey(Buffer.from(data, 'base64').toString('utf8'), `${file} (${where} keyData)`));
  }
  if (keys.length === 0) throw bad(file, `${where}: sigstoreSigned needs keyPath, keyPaths, keyData or keyDatas`);
  const identity = (raw.signedIdentity as { type?: unknown } | undefined)?.type ?? 'matchRepoDigestOrExact';
  if (identity !== 'matchRepoDigestOrExact' && identity !== 'matchRepository' && identity !== 'matchExact') {
    throw new OciToolError('OCI_ERR_UNSUPPORTED', `${file}: ${where}: signedIdentity ${JSON.stringify(identity)} is not supported (matchRepoDigestOrExact, matchRepository, matchExact are)`);
  }
  return { type: 'sigstoreSigned', keys, signedIdentity: identity };
}

/** The policy --verify-key means: every image must carry a signature by one of these keys. */
export function keyPolicy(keys: KeyObject[]): Policy {
  return { default: [{ type: 'sigstoreSigned', keys, signedIdentity: 'matchRepository' }], docker: new Map() };
}

/** The scopes that could name this reference, most specific first (containers-policy.json(5)). */
export function candidateScopes(ref: Reference): string[] {
  const repo = `${ref.registry}/${ref.repository}`;
  const scopes: string[] = [];
  if (ref.digest) scopes.push(`${repo}@${ref.digest}`);
  if (ref.tag) scopes.push(`${repo}:${ref.tag}`);
  const parts = repo.split('/');
  for (let n = parts.length; n >= 1; n--) scopes.push(parts.slice(0, n).join('/'));
  // Wildcards match subdomains only: *.example.com covers a.example.com and a.b.example.com.
  const host = ref.registry.replace(/:\d+$/, '').split('.');
  for (let i = 1; i < host.length; i++) scopes.push(`*.${host.slice(i).join('.')}`);
  return scopes;
}

export function requirementsFor(policy: Policy, ref: Reference): { scope: string; requirements: Requirement[] } {
  for (const scope of [...candidateScopes(ref), '']) {
    const found = policy.docker.get(scope);
    if (found) return { scope: scope === '' ? 'transports.docker default' : scope, requirements: found };
  }
  return { scope: 'default', requirements: policy.default };
}

/**
 * Throws OCI_ERR_POLICY unless every requirement of the reference's scope accepts the manifest
 * `digest`; returns the signatures that satisfied sigstoreSigned requirements.
 */
export async function enforcePolicy(policy: Policy, repo: RemoteRepository, ref: Reference, digest: string, signal?: AbortSignal): Promise<VerifyResult[]> {
  const { scope, requirements } = requirementsFor(policy, ref);
  const name = `${ref.registry}/${ref.repository}@${digest}`;
  const results: VerifyResult[] = [];
  for (const req of requirements) {
    if (req.type === 'insecureAcceptAnything') continue;
    if (req.type === 'reject') throw new OciToolError('OCI_ERR_POLICY', `${name}: rejected by policy (scope ${scope})`);
    const identityPolicy = req.signedIdentity === 'matchRepoDigestOrExact' ? (ref.digest ? 'matchRepository' : 'matchExact') : req.signedIdentity;
    const trust: TrustOptions = { publicKeys: req.keys, identityPolicy, formats: ['legacy', 'bundle'] };
    try {
      results.push(await verifyDigest(repo, ref, digest, trust, signal));
    } catch (e) {
      if (e instanceof OciToolError && e.code === 'OCI_ERR_SIGNATURE') {
        throw new OciToolError('OCI_ERR_POLICY', `policy (scope ${scope}) requires a signature: ${e.message}`, { cause: e });
      }
      throw e;
    }
  }
  return results;
}

/** A pull `accept` hook that enforces the policy on the resolved image. */
export function policyCheck(policy: Policy): (image: ResolvedImage) => Promise<void> {
  return async ({ reference, descriptor, origin, signal }) => {
    await enforcePolicy(policy, origin, reference, descriptor.digest, signal);
  };
}
