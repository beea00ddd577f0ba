import { oneLine } from '../errors.js';
import { Command } from './commander.js';
import { formatBytes } from './progress.js';

interface LsFlags {
  layout?: string;
  json?: boolean;
}

export function lsCommand(): Command {
  return new Command('ls')
    .description('list the images in an OCI image layout: ref name, digest, media type, platform(s), size')
    .option('--layout <dir>', 'OCI image layout (default: $OCI_TOOL_LAYOUT or ~/.local/share/oci-tool/layout)')
    .option('--json', 'print the list as JSON')
    .addHelpText('after', `
SIZE counts the manifests, configs and layers of the image that the layout holds.

Examples:
  oci-tool ls
  oci-tool ls --layout ./images --json`)
    .action(async (flags: LsFlags) => {
      const { listImages } = await import('../image/gc.js');
      const images = await listImages({ layout: flags.layout });
      if (flags.json) {
        process.stdout.write(`${JSON.stringify(images, null, 2)}\n`);
        return;
      }
      const rows = [['REF NAME', 'DIGEST', 'MEDIA TYPE', 'PLATFORM', 'SIZE'], ...images.map((i) => [
        oneLine(i.refName ?? '<none>'), shortDigest(i.digest), oneLine(i.mediaType),
        oneLine(i.platform ?? i.platforms?.join(',') ?? '-'), formatBytes(i.size),
      ])];
      const widths = rows[0]?.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length))) ?? [];
      process.stdout.write(rows.map((r) => `${r.map((v, c) => (c === r.length - 1 ? v : v.padEnd(widths[c] ?? 0))).join('  ')}\n`).join(''));
    });
}

/** algorithm:first-12-hex, as docker shows image IDs. */
const shortDigest = (d: string) => d.slice(0, d.indexOf(':') + 13);
