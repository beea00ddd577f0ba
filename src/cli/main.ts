import { Command, CommanderError } from 'commander';
import { describeError, exitCodeOf, ExitCode } from '../errors.js';

export function buildProgram(): Command {
  const program = new Command('oci-tool')
    .description('OCI image and bundle toolkit: pull images into OCI layouts, unpack runtime bundles')
    .version('0.1.0')
    .exitOverride()
    .configureOutput({ outputError: (str, write) => write(str) });
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return ExitCode.OK;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? ExitCode.OK : ExitCode.USAGE;
    process.stderr.write(`oci-tool: ${describeError(e)}\n`);
    return exitCodeOf(e);
  }
}
