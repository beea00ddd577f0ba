// Where the password of a private key comes from, first found wins: --password-file, then
// $OCI_TOOL_PASSWORD, then $COSIGN_PASSWORD (set but empty is an empty password, as in cosign), then
// the terminal through the caller's prompt. The library never touches the terminal itself.
import { open } from 'node:fs/promises';
import { OciToolError, usageError } from '../errors.js';

export interface PasswordOptions {
  /** --password-file: its first line is the password. */
  passwordFile?: string;
  env?: NodeJS.ProcessEnv;
  /** Asks on the terminal without echo; given by the CLI only when there is a terminal. */
  prompt?: (question: string) => Promise<string>;
  /** Ask twice and insist both answers match (for a new key). */
  confirm?: boolean;
}

// A password file is read up to its first newline; a longer first line is not a password file.
const MAX_PASSWORD_FILE_LINE = 64 * 1024;

export async function readPassword(opts: PasswordOptions = {}): Promise<Buffer> {
  if (opts.passwordFile !== undefined) return firstLine(opts.passwordFile);
  const env = opts.env ?? process.env;
  for (const name of ['OCI_TOOL_PASSWORD', 'COSIGN_PASSWORD']) {
    const value = env[name];
    if (value !== undefined) return Buffer.from(value, 'utf8');
  }
  if (opts.prompt) {
    const first = await opts.prompt('Enter password for private key: ');
    if (opts.confirm) {
      const again = await opts.prompt('Enter password for private key again: ');
      if (again !== first) throw usageError('the two passwords do not match');
    }
    return Buffer.from(first, 'utf8');
  }
  throw usageError('the private key needs a password and there is no terminal to ask for it: ' +
    'give --password-file FILE, or set OCI_TOOL_PASSWORD (or COSIGN_PASSWORD) in the environment');
}

/** Reads only as far as the first newline, so /dev/stdin or a FIFO works and a huge file costs nothing. */
async function firstLine(file: string): Promise<Buffer> {
  let handle;
  try {
    handle = await open(file, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new OciToolError('OCI_ERR_NOT_FOUND', `password file ${file} does not exist`);
    throw usageError(`cannot read password file ${file}: ${code ?? (e as Error).message}`);
  }
  try {
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const { bytesRead, buffer } = await handle.read(Buffer.alloc(4096), 0, 4096, null);
      if (bytesRead === 0) break;
      const chunk = buffer.subarray(0, bytesRead);
      const nl = chunk.indexOf(0x0a);
      chunks.push(nl === -1 ? chunk : chunk.subarray(0, nl));
      total += nl === -1 ? bytesRead : nl;
      if (nl !== -1) break;
      if (total > MAX_PASSWORD_FILE_LINE) throw usageError(`password file ${file}: the first line is longer than 64 KiB`);
    }
    const line = Buffer.concat(chunks);
    return line.length > 0 && line[line.length - 1] === 0x0d ? line.subarray(0, -1) : line;
  } catch (e) {
    if (e instanceof OciToolError) throw e;
    throw usageError(`cannot read password file ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  } finally {
    await handle.close();
  }
}
