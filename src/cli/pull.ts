import { Command, Option } from './commander.js';
import { usageError } from '../errors.js';
import { DEFAULT_JOBS } from '../registry/defaults.js';
import { createProgress, formatBytes } from './progress.js';
import { addRegistryOptions, positiveInt, remoteOptions, type RegistryFlags } from './registry-flags.js';
import { acceptFromFlags, addPolicyOptions, type PolicyFlags } from './trust-flags.js';

interface PullFlags extends RegistryFlags, PolicyFlags {
  layout?: string;
  platform?: string;
  allPlatforms?: boolean;
  format: 'source' | 'oci';
  jobs: string;
  verifyDiffIds: boolean;
  refName?: string;
  mirror: string[];
  quiet?: boolean;
  json?: boolean;
  verbose?: boolean;
}

export function pullCommand(): Command {
  const cmd = new Command('pull')
    .description('pull an image from a registry into an OCI image layout, verifying every blob')
    .argument('<reference>', 'image reference, e.g. busybox, ghcr.io/org/app:1.2, repo@sha256:…')
    .option('--layout <dir>', 'OCI image layout to store into (default: $OCI_TOOL_LAYOUT or ~/.local/share/oci-tool/layout)')
    .option('--platform <os/arch[/variant]>', 'platform to pick from an index (default: this host)')
    .option('--all-platforms', 'store the whole index with every platform')
    .addOption(new Option('--format <format>', 'keep the source manifests, or convert Docker media types to OCI').choices(['source', 'oci']).default('source'))
    .option('-j, --jobs <n>', 'concurrent blob downloads', String(DEFAULT_JOBS))
    .option('--no-verify-diff-ids', "skip decompressing layers to check the config's diff_ids (digests and sizes are still checked)")
    .option('--ref-name <name>', 'org.opencontainers.image.ref.name to write (default: the full normalized reference)')
    .option('--mirror <location>', 'try this mirror (host[:port][/path]) first; repeatable', (v: string, all: string[]) => [...all, v], [] as string[]);
  return addPolicyOptions(addRegistryOptions(cmd))
    .option('-q, --quiet', 'no progress output')
    .option('--json', 'print the result as JSON on stdout')
    .option('-v, --verbose', 'report retries and resolution')
    .addHelpText('after', `
Examples:
  oci-tool pull busybox
  oci-tool pull --platform linux/arm64 --layout ./images alpine:3.20
  oci-tool pull --all-platforms --format oci 127.0.0.1:5000/team/app:1.2
  oci-tool pull --verify-key cosign.pub registry.example.com/app:1.2
  echo "$TOKEN" | oci-tool pull --username ci --password-stdin registry.example.com/app@sha256:…`)
    .action(async (reference: string, flags: PullFlags) => {
      const jobs = positiveInt(flags.jobs, '--jobs');
      if (flags.platform && flags.allPlatforms) throw usageError('--platform and --all-platforms exclude each other');
      const remote = await remoteOptions(flags);
      // Loaded here, not at start-up, so that other commands and --help do not pay for HTTP and TLS.
      const { pull } = await import('../registry/pull.js');
      const accept = await acceptFromFlags(flags);
      const progress = createProgress(process.stderr, { quiet: flags.quiet || flags.json, verbose: flags.verbose });
      try {
        const result = await pull(reference, {
          layout: flags.layout, platform: flags.platform, allPlatforms: flags.allPlatforms, format: flags.format,
          jobs, verifyDiffIds: flags.verifyDiffIds, refName: flags.refName, ...remote, mirrors: flags.mirror, accept,
          onProgress: progress.listener,
        });
        progress.stop();
        if (flags.json) {
          process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
        } else if (!flags.quiet) {
          process.stderr.write(`pulled ${result.reference} (${result.digest}) into ${result.layout} as ${result.refName}: ` +
            `${result.blobs.fetched} blobs fetched, ${result.blobs.skipped} present, ${formatBytes(result.bytes)}\n`);
        }
      } finally {
        progress.stop();
      }
    });
}

