// Needs the built CLI: `npm run build` first.
import { execFile, execFileSync } from 'node:child_process';
import { createPublicKey, sign, verify } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decryptPrivateKey } from '../../src/sign/keys.js';
import { CLI, run, runCli } from '../support/cli.js';

let work: string;
const PASSWORD = 'cli test password';

// Never let the caller's own password variables leak into a run.
function env(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const { OCI_TOOL_PASSWORD: _a, COSIGN_PASSWORD: _b, ...rest } = process.env;
  return { ...rest, ...extra };
}

const mode = async (file: string) => (await stat(file)).mode & 0o777;

beforeAll(async () => { work = await mkdtemp(join(tmpdir(), 'oci-tool-cli-key-')); });
afterAll(async () => { await rm(work, { recursive: true, force: true }); });

describe('oci-tool key generate', () => {
  it('writes PREFIX.key (0600) and PREFIX.pub, refuses to overwrite them without --force', async () => {
    const prefix = join(work, 'signer');
    const res = await runCli(['key', 'generate', '--output-key-prefix', prefix], { env: env({ COSIGN_PASSWORD: PASSWORD }) });
    expect(res).toEqual({ code: 0, stdout: '', stderr: `private key written to ${prefix}.key\npublic key written to ${prefix}.pub\n` });
    expect(await mode(`${prefix}.key`)).toBe(0o600);
    // 0644 as cosign writes it, less whatever the umask takes away.
    expect(await mode(`${prefix}.pub`)).toBe(0o644 & ~process.umask());

    const keyPem = await readFile(`${prefix}.key`, 'utf8');
    const pubPem = await readFile(`${prefix}.pub`, 'utf8');
    expect(keyPem).toMatch(/^-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n/);
    expect(pubPem).toMatch(/^-----BEGIN PUBLIC KEY-----\n/);
    const data = Buffer.from('payload');
    expect(verify('sha256', data, createPublicKey(pubPem), sign('sha256', data, decryptPrivateKey(keyPem, PASSWORD)))).toBe(true);

    const again = await runCli(['key', 'generate', '--output-key-prefix', prefix], { env: env({ COSIGN_PASSWORD: PASSWORD }) });
    expect(again).toEqual({ code: 2, stdout: '', stderr: `oci-tool: ${prefix}.key already exists (use --force to overwrite it)\n` });
    expect(await readFile(`${prefix}.key`, 'utf8')).toBe(keyPem);

    const forced = await runCli(['key', 'generate', '--output-key-prefix', prefix, '--force'], { env: env({ COSIGN_PASSWORD: PASSWORD }) });
    expect(forced.code).toBe(0);
    expect(await readFile(`${prefix}.pub`, 'utf8')).not.toBe(pubPem);
    expect(await mode(`${prefix}.key`)).toBe(0o600);
  });

  it('names an existing .pub too, and writes cosign.key / cosign.pub by default', async () => {
    const dir = await mkdtemp(join(work, 'default-'));
    await writeFile(join(dir, 'cosign.pub'), 'someone else\'s key');
    const refused = await runIn(dir, ['key', 'generate'], { COSIGN_PASSWORD: PASSWORD });
    expect(refused).toEqual({ code: 2, stdout: '', stderr: 'oci-tool: cosign.pub already exists (use --force to overwrite it)\n' });
    await expect(stat(join(dir, 'cosign.key'))).rejects.toMatchObject({ code: 'ENOENT' });
    await rm(join(dir, 'cosign.pub'));
    const res = await runIn(dir, ['key', 'generate'], { COSIGN_PASSWORD: PASSWORD });
    expect(res).toEqual({ code: 0, stdout: '', stderr: 'private key written to cosign.key\npublic key written to cosign.pub\n' });
    expect(await mode(join(dir, 'cosign.key'))).toBe(0o600);
  });

  it('takes the password from --password-file before the environment', async () => {
    const prefix = join(work, 'from-file');
    const file = join(work, 'password.txt');
    await writeFile(file, 'file password\n');
    const res = await runCli(['key', 'generate', '--output-key-prefix', prefix, '--password-file', file], { env: env({ COSIGN_PASSWORD: 'env password' }) });
    expect(res.code).toBe(0);
    const keyPem = await readFile(`${prefix}.key`, 'utf8');
    expect(() => decryptPrivateKey(keyPem, 'file password')).not.toThrow();
    expect(() => decryptPrivateKey(keyPem, 'env password')).toThrow(/wrong password/);
  });

  it('without a password or a terminal, exits 2 explaining the ways to give one', async () => {
    const prefix = join(work, 'nopass');
    const res = await runCli(['key', 'generate', '--output-key-prefix', prefix], { env: env() });
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/^oci-tool: .*--password-file FILE.*OCI_TOOL_PASSWORD.*COSIGN_PASSWORD.*\n$/);
    await expect(stat(`${prefix}.key`)).rejects.toMatchObject({ code: 'ENOENT' });
  });
});

describe('oci-tool key public-key', () => {
  let prefix: string;
  beforeAll(async () => {
    prefix = join(work, 'pk');
    expect((await runCli(['key', 'generate', '--output-key-prefix', prefix], { env: env({ OCI_TOOL_PASSWORD: PASSWORD }) })).code).toBe(0);
  });

  it('prints the same PEM as the .pub', async () => {
    const res = await runCli(['key', 'public-key', '--key', `${prefix}.key`], { env: env({ COSIGN_PASSWORD: PASSWORD }) });
    expect(res).toEqual({ code: 0, stdout: await readFile(`${prefix}.pub`, 'utf8'), stderr: '' });
  });

  it('exits 4 with one line on a wrong password, without the password', async () => {
    const res = await runCli(['key', 'public-key', '--key', `${prefix}.key`], { env: env({ COSIGN_PASSWORD: 'not-the-password' }) });
    expect(res).toEqual({ code: 4, stdout: '', stderr: `oci-tool: ${prefix}.key: wrong password for the encrypted private key (or the file is damaged)\n` });
  });

  it('needs no password for an unencrypted key, and names a missing or bad key file', async () => {
    const plain = join(work, 'plain.pem');
    const { generateKeyPairSync } = await import('node:crypto');
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    await writeFile(plain, privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const res = await runCli(['key', 'public-key', '--key', plain], { env: env() });
    expect(res).toEqual({ code: 0, stdout: publicKey.export({ type: 'spki', format: 'pem' }), stderr: '' });

    const missing = await runCli(['key', 'public-key', '--key', join(work, 'nope.key')], { env: env() });
    expect(missing).toEqual({ code: 3, stdout: '', stderr: `oci-tool: key file ${join(work, 'nope.key')} does not exist\n` });
    const notKey = join(work, 'not-a-key');
    await writeFile(notKey, 'hello');
    expect(await runCli(['key', 'public-key', '--key', notKey], { env: env() })).toEqual({ code: 2, stdout: '', stderr: `oci-tool: ${notKey}: not a PEM private key\n` });
    expect((await runCli(['key', 'public-key'], { env: env() })).code).toBe(2);
  });
});

// A pseudo-terminal from python3's pty module: the CLI sees a terminal, this script types the answers
// after each question appears, and the transcript shows whatever the terminal would have echoed.
const PTY_SCRIPT = `
import json, os, pty, select, sys, time
answers, argv = json.loads(sys.argv[1]), sys.argv[2:]
pid, fd = pty.fork()
if pid == 0:
    os.execve(argv[0], argv, {k: v for k, v in os.environ.items() if k not in ('COSIGN_PASSWORD', 'OCI_TOOL_PASSWORD')})
out, deadline = b'', time.time() + 30
def read_some():
    global out
    if select.select([fd], [], [], 0.05)[0]:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            return False
        if not chunk:
            return False
        out += chunk
    return True
for n, answer in enumerate(answers, 1):
    while out.count(b'password for private key') < n and time.time() < deadline and read_some():
        pass
    time.sleep(0.05)
    os.write(fd, answer.encode())
while time.time() < deadline and read_some():
    pass
_, status = os.waitpid(pid, 0)
print(json.dumps({'code': os.waitstatus_to_exitcode(status), 'transcript': out.decode('utf8', 'replace')}))
`;

const hasPty = (() => {
  try {
    execFileSync('python3', ['-c', 'import pty'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

async function onTerminal(answers: string[], argv: string[]): Promise<{ code: number; transcript: string }> {
  const res = await run('python3', ['-c', PTY_SCRIPT, JSON.stringify(answers), ...argv], { env: env() });
  if (res.code !== 0) throw new Error(`pty helper failed: ${res.stderr}`);
  return JSON.parse(res.stdout) as { code: number; transcript: string };
}

describe.skipIf(!hasPty)('oci-tool key on a terminal', () => {
  it('asks twice without echo, then writes the key sealed with what was typed', async () => {
    const prefix = join(work, 'typed');
    const res = await onTerminal(['typed secret\r', 'typed secret\r'], [process.execPath, CLI, 'key', 'generate', '--output-key-prefix', prefix]);
    expect(res.code).toBe(0);
    expect(res.transcript).toBe('Enter password for private key: \r\nEnter password for private key again: \r\n' +
      `private key written to ${prefix}.key\r\npublic key written to ${prefix}.pub\r\n`);
    expect(() => decryptPrivateKey(readFileSync(`${prefix}.key`, 'utf8'), 'typed secret')).not.toThrow();
  });

  it('exits 2 when the two answers differ, and 130 on Ctrl-C', async () => {
    const prefix = join(work, 'differ');
    const differ = await onTerminal(['one\r', 'two\r'], [process.execPath, CLI, 'key', 'generate', '--output-key-prefix', prefix]);
    expect(differ.code).toBe(2);
    expect(differ.transcript).toMatch(/oci-tool: the two passwords do not match\r\n$/);
    expect(existsSync(`${prefix}.key`)).toBe(false);
    const interrupted = await onTerminal(['\u0003'], [process.execPath, CLI, 'key', 'generate', '--output-key-prefix', prefix]);
    expect(interrupted.code).toBe(130);
  });

  it('asks on /dev/tty when standard input is a pipe', async () => {
    const prefix = join(work, 'tty');
    expect((await runCli(['key', 'generate', '--output-key-prefix', prefix], { env: env({ COSIGN_PASSWORD: 'via tty' }) })).code).toBe(0);
    const res = await onTerminal(['via tty\r'], ['/bin/sh', '-c', `echo piped | "$0" "$1" key public-key --key "$2"`, process.execPath, CLI, `${prefix}.key`]);
    expect(res.code).toBe(0);
    expect(res.transcript.replace(/\r\n/g, '\n')).toBe(`Enter password for private key: \n${readFileSync(`${prefix}.pub`, 'utf8')}`);
  });
});

/** The CLI run in another directory (runCli always uses this one). */
function runIn(cwd: string, args: string[], extra: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { cwd, env: env(extra) }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout, stderr });
    });
  });
}
