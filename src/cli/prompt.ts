// Asking for a password on the terminal, without echo. Standard input when it is a terminal;
// otherwise /dev/tty when standard error is a terminal (input piped in, user at the keyboard).
// With no terminal at all there is no prompt, and the caller explains the other ways.
import { openSync } from 'node:fs';
import { ReadStream } from 'node:tty';
import { StringDecoder } from 'node:string_decoder';
import { OciToolError } from '../errors.js';

export type Prompt = (question: string) => Promise<string>;

export function terminalPrompt(): Prompt | undefined {
  if (process.stdin.isTTY) return (question) => ask(process.stdin as ReadStream, question);
  if (!process.stderr.isTTY) return undefined;
  return async (question) => {
    let fd: number;
    try {
      fd = openSync('/dev/tty', 'r');
    } catch {
      throw new OciToolError('OCI_ERR_USAGE', 'cannot open /dev/tty to ask for the password: give --password-file FILE or set OCI_TOOL_PASSWORD');
    }
    const input = new ReadStream(fd);
    try {
      return await ask(input, question);
    } finally {
      input.destroy();
    }
  };
}

function ask(input: ReadStream, question: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const decoder = new StringDecoder('utf8');
    const wasRaw = input.isRaw;
    let answer = '';
    const done = (err?: Error) => {
      input.off('data', onData);
      input.setRawMode(wasRaw);
      input.pause();
      process.stderr.write('\n');
      if (err) reject(err);
      else resolve(answer);
    };
    // Raw mode: the terminal neither echoes nor edits, so the few editing keys are handled here.
    const onData = (data: Buffer) => {
      for (const ch of decoder.write(data)) {
        if (ch === '\r' || ch === '\n') return done();
        if (ch === '\u0003') return done(new OciToolError('OCI_ERR_ABORTED', 'interrupted'));
        if (ch === '\u0004') {
          if (answer === '') return done(new OciToolError('OCI_ERR_USAGE', 'no password given'));
        } else if (ch === '\u007f' || ch === '\b') {
          answer = Array.from(answer).slice(0, -1).join('');
        } else if (ch === '\u0015') {
          answer = '';
        } else if (ch >= ' ') {
          answer += ch;
        }
      }
    };
    process.stderr.write(question);
    input.setRawMode(true);
    input.on('data', onData);
    input.resume();
  });
}
