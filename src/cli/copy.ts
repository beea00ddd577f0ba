import { Command } from './commander.js';
import { usageError } from '../errors.js';
import { DEFAULT_JOBS } from '../registry/defaults.js';
import type { CopyResult } from '../transport/copy.js';
import { createProgress, formatBytes } from './progress.js';
import { parseBool, positiveInt, remoteOptions } from './registry-flags.js';

interface CopyFlags {
  allPlatforms?: boolean;
  platform?: string;
  jobs: string;
  signatures?: boolean;
  srcTlsVerify: string;
  destTlsVerify: string;
  srcAuthfile?: string;
  destAuthfile?: string;
  srcCertDir?: string;
  destCertDir?: string;
  registriesConf?: string;
  retries: string;
  quiet?: boolean;
  json?: boolean;
  verbose?: boolean;
}

export function copyCommand(): Command {
  return new Command('copy')
    .description('copy an image between registries, OCI layouts and archives, keeping its digest')
    .argument('<source>', 'image to copy: docker://REF, oci:DIR[:REF], oci-archive:FILE[:REF], docker-archive:FILE[:REF]')
    .argument('<destination>', 'where to put it, in the same forms')
    .option('--all-platforms', 'copy an index whole, with every platform (skopeo --all)')
    .option('--platform <os/arch[/variant]>', 'copy only this platform of an index (default: this host)')
    .option('-j, --jobs <n>', 'concurrent blob copies', String(DEFAULT_JOBS))
    .option('--signatures', 'also copy cosign signatures (sha256-<hex>.sig tags) and referrers (registry to registry)')
    .option('--src-tls-verify <bool>', 'verify TLS certificates of a source registry; false also allows plain HTTP', 'true')
    .option('--dest-tls-verify <bool>', 'verify TLS certificates of a destination registry; false also allows plain HTTP', 'true')
    .option('--src-authfile <file>', 'credentials file for the source registry (auth.json or docker config.json)')
    .option('--dest-authfile <file>', 'credentials file for the destination registry')
    .option('--src-cert-dir <dir>', 'folder with *.crt, *.cert and *.key for the source registry')
    .option('--dest-cert-dir <dir>', 'folder with *.crt, *.cert and *.key for the destination registry')
    .option('--registries-conf <file>', 'registries config: insecure registries (default: ~/.config/oci-tool/registries.json)')
    .option('--retries <n>', 'tries per request before giving up', '6')
    .option('-q, --quiet', 'no progress output')
    .option('--json', 'print the result as JSON on stdout')
    .option('-v, --verbose', 'report retries')
    .addHelpText('after', `
Without --all-platforms or --platform, an index is narrowed to the image for this host, and the
destination gets that image's manifest alone (as skopeo copy does without --all). Manifests are
copied byte for byte, so the destination's digest is the source's. Blobs the destination already
has are not sent; between two repositories of one registry they are mounted, not uploaded.

Examples:
  oci-tool copy docker://registry.example.com/app:1.2 docker://mirror.example.com/app:1.2
  oci-tool copy --all-platforms docker://docker.io/library/alpine:3.20 oci:./images:alpine
  oci-tool copy --dest-tls-verify=false oci:./images:alpine docker://registry.internal:5000/alpine:3.20
  oci-tool copy --platform linux/arm64 docker://ghcr.io/org/app:1 oci-archive:app-arm64.tar
  oci-tool copy --signatures docker://registry.example.com/app:1.2 docker://registry.example.com/prod/app:1.2`)
    .action(async (source: string, destination: string, flags: CopyFlags) => {
      const jobs = positiveInt(flags.jobs, '--jobs');
      if (flags.platform && flags.allPlatforms) throw usageError('--platform and --all-platforms exclude each other');
      const side = (tlsVerify: string, flag: string, authfile?: string, certDir?: string) => remoteOptions({
        tlsVerify: String(parseBool(tlsVerify, flag)), authfile, certDir, registriesConf: flags.registriesConf, retries: flags.retries,
      });
      const sourceOptions = await side(flags.srcTlsVerify, '--src-tls-verify', flags.srcAuthfile, flags.srcCertDir);
      const destinationOptions = await side(flags.destTlsVerify, '--dest-tls-verify', flags.destAuthfile, flags.destCertDir);
      // Loaded here, not at start-up, so that other commands and --help do not pay for HTTP and TLS.
      const { copy } = await import('../transport/copy.js');
      const progress = createProgress(process.stderr, { quiet: flags.quiet || flags.json, verbose: flags.verbose });
      try {
        const result = await copy(source, destination, {
          allPlatforms: flags.allPlatforms, platform: flags.platform, jobs, signatures: flags.signatures,
          sourceOptions, destinationOptions, onProgress: progress.listener,
        });
        progress.stop();
        report(result, flags);
      } finally {
        progress.stop();
      }
    });
}

/** The one-line summary (or JSON) shared by copy and push. */
export function report(result: CopyResult, flags: { quiet?: boolean; json?: boolean }, verb = 'copied'): void {
  if (flags.json) {
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  } else if (!flags.quiet) {
    const { copied, skipped, mounted } = result.blobs;
    process.stderr.write(`${verb} ${result.source} to ${result.destination} (${result.digest}): ` +
      `${copied} blobs sent, ${skipped} present, ${mounted} mounted, ${formatBytes(result.bytes)}` +
      `${result.attachments !== undefined ? `, ${result.attachments} signatures and referrers` : ''}\n`);
  }
}
