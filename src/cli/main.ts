import { Command, CommanderError } from './commander.js';
import { describeError, exitCodeOf, ExitCode } from '../errors.js';
import { generateCommand } from './generate.js';
import { keyCommand } from './key.js';
import { pullCommand } from './pull.js';
import { signCommand } from './sign.js';
import { unpackCommand } from './unpack.js';
import { validateCommand } from './validate.js';
import { verifyCommand } from './verify.js';

const exitCodeHelp = `
Exit codes:
  0  success                      4  authentication or authorization failed
  1  other failure                5  verification failed (digest, size, diff_id, signature, policy)
  2  usage or bad input           6  network or registry failure (after retries)
  3  not found (image, platform)  7  unsupported content (e.g. Docker schema 1)
  130 interrupted`;

export function buildProgram(): Command {
  const program = new Command('oci-tool')
    .description('OCI image and bundle toolkit: pull images into OCI layouts, unpack runtime bundles, sign and verify images')
    .version('0.1.0')
    .exitOverride()
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText('after', exitCodeHelp);
  for (const cmd of [pullCommand(), unpackCommand(), generateCommand(), validateCommand(), keyCommand(), signCommand(), verifyCommand()]) {
    program.addCommand(cmd.exitOverride().addHelpText('after', exitCodeHelp));
  }
  return program;
}

export async function main(argv: string[]): Promise<number> {
  // `oci-tool … | head` closes our stdout early: that is the reader's choice, not a failure to report.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(ExitCode.OK);
  });
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
