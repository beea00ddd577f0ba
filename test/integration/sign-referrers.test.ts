// A bundle-format signature round-trips through a registry with the OCI 1.1 referrers API (the
// in-process distribution server): sign attaches it with `subject`, the registry indexes it, and
// verify finds it through GET /v2/<name>/referrers/<digest> without any tag-schema index.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeImage } from '../../fixtures/build-image.js';
import { busybox } from '../../fixtures/images.js';
import { generateKeyPair } from '../../src/sign/keys.js';
import { runCli } from '../support/cli.js';
import { startDistributionServer, type DistributionServer } from '../support/distribution-server.js';
import { pushLayout } from '../support/push.js';

let work: string;
let server: DistributionServer;
let digest: string;
const env = { ...process.env, COSIGN_PASSWORD: 'pw' };

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'oci-tool-sign-referrers-'));
  server = await startDistributionServer({ referrersApi: true });
  await writeImage(join(work, 'src'), busybox(), 'busybox');
  digest = (await pushLayout(join(work, 'src'), { url: server.url, repository: 'library/busybox', tag: 'latest' }, 'busybox')).digest;
  const pair = generateKeyPair('pw');
  await writeFile(join(work, 'k.key'), pair.privateKeyPem);
  await writeFile(join(work, 'k.pub'), pair.publicKeyPem);
  await writeFile(join(work, 'other.pub'), generateKeyPair('pw').publicKeyPem);
});

afterAll(async () => {
  await server?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('bundle signatures through the referrers API', () => {
  it('sign uses the API, writes no fallback tag, and verify finds the bundle there', async () => {
    const ref = `${server.host}/library/busybox:latest`;
    const signed = await runCli(['sign', '--key', join(work, 'k.key'), '--format', 'bundle', '--json', ref], { env });
    expect(signed.stderr).toBe('');
    expect(signed.code).toBe(0);
    expect((JSON.parse(signed.stdout) as { signatures: { referrers: string }[] }).signatures).toEqual([expect.objectContaining({ referrers: 'api' })]);
    const tags = server.store.repos.get('library/busybox')?.tags;
    expect([...(tags?.keys() ?? [])]).toEqual(['latest']);

    server.requests.length = 0;
    const verified = await runCli(['verify', '--key', join(work, 'k.pub'), '--json', ref]);
    expect(verified.code).toBe(0);
    const out = JSON.parse(verified.stdout) as { digest: string; verified: { format: string; source: string }[] };
    expect(out.digest).toBe(digest);
    expect(out.verified.map((v) => v.format)).toEqual(['bundle']);
    expect(server.requests.some((r) => r.method === 'GET' && r.path.startsWith(`/v2/library/busybox/referrers/${digest}`))).toBe(true);
    expect(server.requests.some((r) => r.path.includes(`/manifests/sha256-${digest.slice(7)}`) && !r.path.endsWith('.sig'))).toBe(false);

    const wrong = await runCli(['verify', '--key', join(work, 'other.pub'), ref]);
    expect(wrong.code).toBe(5);
    expect(wrong.stderr).toMatch(/bundle signature does not verify with the given key/);
  });
});
