// Only the CLI asks on the terminal (prompt.ts); the key file format lives in sign/keys.ts.
import type { KeyObject } from 'node:crypto';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { Command } from './commander.js';
import { readText } from './trust-flags.js';
import { usageError } from '../errors.js';

const passwordHelp = `
The password comes from, first found: --password-file FILE (its first line), $OCI_TOOL_PASSWORD,
$COSIGN_PASSWORD (set but empty means an empty password), else it is asked for on the terminal.`;

interface GenerateFlags {
  outputKeyPrefix: string;
  passwordFile?: string;
  force?: boolean;
}

interface PublicKeyFlags {
  key: string;
  passwordFile?: string;
}

export function keyCommand(): Command {
  const key = new Command('key')
    .description('create and inspect signing keys in the format cosign and skopeo use')
    .exitOverride();

  key.command('generate')
    .description('generate an ECDSA P-256 key pair, as cosign generate-key-pair does')
    .option('--output-key-prefix <prefix>', 'write PREFIX.key (private, encrypted, mode 0600) and PREFIX.pub (public)', 'cosign')
    .option('--password-file <file>', 'read the password for the private key from the first line of this file')
    .option('--force', 'overwrite PREFIX.key and PREFIX.pub if they exist')
    .addHelpText('after', `${passwordHelp}
When asked on the terminal, the password is asked twice.

The private key is PEM "ENCRYPTED SIGSTORE PRIVATE KEY" (scrypt + NaCl secretbox over PKCS#8), as
cosign 2 and skopeo generate-sigstore-key write it; the public key is PEM "PUBLIC KEY".

Examples:
  oci-tool key generate
  COSIGN_PASSWORD=… oci-tool key generate --output-key-prefix ci/release`)
    .action(async (flags: GenerateFlags) => {
      const keyFile = `${flags.outputKeyPrefix}.key`;
      const pubFile = `${flags.outputKeyPrefix}.pub`;
      // Checked before asking for a password that would then be thrown away.
      if (!flags.force) {
        for (const file of [keyFile, pubFile]) {
          if (existsSync(file)) throw usageError(`${file} already exists (use --force to overwrite it)`);
        }
      }
      const [{ readPassword }, { generateKeyPair }, { terminalPrompt }] =
        await Promise.all([import('../sign/password.js'), import('../sign/keys.js'), import('./prompt.js')]);
      const password = await readPassword({ passwordFile: flags.passwordFile, prompt: terminalPrompt(), confirm: true });
      const pair = generateKeyPair(password);
      password.fill(0);
      writeNew(keyFile, pair.privateKeyPem, 0o600, flags.force === true);
      try {
        writeNew(pubFile, pair.publicKeyPem, 0o644, flags.force === true);
      } catch (e) {
        rmSync(keyFile, { force: true });
        throw e;
      }
      process.stderr.write(`private key written to ${keyFile}\npublic key written to ${pubFile}\n`);
    });

  key.command('public-key')
    .description('print the PEM public key of a private key, as cosign public-key does')
    .requiredOption('--key <file>', 'private key file (cosign/skopeo encrypted, or an unencrypted PEM private key)')
    .option('--password-file <file>', 'read the password for the private key from the first line of this file')
    .addHelpText('after', `${passwordHelp}
No password is needed for an unencrypted private key.

Examples:
  oci-tool key public-key --key cosign.key > cosign.pub`)
    .action(async (flags: PublicKeyFlags) => {
      const [privateKey, { publicKeyPem }] = await Promise.all([readPrivateKey(flags.key, flags.passwordFile), import('../sign/keys.js')]);
      process.stdout.write(publicKeyPem(privateKey));
    });

  return key;
}

/**
 * A private key file for signing (cosign/skopeo encrypted, or unencrypted PEM), asking for the
 * password (--password-file, environment, terminal) only when the key is encrypted.
 */
export async function readPrivateKey(file: string, passwordFile?: string): Promise<KeyObject> {
  const [{ readPassword }, { decryptPrivateKey, privateKeyNeedsPassword }, { terminalPrompt }] =
    await Promise.all([import('../sign/password.js'), import('../sign/keys.js'), import('./prompt.js')]);
  const pem = await readText(file, 'key file');
  const password = privateKeyNeedsPassword(pem) ? await readPassword({ passwordFile, prompt: terminalPrompt() }) : Buffer.alloc(0);
  try {
    return decryptPrivateKey(pem, password, file);
  } finally {
    password.fill(0);
  }
}

/** Creates the file with this mode; with force, an existing file is replaced (and so gets the mode). */
function writeNew(file: string, text: string, mode: number, force: boolean): void {
  try {
    if (force) rmSync(file, { force: true });
    writeFileSync(file, text, { mode, flag: 'wx' });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw usageError(`${file} already exists (use --force to overwrite it)`);
    throw usageError(`cannot write ${file}: ${code ?? (e as Error).message}`);
  }
}
