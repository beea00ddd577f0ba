// Registry configuration: mirrors and insecure registries, after containers' registries.conf
// but as JSON (see docs/registries.md). A pull tries each mirror of the matching prefix in
// order and then the origin.
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { OciToolError } from '../errors.js';
import type { RepositoryLocation } from './remote.js';

export interface MirrorEntry {
  /** host[:port][/path]: the mirror's repository is this location plus the rest after the prefix. */
  location: string;
  insecure?: boolean;
}

export interface RegistryEntry {
  /** host[:port][/path] matched against "registry/repository" at a path boundary; the longest wins. */
  prefix: string;
  insecure?: boolean;
  mirror?: MirrorEntry[];
}

export interface RegistriesConfig {
  registry: RegistryEntry[];
}

export interface Endpoint extends RepositoryLocation {
  insecure: boolean;
  mirror: boolean;
}

export function defaultRegistriesConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.OCI_TOOL_REGISTRIES_CONF) return env.OCI_TOOL_REGISTRIES_CONF;
  const config = env.XDG_CONFIG_HOME ?? join(env.HOME ?? homedir(), '.config');
  return join(config, 'oci-tool', 'registries.json');
}

/** Loads the config; a missing default file is an empty config, a missing named file an error. */
export async function loadRegistriesConfig(path?: string, env: NodeJS.ProcessEnv = process.env): Promise<RegistriesConfig> {
  const file = path ?? defaultRegistriesConfigPath(env);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' && path === undefined) return { registry: [] };
    throw new OciToolError('OCI_ERR_BAD_CONFIG', `cannot read registries config ${file}: ${(e as Error).message}`);
  }
  return parseRegistriesConfig(text, file);
}

export function parseRegistriesConfig(text: string, file: string): RegistriesConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new OciToolError('OCI_ERR_BAD_CONFIG', `registries config ${file} is not valid JSON`);
  }
  const entries = (raw as { registry?: unknown } | null)?.registry;
  if (!Array.isArray(entries)) throw new OciToolError('OCI_ERR_BAD_CONFIG', `registries config ${file}: "registry" must be an array`);
  const bad = (i: number, what: string) => new OciToolError('OCI_ERR_BAD_CONFIG', `registries config ${file}: registry[${i}] ${what}`);
  return {
    registry: entries.map((e: unknown, i) => {
      const r = (e ?? {}) as Record<string, unknown>;
      if (typeof r.prefix !== 'string' || !r.prefix) throw bad(i, 'needs a "prefix" string');
      const mirrors = r.mirror ?? [];
      if (!Array.isArray(mirrors)) throw bad(i, '"mirror" must be an array');
      return {
        prefix: r.prefix.replace(/\/+$/, ''),
        insecure: r.insecure === true,
        mirror: mirrors.map((m: unknown, j) => {
          const mm = (m ?? {}) as Record<string, unknown>;
          if (typeof mm.location !== 'string' || !mm.location) throw bad(i, `mirror[${j}] needs a "location" string`);
          return { location: mm.location.replace(/\/+$/, ''), insecure: mm.insecure === true };
        }),
      };
    }),
  };
}

/** Where to look for a repository, mirrors first; extra mirrors (from --mirror) come before configured ones. */
export function endpointsFor(origin: RepositoryLocation, config: RegistriesConfig, extraMirrors: string[] = []): Endpoint[] {
  const full = `${origin.registry}/${origin.repository}`;
  const entry = config.registry
    .filter((r) => full === r.prefix || full.startsWith(`${r.prefix}/`))
    .sort((a, b) => b.prefix.length - a.prefix.length)[0];
  const prefix = entry?.prefix ?? origin.registry;
  const rest = full.slice(prefix.length);
  const endpoints: Endpoint[] = [];
  for (const m of [...extraMirrors.map((location) => ({ location: location.replace(/\/+$/, ''), insecure: false })), ...(entry?.mirror ?? [])]) {
    const [registry, ...path] = `${m.location}${rest}`.split('/');
    if (registry && path.length > 0) endpoints.push({ registry, repository: path.join('/'), insecure: Boolean(m.insecure), mirror: true });
  }
  endpoints.push({ ...origin, insecure: Boolean(entry?.insecure), mirror: false });
  return endpoints;
}
