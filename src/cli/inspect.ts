import { Command } from './commander.js';
import { notFound, oneLine, usageError } from '../errors.js';
import type { InspectedImage, InspectResult } from '../registry/inspect.js';
import { formatBytes } from './progress.js';
import { addRegistryOptions, remoteOptions, type RegistryFlags } from './registry-flags.js';

interface InspectFlags extends RegistryFlags {
  layout?: string;
  platform?: string;
  raw?: boolean;
  config?: boolean;
  json?: boolean;
}

export function inspectCommand(): Command {
  const cmd = new Command('inspect')
    .description('describe an image on a registry (or in a layout) without pulling its layers; every manifest and config is verified')
    .argument('<reference>', 'image reference, e.g. busybox, ghcr.io/org/app:1.2, repo@sha256:…; with --layout: a ref name or digest too')
    .option('--layout <dir>', 'read the image from this OCI image layout instead of a registry (no network)')
    .option('--platform <os/arch[/variant]>', 'pick this platform from an index (default: describe the one this host would get)')
    .option('--raw', 'print the manifest bytes exactly as served (with --platform: the picked manifest)')
    .option('--config', "print the image's config JSON as stored")
    .option('--json', 'print the description as JSON');
  return addRegistryOptions(cmd)
    .addHelpText('after', `
Examples:
  oci-tool inspect busybox
  oci-tool inspect --platform linux/arm64 --raw ghcr.io/org/app:1.2
  oci-tool inspect --config --tls-verify=false 127.0.0.1:5000/team/app:1.2
  oci-tool inspect --layout ./images --json docker.io/library/busybox:latest`)
    .action(async (reference: string, flags: InspectFlags) => {
      if ([flags.raw, flags.config, flags.json].filter(Boolean).length > 1) throw usageError('--raw, --config and --json exclude each other');
      // A layout needs no registry options (and must not read a password from stdin).
      const remote = flags.layout === undefined ? await remoteOptions(flags) : {};
      const { inspectImage } = await import('../registry/inspect.js');
      const result = await inspectImage(reference, { ...remote, layout: flags.layout, platform: flags.platform });
      if (flags.raw) {
        process.stdout.write(result.bytes.manifest);
      } else if (flags.config) {
        if (!result.bytes.config) throw notFound(`no image for ${result.hostPlatform} in ${result.source}; pick one with --platform`);
        process.stdout.write(result.bytes.config);
      } else if (flags.json) {
        const { bytes: _bytes, ...info } = result;
        process.stdout.write(`${JSON.stringify(info, null, 2)}\n`);
      } else {
        process.stdout.write(render(result));
      }
    });
}

const WIDTH = 13;
const row = (label: string, value: string) => `${`${label}:`.padEnd(WIDTH)} ${oneLine(value)}\n`;
const list = (label: string, items: string[]) => (items.length ? `${label}:\n${items.map((i) => `  ${oneLine(i)}\n`).join('')}` : '');

function render(r: InspectResult): string {
  let out = row('Name', r.name) + row('Digest', r.digest) + row('Media type', r.mediaType);
  if (r.manifests) {
    const width = Math.max(0, ...r.manifests.map((m) => (m.platform ?? '-').length));
    out += list('Platforms', r.manifests.map((m) => {
      const note = m.digest === r.hostDigest ? '  (this host)' : m.attestation ? '  (attestation)' : '';
      return `${(m.platform ?? '-').padEnd(width)}  ${m.digest}${note}`;
    }));
    if (!r.hostDigest) out += row('This host', `no image for ${r.hostPlatform}`);
  }
  if (r.image) out += (r.manifests ? `\n${row('Image', r.image.digest)}${row('Media type', r.image.mediaType)}` : '') + renderImage(r.image);
  return out;
}

function renderImage(i: InspectedImage): string {
  let out = '';
  if (i.platform) out += row('Platform', i.platform);
  if (i.created) out += row('Created', i.created);
  out += list('Layers', i.layers.map((l) => `${l.digest}  ${formatBytes(l.size).padStart(8)}  ${l.mediaType}`));
  out += row('Total size', formatBytes(i.totalSize));
  out += list('Labels', Object.entries(i.labels).map(([k, v]) => `${k}=${v}`));
  out += list('Env', i.env);
  if (i.entrypoint) out += row('Entrypoint', JSON.stringify(i.entrypoint));
  if (i.cmd) out += row('Cmd', JSON.stringify(i.cmd));
  if (i.workdir) out += row('Workdir', i.workdir);
  if (i.user) out += row('User', i.user);
  return out;
}
