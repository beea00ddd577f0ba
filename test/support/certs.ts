import { execFile } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface Certificates {
  /** PEM contents, ready for undici/node:tls `ca`, `cert`, `key`. */
  caCert: string;
  serverCert: string;
  serverKey: string;
  caCertFile: string;
  caKeyFile: string;
  serverCertFile: string;
  serverKeyFile: string;
}

export interface SigningCertificate {
  key: string;
  cert: string;
  keyFile: string;
  certFile: string;
}

async function openssl(args: string[]): Promise<void> {
  try {
    await run('openssl', args);
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr ?? '';
    throw new Error(`openssl ${args[0]} failed: ${stderr.trim() || String(err)}`, { cause: err });
  }
}

function newKeyArgs(type: 'ec' | 'rsa'): string[] {
  return type === 'ec' ? ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1'] : ['-newkey', 'rsa:2048'];
}

/** A throwaway CA plus a server certificate valid for 127.0.0.1 and localhost. */
export async function makeCertificates(dir: string): Promise<Certificates> {
  await mkdir(dir, { recursive: true });
  const caCertFile = join(dir, 'ca.crt');
  const caKeyFile = join(dir, 'ca.key');
  const serverCertFile = join(dir, 'server.crt');
  const serverKeyFile = join(dir, 'server.key');
  const csrFile = join(dir, 'server.csr');
  const extFile = join(dir, 'server.ext');

  await openssl([
    'req', '-x509', ...newKeyArgs('ec'), '-nodes', '-days', '2', '-subj', '/CN=oci-tool test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
    '-keyout', caKeyFile, '-out', caCertFile,
  ]);
  await openssl(['req', '-new', ...newKeyArgs('ec'), '-nodes', '-subj', '/CN=localhost', '-keyout', serverKeyFile, '-out', csrFile]);
  // `x509 -req` drops CSR extensions, so the SAN goes in through an extfile.
  await writeFile(
    extFile,
    [
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      'extendedKeyUsage=serverAuth',
      '',
    ].join('\n'),
  );
  await openssl([
    'x509', '-req', '-in', csrFile, '-CA', caCertFile, '-CAkey', caKeyFile, '-set_serial', `0x${Date.now().toString(16)}`,
    '-days', '2', '-sha256', '-extfile', extFile, '-out', serverCertFile,
  ]);

  const [caCert, serverCert, serverKey] = await Promise.all([caCertFile, serverCertFile, serverKeyFile].map((f) => readFile(f, 'utf8')));
  return { caCert: caCert!, serverCert: serverCert!, serverKey: serverKey!, caCertFile, caKeyFile, serverCertFile, serverKeyFile };
}

/**
 * Key + self-signed cert for signing registry JWTs. The cert file doubles as
 * the registry's `rootcertbundle`; tokens carry it in their `x5c` header.
 */
export async function makeTokenSigningCert(dir: string, type: 'ec' | 'rsa' = 'ec'): Promise<SigningCertificate> {
  await mkdir(dir, { recursive: true });
  const keyFile = join(dir, `token-${type}.key`);
  const certFile = join(dir, `token-${type}.crt`);
  await openssl([
    'req', '-x509', ...newKeyArgs(type), '-nodes', '-days', '2', '-subj', '/CN=oci-tool test token issuer',
    '-keyout', keyFile, '-out', certFile,
  ]);
  const [key, cert] = await Promise.all([readFile(keyFile, 'utf8'), readFile(certFile, 'utf8')]);
  return { key, cert, keyFile, certFile };
}
