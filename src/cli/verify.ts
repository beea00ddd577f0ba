import { Command, Option } from './commander.js';
import { usageError } from '../errors.js';
import { addRegistryOptions, remoteOptions, type RegistryFlags } from './registry-flags.js';
import { trustFromFlags, addTrustOptions, type TrustFlags } from './trust-flags.js';

interface VerifyFlags extends RegistryFlags, TrustFlags {
  format: 'legacy' | 'bundle' | 'both';
  match: 'repository' | 'exact' | 'ignore';
  quiet?: boolean;
  json?: boolean;
}

export function verifyCommand(): Command {
  const cmd = new Command('verify')
    .description('verify the signatures of an image in a registry: cosign .sig tags and sigstore bundle referrers')
    .argument('<reference>', 'image reference; a tag is resolved to its digest first')
    .addOption(new Option('--format <format>', 'where to look for signatures').choices(['legacy', 'bundle', 'both']).default('both'))
    .addOption(new Option('--match <rule>', "how a legacy signature's docker-reference must match REF").choices(['repository', 'exact', 'ignore']).default('repository'));
  return addRegistryOptions(addTrustOptions(cmd))
    .option('-q, --quiet', 'print nothing on success')
    .option('--json', 'print what was verified (and what was rejected) as JSON on stdout')
    .addHelpText('after', `
The image is accepted when at least one signature verifies; otherwise the exit code is 5 and the
message names the first reason.

Examples:
  oci-tool verify --key cosign.pub 127.0.0.1:5000/team/app:1.2
  oci-tool verify --certificate-identity dev@example.com --certificate-oidc-issuer https://accounts.google.com \\
    --trusted-root trusted_root.json registry.example.com/app@sha256:…`)
    .action(async (reference: string, flags: VerifyFlags) => {
      const remote = await remoteOptions(flags);
      const trust = await trustFromFlags(flags);
      if (!trust.publicKeys?.length && !trust.identities?.length) throw usageError('give --key PUB, or --certificate-identity[-regexp] with --certificate-oidc-issuer[-regexp]');
      const { verifyImage } = await import('../sign/verify.js');
      const identityPolicy = flags.match === 'exact' ? 'matchExact' : flags.match === 'ignore' ? 'ignore' : 'matchRepository';
      const formats = flags.format === 'both' ? (['legacy', 'bundle'] as const) : [flags.format];
      const result = await verifyImage(reference, { ...remote, ...trust, identityPolicy, formats });
      if (flags.json) {
        process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
      } else if (!flags.quiet) {
        for (const v of result.verified) {
          const by = v.signer.kind === 'key' ? 'a given key' : `${v.signer.identity ?? '?'} (${v.signer.issuer ?? v.signer.kind})`;
          process.stderr.write(`verified ${result.reference}: ${v.format} signature ${v.source}, signed by ${by}\n`);
        }
      }
    });
}
