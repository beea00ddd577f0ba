// Signature policy: parsing the policy.json subset, and which scope's requirements apply.
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseReference } from '../../../src/registry/reference.js';
import { candidateScopes, keyPolicy, loadPolicy, parsePolicy, requirementsFor } from '../../../src/sign/policy.js';

let dir: string;
let pem: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'oci-tool-policy-'));
  pem = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
  await writeFile(join(dir, 'cosign.pub'), pem);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const file = () => join(dir, 'policy.json');

describe('policy scopes', () => {
  it('lists scopes from the exact reference down to the host, then wildcard domains', () => {
    expect(candidateScopes(parseReference('registry.example.com:5000/team/app/web:1.2'))).toEqual([
      'registry.example.com:5000/team/app/web:1.2',
      'registry.example.com:5000/team/app/web',
      'registry.example.com:5000/team/app',
      'registry.example.com:5000/team',
      'registry.example.com:5000',
      '*.example.com',
      '*.com',
    ]);
    expect(candidateScopes(parseReference('busybox'))).toEqual([
      'docker.io/library/busybox:latest', 'docker.io/library/busybox', 'docker.io/library', 'docker.io', '*.io',
    ]);
    const digest = `sha256:${'a'.repeat(64)}`;
    expect(candidateScopes(parseReference(`quay.io/x/y@${digest}`))[0]).toBe(`quay.io/x/y@${digest}`);
  });

  it('picks the most specific scope, then the transport default, then the global default', async () => {
    const policy = await parsePolicy(JSON.stringify({
      default: [{ type: 'reject' }],
      transports: {
        docker: {
          'registry.example.com/team': [{ type: 'sigstoreSigned', keyPath: 'cosign.pub' }],
          'registry.example.com/team/open': [{ type: 'insecureAcceptAnything' }],
          '*.internal.example': [{ type: 'insecureAcceptAnything' }],
        },
      },
    }), file());
    const scope = (ref: string) => requirementsFor(policy, parseReference(ref));
    expect(scope('registry.example.com/team/open:1')).toMatchObject({ scope: 'registry.example.com/team/open', requirements: [{ type: 'insecureAcceptAnything' }] });
    expect(scope('registry.example.com/team/app:1')).toMatchObject({ scope: 'registry.example.com/team', requirements: [{ type: 'sigstoreSigned', signedIdentity: 'matchRepoDigestOrExact' }] });
    expect(scope('a.b.internal.example/app')).toMatchObject({ scope: '*.internal.example' });
    // A wildcard covers subdomains only, not the domain itself.
    expect(scope('internal.example/app')).toMatchObject({ scope: 'default', requirements: [{ type: 'reject' }] });
    expect(scope('registry.example.com/other/app')).toMatchObject({ scope: 'default' });

    const withTransportDefault = await parsePolicy(JSON.stringify({ default: [{ type: 'reject' }], transports: { docker: { '': [{ type: 'insecureAcceptAnything' }] } } }), file());
    expect(requirementsFor(withTransportDefault, parseReference('busybox')).scope).toBe('transports.docker default');
  });

  it('reads keys from keyPath (relative to the policy file), keyPaths and keyData', async () => {
    const policy = await parsePolicy(JSON.stringify({
      default: [{ type: 'sigstoreSigned', keyPaths: ['cosign.pub', join(dir, 'cosign.pub')], keyData: Buffer.from(pem).toString('base64'), signedIdentity: { type: 'matchRepository' } }],
    }), file());
    expect(policy.default).toEqual([expect.objectContaining({ type: 'sigstoreSigned', signedIdentity: 'matchRepository' })]);
    expect((policy.default[0] as { keys: unknown[] }).keys).toHaveLength(3);
    expect(keyPolicy([]).default).toEqual([{ type: 'sigstoreSigned', keys: [], signedIdentity: 'matchRepository' }]);
  });

  it('refuses what it does not understand, naming the file and the place', async () => {
    const bad = async (doc: unknown) => parsePolicy(typeof doc === 'string' ? doc : JSON.stringify(doc), file());
    await expect(bad('{')).rejects.toMatchObject({ code: 'OCI_ERR_BAD_CONFIG', message: expect.stringContaining('not valid JSON') });
    await expect(bad({})).rejects.toThrow(/needs a "default" list/);
    await expect(bad({ default: [] })).rejects.toThrow(/default must be a non-empty list/);
    await expect(bad({ default: [{ type: 'maybe' }] })).rejects.toThrow(/unknown requirement type "maybe"/);
    await expect(bad({ default: [{ type: 'signedBy', keyType: 'GPGKeys' }] })).rejects.toMatchObject({ code: 'OCI_ERR_UNSUPPORTED' });
    await expect(bad({ default: [{ type: 'sigstoreSigned' }] })).rejects.toThrow(/needs keyPath, keyPaths, keyData or keyDatas/);
    await expect(bad({ default: [{ type: 'sigstoreSigned', keyPath: 'missing.pub' }] })).rejects.toThrow(/cannot read key .*missing\.pub/);
    await expect(bad({ default: [{ type: 'sigstoreSigned', keyPath: 'cosign.pub', fulcio: {} }] })).rejects.toMatchObject({ code: 'OCI_ERR_UNSUPPORTED' });
    await expect(bad({ default: [{ type: 'sigstoreSigned', keyPath: 'cosign.pub', signedIdentity: { type: 'remapIdentity' } }] })).rejects.toThrow(/signedIdentity "remapIdentity" is not supported/);
    await expect(bad({ default: [{ type: 'reject' }], transports: { docker: { 'x.io': 'nope' } } })).rejects.toThrow(/transports\.docker\["x\.io"\]/);
    await expect(loadPolicy(join(dir, 'absent.json'))).rejects.toThrow(/cannot read policy .*absent\.json: ENOENT/);
  });
});
