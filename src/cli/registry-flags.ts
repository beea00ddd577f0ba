// The registry options every command that talks to a registry takes, and what they mean.
import type { Command } from './commander.js';
import { usageError } from '../errors.js';
import type { RemoteOptions } from '../registry/open.js';
import { readStdin } from './stdin.js';

export interface RegistryFlags {
  username?: string;
  passwordStdin?: boolean;
  authfile?: string;
  tlsVerify: string;
  insecure?: boolean;
  certDir?: string;
  registriesConf?: string;
  retries: string;
}

export function addRegistryOptions(cmd: Command): Command {
  return cmd
    .option('--username <user>', 'registry user name (password from --password-stdin)')
    .option('--password-stdin', 'read the registry password or token from standard input')
    .option('--authfile <file>', 'credentials file (containers auth.json or docker config.json format)')
    .option('--tls-verify <bool>', 'verify TLS certificates; false also allows plain HTTP', 'true')
    .option('--insecure', 'same as --tls-verify=false')
    .option('--cert-dir <dir>', 'folder with *.crt (CAs), *.cert and *.key (client certificate) for the registry')
    .option('--registries-conf <file>', 'registries config: mirrors, insecure registries (default: ~/.config/oci-tool/registries.json)')
    .option('--retries <n>', 'tries per request before giving up', '6');
}

export function positiveInt(v: string, flag: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw usageError(`${flag} takes a positive whole number, not "${v}"`);
  return n;
}

export function parseBool(v: string, flag: string): boolean {
  if (v === 'true') return true;
  if (v === 'false') return false;
  throw usageError(`${flag} takes true or false, not "${v}"`);
}

/** The library's remote options from the flags; reads the password from stdin when asked to. */
export async function remoteOptions(flags: RegistryFlags): Promise<RemoteOptions> {
  if (flags.passwordStdin && !flags.username) throw usageError('--password-stdin needs --username');
  const attempts = positiveInt(flags.retries, '--retries');
  const tlsVerify = parseBool(flags.tlsVerify, '--tls-verify') && !flags.insecure;
  const { credentialSource, staticCredentials } = await import('../registry/credentials.js');
  const credentials = flags.username
    ? staticCredentials({ username: flags.username, password: flags.passwordStdin ? (await readStdin()).replace(/\r?\n$/, '') : '' })
    : credentialSource({ authFile: flags.authfile });
  return { credentials, tlsVerify, certDir: flags.certDir, registriesConfig: flags.registriesConf, retry: { attempts } };
}
