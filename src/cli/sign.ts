import { Command, Option } from './commander.js';
import { usageError } from '../errors.js';
import { readPrivateKey } from './key.js';
import { addRegistryOptions, remoteOptions, type RegistryFlags } from './registry-flags.js';

interface SignFlags extends RegistryFlags {
  key?: string;
  passwordFile?: string;
  format: 'legacy' | 'bundle' | 'both';
  annotation: string[];
  keyless?: boolean;
  identityToken?: string;
  fulcioUrl?: string;
  rekorUrl?: string;
  tsaUrl?: string;
  quiet?: boolean;
  json?: boolean;
}

export function signCommand(): Command {
  const cmd = new Command('sign')
    .description('sign an image in a registry by its manifest digest and push the signature beside it (cosign-compatible)')
    .argument('<reference>', 'image reference; a tag is resolved to its digest, which is what gets signed')
    .option('--key <file>', 'private key (cosign/skopeo encrypted PEM, or an unencrypted PEM private key)')
    .option('--password-file <file>', 'read the key password from the first line of this file')
    .addOption(new Option('--format <format>', 'legacy: cosign .sig tag (skopeo reads it); bundle: sigstore bundle referrer (cosign v3); both')
      .choices(['legacy', 'bundle', 'both']).default('both'))
    .option('-a, --annotation <key=value>', 'extra claim in the legacy payload\'s "optional" member (repeatable)', (v: string, all: string[]) => [...all, v], [] as string[])
    .option('--keyless', 'sign with a short-lived Fulcio certificate, logged in Rekor (needs the network and an OIDC token)')
    .option('--identity-token <token>', 'keyless: the OIDC token (default: $SIGSTORE_ID_TOKEN, else the CI provider\'s)')
    .option('--fulcio-url <url>', 'keyless: Fulcio instance', 'https://fulcio.sigstore.dev')
    .option('--rekor-url <url>', 'keyless: Rekor instance', 'https://rekor.sigstore.dev')
    .option('--tsa-url <url>', 'keyless: also get an RFC 3161 timestamp from this authority');
  return addRegistryOptions(cmd)
    .option('-q, --quiet', 'print nothing on success')
    .option('--json', 'print the result as JSON on stdout')
    .addHelpText('after', `
The key password comes from --password-file, $OCI_TOOL_PASSWORD, $COSIGN_PASSWORD, or a prompt on a terminal.

Examples:
  oci-tool sign --key cosign.key 127.0.0.1:5000/team/app:1.2
  COSIGN_PASSWORD=… oci-tool sign --key cosign.key --format legacy registry.example.com/app@sha256:…
  oci-tool sign --keyless registry.example.com/app:1.2        # in CI with an OIDC token`)
    .action(async (reference: string, flags: SignFlags) => {
      if (Boolean(flags.key) === Boolean(flags.keyless)) throw usageError('give either --key FILE or --keyless');
      const annotations = Object.fromEntries(flags.annotation.map((a) => {
        const eq = a.indexOf('=');
        if (eq <= 0) throw usageError(`--annotation takes key=value, not "${a}"`);
        return [a.slice(0, eq), a.slice(eq + 1)];
      }));
      const remote = await remoteOptions(flags);
      const { signImage } = await import('../sign/sign.js');
      let identity: { key?: import('node:crypto').KeyObject; signer?: import('@sigstore/sign').Signer; witnesses?: import('@sigstore/sign').Witness[] };
      if (flags.key) {
        identity = { key: await readPrivateKey(flags.key, flags.passwordFile) };
      } else {
        const { keylessSigning } = await import('../sign/keyless.js');
        identity = await keylessSigning({ identityToken: flags.identityToken, fulcioURL: flags.fulcioUrl, rekorURL: flags.rekorUrl, tsaURL: flags.tsaUrl });
      }
      const result = await signImage(reference, { ...remote, ...identity, format: flags.format, annotations: flags.annotation.length ? annotations : undefined });
      if (flags.json) {
        process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
      } else if (!flags.quiet) {
        for (const s of result.signatures) {
          process.stderr.write(`signed ${result.reference}: ${s.format} signature at ${s.location}${s.referrers ? ` (referrers via ${s.referrers === 'api' ? 'the referrers API' : 'the tag schema'})` : ''}\n`);
        }
      }
    });
}
