// Verification options shared by verify, pull and unpack: public keys, keyless identities and the
// trusted root they chain to.
import type { KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Command } from './commander.js';
import { notFound, OciToolError, usageError } from '../errors.js';
import type { IdentityMatcher } from '../sign/identity.js';
import type { TrustOptions } from '../sign/verify.js';

export interface TrustFlags {
  key: string[];
  certificateIdentity?: string;
  certificateIdentityRegexp?: string;
  certificateOidcIssuer?: string;
  certificateOidcIssuerRegexp?: string;
  trustedRoot?: string;
}

const collect = (v: string, all: string[]) => [...all, v];

export function addTrustOptions(cmd: Command): Command {
  return cmd
    .option('--key <file>', 'public key (PEM) that must have signed; repeatable, any one is enough', collect, [] as string[])
    .option('--certificate-identity <id>', 'keyless: the signer identity (e-mail or URI) the certificate must name')
    .option('--certificate-identity-regexp <re>', 'keyless: a regular expression the identity must match')
    .option('--certificate-oidc-issuer <url>', 'keyless: the OIDC issuer the certificate must name')
    .option('--certificate-oidc-issuer-regexp <re>', 'keyless: a regular expression the issuer must match')
    .option('--trusted-root <file>', 'keyless: sigstore trusted root JSON (default: fetched from Sigstore\'s TUF repository)');
}

/** A file named on the command line: missing is exit 3, unreadable exit 2, each naming the file. */
export async function readText(file: string, what: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw notFound(`${what} ${file} does not exist`);
    throw new OciToolError('OCI_ERR_USAGE', `cannot read ${what} ${file}: ${code ?? (e as Error).message}`);
  }
}

async function publicKeys(files: string[]): Promise<KeyObject[]> {
  const { loadPublicKey } = await import('../sign/keys.js');
  const keys: KeyObject[] = [];
  for (const file of files) keys.push(loadPublicKey(await readText(file, 'public key'), file));
  return keys;
}

function regexp(source: string | undefined, flag: string): RegExp | undefined {
  if (source === undefined) return undefined;
  try {
    return new RegExp(source);
  } catch {
    throw usageError(`${flag}: not a valid regular expression: ${source}`);
  }
}

export async function trustFromFlags(flags: TrustFlags): Promise<TrustOptions> {
  const keys = await publicKeys(flags.key);
  const identity: IdentityMatcher = {
    subject: flags.certificateIdentity, subjectRegExp: regexp(flags.certificateIdentityRegexp, '--certificate-identity-regexp'),
    issuer: flags.certificateOidcIssuer, issuerRegExp: regexp(flags.certificateOidcIssuerRegexp, '--certificate-oidc-issuer-regexp'),
  };
  const hasSubject = identity.subject !== undefined || identity.subjectRegExp !== undefined;
  const hasIssuer = identity.issuer !== undefined || identity.issuerRegExp !== undefined;
  if (hasSubject !== hasIssuer) throw usageError('keyless verification needs both a certificate identity and an OIDC issuer');
  if (!hasSubject) return { publicKeys: keys };
  let trustedRoot: unknown;
  if (flags.trustedRoot) {
    try {
      trustedRoot = JSON.parse(await readText(flags.trustedRoot, 'trusted root'));
    } catch (e) {
      if (e instanceof OciToolError) throw e;
      throw new OciToolError('OCI_ERR_BAD_KEY', `trusted root ${flags.trustedRoot} is not JSON`);
    }
  } else {
    const { fetchTrustedRoot } = await import('../sign/trusted-root.js');
    trustedRoot = await fetchTrustedRoot();
  }
  return { publicKeys: keys, identities: [identity], trustedRoot };
}

export interface PolicyFlags {
  verifyKey: string[];
  policy?: string;
}

export function addPolicyOptions(cmd: Command): Command {
  return cmd
    .option('--verify-key <file>', 'refuse the image unless it carries a signature by this public key (repeatable: any one)', collect, [] as string[])
    .option('--policy <file>', 'signature policy (containers policy.json subset: insecureAcceptAnything, reject, sigstoreSigned)');
}

/** The pull `accept` hook the flags ask for, or undefined when they ask for none. */
export async function acceptFromFlags(flags: PolicyFlags): Promise<import('../registry/pull.js').PullOptions['accept']> {
  if (flags.verifyKey.length === 0 && !flags.policy) return undefined;
  const { keyPolicy, loadPolicy, policyCheck } = await import('../sign/policy.js');
  const checks: ((image: import('../registry/pull.js').ResolvedImage) => Promise<void>)[] = [];
  if (flags.verifyKey.length) {
    checks.push(policyCheck(keyPolicy(await publicKeys(flags.verifyKey))));
  }
  if (flags.policy) checks.push(policyCheck(await loadPolicy(flags.policy)));
  return async (image) => {
    for (const check of checks) await check(image);
  };
}
