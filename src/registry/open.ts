// One repository of a registry, opened with the options every registry verb shares: credentials,
// TLS trust, insecure registries from registries.json, retries.
import type { ProgressListener } from '../events.js';
import { Connections } from './connections.js';
import type { CredentialSource } from './credentials.js';
import { endpointsFor, loadRegistriesConfig } from './mirrors.js';
import { apiHost, type Reference } from './reference.js';
import { RemoteRepository } from './remote.js';
import type { RetryPolicy } from './retry.js';

export interface RemoteOptions {
  credentials?: CredentialSource;
  /** false: the registry may use plain HTTP and unverified TLS. */
  tlsVerify?: boolean;
  certDir?: string;
  /** registries.json path; only its insecure flags matter here. */
  registriesConfig?: string;
  retry?: Partial<RetryPolicy>;
  onProgress?: ProgressListener;
  env?: NodeJS.ProcessEnv;
}

export interface OpenedRepository {
  repository: RemoteRepository;
  /** Closes the connections; call when done. */
  close(): Promise<void>;
}

/** Opens the reference's own repository (never a mirror: writes and signatures belong to the origin). */
export async function openRepository(ref: Reference, opts: RemoteOptions = {}, access: { push?: boolean } = {}): Promise<OpenedRepository> {
  const env = opts.env ?? process.env;
  const location = { registry: ref.registry, repository: ref.repository };
  const config = await loadRegistriesConfig(opts.registriesConfig, env);
  const origin = endpointsFor(location, config).at(-1);
  const insecure = opts.tlsVerify === false || origin?.insecure === true ? [ref.registry, apiHost(ref.registry)] : [];
  const connections = new Connections({ insecureHosts: insecure, certDir: opts.certDir, env });
  const repository = new RemoteRepository(location, {
    connections, credentials: opts.credentials, retry: opts.retry, onProgress: opts.onProgress, push: access.push,
  });
  return { repository, close: () => connections.close() };
}
