// Keyless signing through Sigstore's public-good (or a private) instance: an OIDC token buys a
// short-lived Fulcio certificate for an ephemeral key; Rekor (and optionally a TSA) witness it.
import type { Signer, Witness } from '@sigstore/sign';

export interface KeylessOptions {
  /** The OIDC token; default $SIGSTORE_ID_TOKEN, else the CI provider's (GitHub Actions and others). */
  identityToken?: string;
  fulcioURL?: string;
  rekorURL?: string;
  tsaURL?: string;
  env?: NodeJS.ProcessEnv;
}

export async function keylessSigning(opts: KeylessOptions = {}): Promise<{ signer: Signer; witnesses: Witness[] }> {
  const { CIContextProvider, FulcioSigner, RekorWitness, TSAWitness, DEFAULT_FULCIO_URL, DEFAULT_REKOR_URL } = await import('@sigstore/sign');
  const token = opts.identityToken ?? (opts.env ?? process.env).SIGSTORE_ID_TOKEN;
  const identityProvider = token ? { getToken: () => Promise.resolve(token) } : new CIContextProvider('sigstore');
  const signer = new FulcioSigner({ identityProvider, fulcioBaseURL: opts.fulcioURL ?? DEFAULT_FULCIO_URL });
  const witnesses: Witness[] = [new RekorWitness({ rekorBaseURL: opts.rekorURL ?? DEFAULT_REKOR_URL })];
  if (opts.tsaURL) witnesses.push(new TSAWitness({ tsaBaseURL: opts.tsaURL }));
  return { signer, witnesses };
}
