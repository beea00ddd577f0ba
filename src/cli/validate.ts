import { Command } from './commander.js';
import { OciToolError, oneLine } from '../errors.js';
import type { ValidationReport } from '../bundle/validate-report.js';

interface ValidateFlags {
  layout?: string;
  json?: boolean;
}

export function validateCommand(): Command {
  return new Command('validate')
    .description('check a runtime bundle (config.json and its rootfs) or an OCI image layout, offline')
    .usage('[options] [BUNDLE]  |  --layout DIR [REF]')
    .argument('[bundle-or-ref]', 'bundle directory (default: .); with --layout, the image to check: a ref name or digest (default: all)')
    .option('--layout <dir>', 'check this OCI image layout: oci-layout, index.json and every blob reachable from it')
    .option('--json', 'print the report as JSON on stdout')
    .addHelpText('after', `
Problems are printed one per line: <target>: <pointer>: <message> [<rule>].
Any problem exits 5; nothing is fetched from the network.

Examples:
  oci-tool validate                          # the bundle in this directory
  oci-tool validate ./mybundle --json
  oci-tool validate --layout ./images        # every image in the layout
  oci-tool validate --layout ./images docker.io/library/busybox:latest`)
    .action(async (arg: string | undefined, flags: ValidateFlags) => {
      // Loaded here so that other commands and --help do not pay for the validators.
      const report = flags.layout !== undefined
        ? await (await import('../image/validate.js')).validateLayout(flags.layout, arg)
        : await (await import('../bundle/validate.js')).validateBundle(arg ?? '.');
      print(report, flags.json === true);
      if (!report.ok) {
        const n = report.problems.length;
        throw new OciToolError('OCI_ERR_INVALID_CONTENT', `${n} problem${n === 1 ? '' : 's'} in ${report.target}`);
      }
    });
}

function print(report: ValidationReport, json: boolean): void {
  if (json) {
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    return;
  }
  for (const p of report.problems) {
    const where = p.pointer === '' ? '' : `${oneLine(p.pointer)}: `;
    process.stderr.write(`${oneLine(report.target)}: ${where}${oneLine(p.message)} [${p.rule}]\n`);
  }
  if (report.ok) process.stderr.write(`ok: ${oneLine(report.target)}\n`);
}
