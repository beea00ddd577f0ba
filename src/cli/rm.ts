import { oneLine } from '../errors.js';
import { Command } from './commander.js';

interface RmFlags {
  layout?: string;
}

export function rmCommand(): Command {
  return new Command('rm')
    .description("remove an image's name from an OCI image layout's index.json (its blobs stay until 'oci-tool gc')")
    .argument('<reference>', 'ref name, short or full reference, or digest (then every entry with it)')
    .option('--layout <dir>', 'OCI image layout (default: $OCI_TOOL_LAYOUT or ~/.local/share/oci-tool/layout)')
    .addHelpText('after', `
Examples:
  oci-tool rm busybox
  oci-tool rm --layout ./images sha256:…
  oci-tool rm --layout ./images 127.0.0.1:5000/team/app:1.2 && oci-tool gc --layout ./images`)
    .action(async (reference: string, flags: RmFlags) => {
      const { removeImage } = await import('../image/gc.js');
      const removed = await removeImage(reference, { layout: flags.layout });
      for (const r of removed) process.stdout.write(`removed ${oneLine(r.refName ?? '<none>')} (${r.digest})\n`);
    });
}
