import { Command } from './commander.js';
import { DEFAULT_JOBS } from '../registry/defaults.js';
import { report } from './copy.js';
import { createProgress } from './progress.js';
import { addRegistryOptions, positiveInt, remoteOptions, type RegistryFlags } from './registry-flags.js';

interface PushFlags extends RegistryFlags {
  layout?: string;
  platform?: string;
  jobs: string;
  quiet?: boolean;
  json?: boolean;
  verbose?: boolean;
}

export function pushCommand(): Command {
  const cmd = new Command('push')
    .description('push an image from an OCI image layout to a registry (short for copy oci:LAYOUT:REF docker://DEST)')
    .argument('<image>', 'image in the layout: ref name, short or full reference (as pull names it), or digest')
    .argument('<destination>', 'registry reference to push to, e.g. registry.example.com/team/app:1.2 (docker:// optional)')
    .option('--layout <dir>', 'OCI image layout to read (default: $OCI_TOOL_LAYOUT or ~/.local/share/oci-tool/layout)')
    .option('--platform <os/arch[/variant]>', 'push only this platform of a stored index (default: everything stored)')
    .option('-j, --jobs <n>', 'concurrent blob uploads', String(DEFAULT_JOBS));
  return addRegistryOptions(cmd)
    .option('-q, --quiet', 'no progress output')
    .option('--json', 'print the result as JSON on stdout')
    .option('-v, --verbose', 'report retries')
    .addHelpText('after', `
The image goes as stored: a single manifest, or a whole index when it was pulled with
--all-platforms. Its manifests are sent byte for byte, so the pushed digest is the stored one.
Blobs the registry already has are not sent again.

Examples:
  oci-tool push busybox 127.0.0.1:5000/tools/busybox:1
  oci-tool push --layout ./images docker.io/library/alpine:3.20 registry.example.com/mirror/alpine:3.20
  echo "$TOKEN" | oci-tool push --username ci --password-stdin app:1.2 registry.example.com/team/app:1.2`)
    .action(async (image: string, destination: string, flags: PushFlags) => {
      const jobs = positiveInt(flags.jobs, '--jobs');
      const remote = await remoteOptions(flags);
      const [{ copyImage }, { openLayoutSource }, { openRegistrySink }, { parseReference }, { defaultLayoutDir }] = await Promise.all([
        import('../transport/copy.js'), import('../transport/layout.js'), import('../transport/registry.js'),
        import('../registry/reference.js'), import('../image/layout.js'),
      ]);
      const ref = parseReference(destination.replace(/^docker:\/\//, ''));
      const progress = createProgress(process.stderr, { quiet: flags.quiet || flags.json, verbose: flags.verbose });
      // The layout directory is taken as given (it may hold ':'), so no transport name is parsed for it.
      const source = await openLayoutSource(flags.layout ?? defaultLayoutDir(), { ref: image });
      try {
        const sink = await openRegistrySink(ref, { ...remote, onProgress: progress.listener });
        try {
          const result = await copyImage(source, sink, {
            ...(flags.platform ? { platform: flags.platform } : { allPlatforms: true }), jobs, onProgress: progress.listener,
          });
          progress.stop();
          report(result, flags, 'pushed');
        } finally {
          await sink.close();
        }
      } finally {
        await source.close();
        progress.stop();
      }
    });
}
