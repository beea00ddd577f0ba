import { Command } from './commander.js';
import { formatBytes } from './progress.js';

interface GcFlags {
  layout?: string;
  dryRun?: boolean;
  json?: boolean;
}

export function gcCommand(): Command {
  return new Command('gc')
    .description('delete the blobs of an OCI image layout that index.json does not reach, and partial downloads of processes that are gone')
    .option('--layout <dir>', 'OCI image layout (default: $OCI_TOOL_LAYOUT or ~/.local/share/oci-tool/layout)')
    .option('--dry-run', 'print what would be removed, remove nothing')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', `
Reachable: what index.json names, the manifests of an index, a manifest's config and layers, and
stored referrers (signatures, SBOMs) whose subject is reachable. Safe while pulls write into the
layout: blobs a running pull wrote, or found present and is about to name, are kept.

Examples:
  oci-tool gc --dry-run
  oci-tool rm --layout ./images busybox && oci-tool gc --layout ./images`)
    .action(async (flags: GcFlags) => {
      const { collectGarbage } = await import('../image/gc.js');
      const r = await collectGarbage({ layout: flags.layout, dryRun: flags.dryRun });
      if (flags.json) {
        process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
        return;
      }
      const verb = r.dryRun ? 'would remove' : 'removed';
      let out = '';
      for (const b of r.blobs) out += `${verb} blob ${b.digest} (${formatBytes(b.size)})\n`;
      for (const p of r.partials) out += `${verb} partial download ${p.path} (${formatBytes(p.size)})\n`;
      for (const l of r.staleLeases) out += `${verb} stale lease ${l}\n`;
      if (r.kept.length) {
        const bytes = r.kept.reduce((n, k) => n + k.size, 0);
        out += `kept ${r.kept.length} unreferenced blob${r.kept.length === 1 ? '' : 's'} (${formatBytes(bytes)}) for ${r.liveLeases} running writer${r.liveLeases === 1 ? '' : 's'}\n`;
      }
      out += `${r.dryRun ? 'would free' : 'freed'} ${formatBytes(r.bytesFreed)} (${r.blobs.length} blob${r.blobs.length === 1 ? '' : 's'}, ${r.partials.length} partial file${r.partials.length === 1 ? '' : 's'})\n`;
      process.stdout.write(out);
    });
}
