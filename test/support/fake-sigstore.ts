// Stand-ins for Sigstore's services, for keyless tests without the network: a transparency log that
// signs entry timestamps (SETs) and checkpoints with a test Rekor key and proves inclusion in an
// RFC 6962 Merkle tree; a Witness and a Signer to inject into @sigstore/sign's bundle builders; and
// local HTTP servers speaking the slices of the Fulcio v2, Rekor v1 and GitHub Actions OIDC APIs
// that @sigstore/sign's FulcioSigner, RekorWitness and CIContextProvider call.
import { createHash, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TransparencyLogEntry } from '@sigstore/bundle';
import type { SignatureBundle, Signer, VerificationMaterial, Witness } from '@sigstore/sign';
import { logIdOf, type Certificate, type KeyPair, type TestPki } from './test-pki.js';

const sha256 = (...parts: Buffer[]) => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
};

/** RFC 8785 canonical JSON, written independently of src/sign/rekor-set.ts so the two check each other. */
export function canonicalize(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalize).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    return `{${Object.keys(o).filter((k) => o[k] !== undefined).sort().map((k) => `${JSON.stringify(k)}:${canonicalize(o[k])}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

// ---------------------------------------------------------------------------------------------
// Merkle tree (RFC 6962 §2.1)

const leafHash = (body: Buffer) => sha256(Buffer.from([0]), body);
const nodeHash = (l: Buffer, r: Buffer) => sha256(Buffer.from([1]), l, r);
const split = (n: number) => {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
};

function treeHash(leaves: Buffer[]): Buffer {
  if (leaves.length === 1) return leaves[0] as Buffer;
  const k = split(leaves.length);
  return nodeHash(treeHash(leaves.slice(0, k)), treeHash(leaves.slice(k)));
}

/** The audit path of leaf m, lowest level first. */
function auditPath(m: number, leaves: Buffer[]): Buffer[] {
  if (leaves.length <= 1) return [];
  const k = split(leaves.length);
  return m < k ? [...auditPath(m, leaves.slice(0, k)), treeHash(leaves.slice(k))] : [...auditPath(m - k, leaves.slice(k)), treeHash(leaves.slice(0, k))];
}

// ---------------------------------------------------------------------------------------------
// The log

export interface LoggedEntry {
  /** The canonicalized entry body. */
  body: Buffer;
  logIndex: number;
  integratedTime: number;
  logId: Buffer;
  /** ECDSA over the canonical JSON {body, integratedTime, logID, logIndex}. */
  signedEntryTimestamp: Buffer;
  inclusionProof: { logIndex: number; treeSize: number; rootHash: Buffer; hashes: Buffer[]; checkpoint: string };
}

export class FakeRekorLog {
  readonly leaves: Buffer[] = [];
  readonly entries: LoggedEntry[] = [];
  /** The log's time, in Unix seconds; tests move it to put integratedTime outside a certificate's validity. */
  now: () => number = () => Math.floor(Date.now() / 1000);

  /** `origin` names the log in checkpoints; sigstore-js matches it (as a regexp) against the trusted root's baseUrl. */
  constructor(readonly key: KeyPair, readonly origin: string, readonly firstIndex = 0) {}

  get logId(): Buffer {
    return logIdOf(this.key.publicKey);
  }

  append(body: unknown): LoggedEntry {
    const bytes = Buffer.from(canonicalize(body));
    this.leaves.push(leafHash(bytes));
    const treeIndex = this.leaves.length - 1;
    const logIndex = this.firstIndex + treeIndex;
    const integratedTime = this.now();
    const payload = canonicalize({ body: bytes.toString('base64'), integratedTime, logID: this.logId.toString('hex'), logIndex });
    const signedEntryTimestamp = sign('sha256', Buffer.from(payload), this.key.privateKey);
    const rootHash = treeHash(this.leaves);
    const note = `${this.origin}\n${this.leaves.length}\n${rootHash.toString('base64')}\n`;
    const noteSig = Buffer.concat([this.logId.subarray(0, 4), sign('sha256', Buffer.from(note), this.key.privateKey)]);
    const entry: LoggedEntry = {
      body: bytes,
      logIndex,
      integratedTime,
      logId: this.logId,
      signedEntryTimestamp,
      inclusionProof: {
        logIndex: treeIndex,
        treeSize: this.leaves.length,
        rootHash,
        hashes: auditPath(treeIndex, this.leaves),
        checkpoint: `${note}\n\u2014 ${this.origin} ${noteSig.toString('base64')}\n`,
      },
    };
    this.entries.push(entry);
    return entry;
  }
}

/** Rekor's hashedrekord 0.0.1 body: the payload's SHA-256, the signature and the signer's PEM (key or certificate). */
export function hashedRekordBody(digestHex: string, signature: Buffer, publicKeyPem: string): unknown {
  return {
    apiVersion: '0.0.1',
    kind: 'hashedrekord',
    spec: {
      data: { hash: { algorithm: 'sha256', value: digestHex } },
      signature: { content: signature.toString('base64'), publicKey: { content: Buffer.from(publicKeyPem).toString('base64') } },
    },
  };
}

/** Rekor's dsse 0.0.1 body, as Rekor stores a proposed DSSE entry. */
export function dsseBody(envelopeJson: string, payload: Buffer, signatures: Buffer[], publicKeyPem: string): unknown {
  return {
    apiVersion: '0.0.1',
    kind: 'dsse',
    spec: {
      envelopeHash: { algorithm: 'sha256', value: sha256(Buffer.from(envelopeJson)).toString('hex') },
      payloadHash: { algorithm: 'sha256', value: sha256(payload).toString('hex') },
      signatures: signatures.map((s) => ({ signature: s.toString('base64'), verifier: Buffer.from(publicKeyPem).toString('base64') })),
    },
  };
}

/** What RekorWitness's toTransparencyLogEntry makes of Rekor's answer. */
export function toTlogEntry(e: LoggedEntry, parts: { promise?: boolean; proof?: boolean } = {}): TransparencyLogEntry {
  const body = JSON.parse(e.body.toString()) as { kind: string; apiVersion: string };
  return {
    logIndex: String(e.logIndex),
    logId: { keyId: e.logId },
    integratedTime: String(e.integratedTime),
    kindVersion: { kind: body.kind, version: body.apiVersion },
    inclusionPromise: parts.promise === false ? undefined : { signedEntryTimestamp: e.signedEntryTimestamp },
    inclusionProof: parts.proof === false
      ? undefined
      : {
        logIndex: String(e.inclusionProof.logIndex),
        treeSize: String(e.inclusionProof.treeSize),
        rootHash: e.inclusionProof.rootHash,
        hashes: e.inclusionProof.hashes,
        checkpoint: { envelope: e.inclusionProof.checkpoint },
      },
    canonicalizedBody: e.body,
  };
}

export interface WitnessCall {
  content: SignatureBundle;
  publicKey: string;
}

export interface RecordingWitness extends Witness {
  calls: WitnessCall[];
}

/**
 * A Witness that logs what it is asked to witness as Rekor v1 would (hashedrekord for a message
 * signature, dsse for an envelope) and returns the entry RekorWitness would build from the answer.
 */
export function logWitness(log: FakeRekorLog, parts: { promise?: boolean; proof?: boolean } = {}): RecordingWitness {
  const calls: WitnessCall[] = [];
  return {
    calls,
    testify(content: SignatureBundle, publicKey: string): Promise<VerificationMaterial> {
      calls.push({ content, publicKey });
      let body: unknown;
      if (content.$case === 'messageSignature') {
        const m = content.messageSignature;
        body = hashedRekordBody((m.messageDigest?.digest ?? Buffer.alloc(0)).toString('hex'), m.signature, publicKey);
      } else {
        const env = content.dsseEnvelope;
        const json = JSON.stringify({ payloadType: env.payloadType, payload: env.payload.toString('base64'), signatures: env.signatures.map((s) => ({ keyid: s.keyid, sig: s.sig.toString('base64') })) });
        body = dsseBody(json, env.payload, env.signatures.map((s) => s.sig), publicKey);
      }
      return Promise.resolve({ tlogEntries: [toTlogEntry(log.append(body), parts)] });
    },
  };
}

/** A Signer holding a certificate's private key, as FulcioSigner returns its signatures. */
export function certificateSigner(privateKey: KeyObject, certificate: Certificate | string): Signer & { signed: Buffer[] } {
  const signed: Buffer[] = [];
  const pem = typeof certificate === 'string' ? certificate : certificate.pem;
  return {
    signed,
    sign(data: Buffer) {
      signed.push(data);
      return Promise.resolve({ signature: sign('sha256', data, privateKey), key: { $case: 'x509Certificate' as const, certificate: pem } });
    },
  };
}

// ---------------------------------------------------------------------------------------------
// HTTP fakes

export interface FakeServer {
  url: string;
  close(): Promise<void>;
}

type Handler = (req: IncomingMessage, body: Buffer) => { status: number; json: unknown; headers?: Record<string, string> };

async function serve(handler: Handler): Promise<FakeServer> {
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let reply: ReturnType<Handler>;
      try {
        reply = handler(req, Buffer.concat(chunks));
      } catch (e) {
        reply = { status: 400, json: { code: 400, message: e instanceof Error ? e.message : String(e) } };
      }
      res.writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers });
      res.end(JSON.stringify(reply.json));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve, reject) => {
      server.closeAllConnections();
      server.close((e) => (e ? reject(e) : resolve()));
    }),
  };
}

/** The claims of a JWT, unverified: what the fake Fulcio trusts (the real one checks the issuer's signature). */
export function jwtClaims(token: string): Record<string, unknown> {
  const part = token.split('.')[1];
  if (part === undefined) throw new Error('not a JWT');
  return JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as Record<string, unknown>;
}

/** An unsigned JWT with these claims (a fake Fulcio does not check signatures). */
export function unsignedJwt(claims: Record<string, unknown>): string {
  const enc = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${enc({ alg: 'none', typ: 'JWT' })}.${enc(claims)}.`;
}

export interface FulcioRequestRecord {
  path: string;
  authorization?: string;
  token?: string;
  publicKeyPem?: string;
  certificate?: Certificate;
}

export interface FakeFulcio extends FakeServer {
  requests: FulcioRequestRecord[];
}

/**
 * POST /api/v2/signingCert as Fulcio answers it: checks the proof of possession (the token's
 * subject — its e-mail when there is one, else `sub` — signed with the posted key), then issues a
 * leaf for that key from the test intermediate naming the subject (an e-mail SAN; for a GitHub
 * Actions token the URI of `job_workflow_ref`; else `sub` as a URI) and the token's `iss`, and
 * returns the chain, leaf first, with the SCT embedded. A token from an issuer not in `issuers`
 * (when given) is refused with 401, as Fulcio refuses issuers it is not configured for.
 */
export async function startFakeFulcio(pki: TestPki, opts: { issuers?: string[] } = {}): Promise<FakeFulcio> {
  const requests: FulcioRequestRecord[] = [];
  const server = await serve((req, body) => {
    const rec: FulcioRequestRecord = { path: req.url ?? '', authorization: req.headers.authorization };
    requests.push(rec);
    if (req.method !== 'POST' || req.url !== '/api/v2/signingCert') return { status: 404, json: { code: 404, message: 'not found' } };
    const request = JSON.parse(body.toString('utf8')) as {
      credentials?: { oidcIdentityToken?: string };
      publicKeyRequest?: { publicKey?: { algorithm?: string; content?: string }; proofOfPossession?: string };
    };
    rec.token = request.credentials?.oidcIdentityToken;
    rec.publicKeyPem = request.publicKeyRequest?.publicKey?.content;
    if (!rec.token || !rec.publicKeyPem) return { status: 400, json: { code: 400, message: 'missing token or public key' } };
    const claims = jwtClaims(rec.token);
    if (opts.issuers && !opts.issuers.includes(String(claims.iss))) {
      return { status: 401, json: { code: 401, message: `unsupported OIDC issuer ${String(claims.iss)}` } };
    }
    const subject = typeof claims.email === 'string' ? claims.email : String(claims.sub);
    const publicKey = createPublicKey(rec.publicKeyPem);
    const proof = Buffer.from(request.publicKeyRequest?.proofOfPossession ?? '', 'base64');
    if (!verify('sha256', Buffer.from(subject), publicKey, proof)) return { status: 400, json: { code: 400, message: 'proof of possession failed' } };
    // Fulcio's GitHub Actions identity is the workflow's URL; other non-e-mail subjects stand as URIs.
    const san = typeof claims.email === 'string' ? { email: subject }
      : { uri: typeof claims.job_workflow_ref === 'string' ? `https://github.com/${claims.job_workflow_ref}` : subject };
    const cert = pki.issueLeaf({ publicKey, ...san, issuer: String(claims.iss) });
    rec.certificate = cert;
    return { status: 201, json: { signedCertificateEmbeddedSct: { chain: { certificates: [cert.pem, pki.intermediate.pem, pki.root.pem] } } } };
  });
  return { ...server, requests };
}

export interface FakeRekor extends FakeServer {
  requests: { path: string; proposedEntry: unknown }[];
}

/** POST /api/v1/log/entries as Rekor v1 answers it, for hashedrekord and dsse proposals. */
export async function startFakeRekor(log: FakeRekorLog): Promise<FakeRekor> {
  const requests: FakeRekor['requests'] = [];
  const server = await serve((req, body) => {
    if (req.method !== 'POST' || req.url !== '/api/v1/log/entries') return { status: 404, json: { code: 404, message: 'not found' } };
    const proposed = JSON.parse(body.toString('utf8')) as { kind?: string; apiVersion?: string; spec?: Record<string, unknown> };
    requests.push({ path: req.url, proposedEntry: proposed });
    let entryBody: unknown;
    if (proposed.kind === 'hashedrekord' && proposed.apiVersion === '0.0.1') {
      entryBody = proposed;
    } else if (proposed.kind === 'dsse' && proposed.apiVersion === '0.0.1') {
      const content = proposed.spec?.proposedContent as { envelope: string; verifiers: string[] };
      const env = JSON.parse(content.envelope) as { payload: string; signatures: { sig: string }[] };
      const pem = Buffer.from(content.verifiers[0] ?? '', 'base64').toString('utf8');
      entryBody = dsseBody(content.envelope, Buffer.from(env.payload, 'base64'), env.signatures.map((s) => Buffer.from(s.sig, 'base64')), pem);
    } else {
      return { status: 400, json: { code: 400, message: `unsupported entry ${proposed.kind} ${proposed.apiVersion}` } };
    }
    const e = log.append(entryBody);
    const uuid = sha256(e.body).toString('hex');
    return {
      status: 201,
      headers: { location: `/api/v1/log/entries/${uuid}` },
      json: {
        [uuid]: {
          body: e.body.toString('base64'),
          integratedTime: e.integratedTime,
          logID: e.logId.toString('hex'),
          logIndex: e.logIndex,
          verification: {
            signedEntryTimestamp: e.signedEntryTimestamp.toString('base64'),
            inclusionProof: {
              checkpoint: e.inclusionProof.checkpoint,
              hashes: e.inclusionProof.hashes.map((h) => h.toString('hex')),
              logIndex: e.inclusionProof.logIndex,
              rootHash: e.inclusionProof.rootHash.toString('hex'),
              treeSize: e.inclusionProof.treeSize,
            },
          },
        },
      },
    };
  });
  return { ...server, requests };
}

export interface FakeActionsOidc extends FakeServer {
  requests: { audience: string | null; authorization?: string }[];
}

/** GitHub Actions' ID-token endpoint (ACTIONS_ID_TOKEN_REQUEST_URL): answers {value: token}. */
export async function startFakeActionsOidc(token: string, requestToken: string): Promise<FakeActionsOidc> {
  const requests: FakeActionsOidc['requests'] = [];
  const server = await serve((req) => {
    const url = new URL(req.url ?? '/', 'http://x');
    requests.push({ audience: url.searchParams.get('audience'), authorization: req.headers.authorization });
    if (req.headers.authorization !== `Bearer ${requestToken}`) return { status: 401, json: { message: 'bad request token' } };
    return { status: 200, json: { value: token } };
  });
  return { ...server, requests };
}
