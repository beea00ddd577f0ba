import { Command, CommanderError } from './commander.js';
import { describeError, exitCodeOf, ExitCode } from '../errors.js';
import { copyCommand } from './copy.js';
import { generateCommand } from './generate.js';
import { gcCommand } from './gc.js';
import { inspectCommand } from './inspect.js';
import { lsCommand } from './ls.js';
import { keyCommand } from './key.js';
import { pullCommand } from './pull.js';
import { pushCommand } from './push.js';
import { rmCommand } from './rm.js';
import { serveCommand } from './serve.js';
import { signCommand } from './sign.js';
import { tagsCommand } from './tags.js';
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
    .description('OCI image and bundle toolkit: pull, copy and serve images, unpack runtime bundles, sign and verify')
    .version('0.1.0')
    .exitOverride()
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText('after', exitCodeHelp);
  for (const cmd of [pullCommand(), pushCommand(), copyCommand(), inspectCommand(), tagsCommand(), lsCommand(), rmCommand(), gcCommand(), unpackCommand(), generateCommand(), validateCommand(), keyCommand(), signCommand(), verifyCommand(), serveCommand()]) {
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
