import { Command, Option } from './commander.js';
import { usageError } from '../errors.js';
import { addGenerateOptions } from './generate.js';
import { createProgress } from './progress.js';
import { acceptFromFlags, addPolicyOptions, type PolicyFlags } from './trust-flags.js';

interface UnpackFlags extends PolicyFlags {
  layout?: string;
  platform?: string;
  pull: 'missing' | 'always' | 'never';
  uidMap: string[];
  gidMap: string[];
  force?: boolean;
  maxBytes?: string;
  maxEntries?: string;
  tlsVerify: string;
  authfile?: string;
  quiet?: boolean;
  json?: boolean;
}

const collect = (v: string, all: string[]) => [...all, v];

export function unpackCommand(): Command {
  const cmd = new Command('unpack')
    .description('unpack an image from a layout (pulling it when missing) into a runtime bundle: BUNDLE/rootfs and BUNDLE/config.json')
    .argument('<reference>', 'image in the layout: ref name, short or full reference, or digest')
    .argument('<bundle>', 'bundle directory to create')
    .option('--layout <dir>', 'OCI image layout (default: $OCI_TOOL_LAYOUT or ~/.local/share/oci-tool/layout)')
    .option('--platform <os/arch[/variant]>', 'platform to pick from an index (default: this host)')
    .addOption(new Option('--pull <when>', 'pull the image: when missing from the layout, always, or never').choices(['missing', 'always', 'never']).default('missing'))
    .option('--uid-map <container:host:size>', 'map container uids to host uids when applying ownership (repeatable)', collect, [] as string[])
    .option('--gid-map <container:host:size>', 'map container gids to host gids (repeatable)', collect, [] as string[])
    .option('--force', 'replace the rootfs and config.json of a bundle that is not empty')
    .option('--max-bytes <size>', 'most uncompressed bytes one layer may hold (default 64g)')
    .option('--max-entries <n>', 'most tar entries one layer may hold (default 4000000)')
    .option('--tls-verify <bool>', 'when pulling: verify TLS certificates; false also allows plain HTTP', 'true')
    .option('--authfile <file>', 'when pulling: credentials file')
    .option('-q, --quiet', 'no progress output')
    .option('--json', 'print the result as JSON on stdout');
  addPolicyOptions(cmd);
  // Every generate option edits the converted config; --rootless also makes the apply rootless.
  const readGenerate = addGenerateOptions(cmd, ['--output', '--template']);
  cmd.addHelpText('after', `
Not running as root, layers are applied without ownership or device nodes; --rootless (implied then)
writes a config with a user namespace mapping the calling user. Every 'oci-tool generate' option
applies to the converted config, and a command after -- replaces the image's entrypoint and cmd.

Examples:
  oci-tool unpack busybox ./bb -- sh -c 'echo hello'
  oci-tool unpack --layout ./images 127.0.0.1:5000/app:1.2 ./app --args sleep 10
  oci-tool unpack --platform linux/arm64 --pull never docker.io/library/alpine:3.20 ./alpine
  oci-tool unpack --uid-map 0:100000:65536 --gid-map 0:100000:65536 busybox ./mapped
  oci-tool unpack --verify-key cosign.pub registry.example.com/app:1.2 ./app

With --verify-key or --policy the reference is resolved on the registry every time and its
signatures checked before anything is unpacked (blobs already in the layout are not fetched again).`);
  return cmd.action(async (reference: string, bundle: string, _command: string[], flags: UnpackFlags) => {
    const generate = readGenerate();
    const { bytes } = await import('../generate/values.js');
    const [{ unpack }, { credentialSource }] = await Promise.all([import('../bundle/unpack.js'), import('../registry/credentials.js')]);
    const progress = createProgress(process.stderr, { quiet: flags.quiet || flags.json });
    try {
      const result = await unpack(reference, bundle, {
        layout: flags.layout, platform: flags.platform, pull: flags.pull, force: flags.force,
        rootless: generate.rootless === true,
        uidMap: flags.uidMap.map((m) => idMap(m, '--uid-map')), gidMap: flags.gidMap.map((m) => idMap(m, '--gid-map')),
        maxBytes: flags.maxBytes ? bytes(flags.maxBytes, '--max-bytes') : undefined,
        maxEntries: flags.maxEntries ? count(flags.maxEntries, '--max-entries') : undefined,
        generate,
        pullOptions: { credentials: credentialSource({ authFile: flags.authfile }), tlsVerify: flags.tlsVerify !== 'false', accept: await acceptFromFlags(flags) },
        onProgress: progress.listener,
      });
      progress.stop();
      if (flags.json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
      else if (!flags.quiet) process.stderr.write(`unpacked ${reference} (${result.manifest}) into ${result.bundle}: ${result.layers} layers, ${result.stats.entries} entries\n`);
    } finally {
      progress.stop();
    }
  });
}

function idMap(v: string, flag: string): { container: number; host: number; size: number } {
  const parts = v.split(':');
  const nums = parts.map(Number);
  if (parts.length !== 3 || nums.some((n) => !Number.isInteger(n) || n < 0 || n > 0xffff_ffff) || (nums[2] ?? 0) < 1) {
    throw usageError(`${flag} takes container:host:size with whole numbers, not "${v}"`);
  }
  return { container: nums[0] as number, host: nums[1] as number, size: nums[2] as number };
}

function count(v: string, flag: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw usageError(`${flag} takes a positive whole number, not "${v}"`);
  return n;
}
