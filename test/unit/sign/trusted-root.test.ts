// The parts of a trusted root that legacy keyless checks use, within their validity windows.
import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { trustedRootParts } from '../../../src/sign/trusted-root.js';

const der = () => generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'der' }).toString('base64');
const cert = (tag: string) => Buffer.from(`certificate ${tag}`).toString('base64');

const root = {
  tlogs: [
    { publicKey: { rawBytes: der(), validFor: { start: '2020-01-01T00:00:00Z', end: '2022-01-01T00:00:00Z' } } },
    { publicKey: { rawBytes: der(), validFor: { start: '2022-01-01T00:00:00Z' } } },
  ],
  certificateAuthorities: [
    { certChain: { certificates: [{ rawBytes: cert('old-intermediate') }, { rawBytes: cert('old-root') }] }, validFor: { start: '2020-01-01T00:00:00Z', end: '2021-06-01T00:00:00Z' } },
    { certChain: { certificates: [{ rawBytes: cert('new-root') }] }, validFor: { start: '2021-06-01T00:00:00Z' } },
  ],
};

describe('trusted root parts', () => {
  it('takes every log key and CA certificate without a time', () => {
    const parts = trustedRootParts(root);
    expect(parts.rekorKeys).toHaveLength(2);
    expect(parts.fulcioCertificates).toHaveLength(3);
    expect(parts.fulcioCertificates[0]).toMatch(/^-----BEGIN CERTIFICATE-----\n/);
  });

  it('keeps only what is valid at a given time', () => {
    const early = trustedRootParts(root, new Date('2021-01-01T00:00:00Z'));
    expect(early.rekorKeys).toHaveLength(1);
    expect(early.fulcioCertificates).toHaveLength(2);
    const late = trustedRootParts(root, new Date('2023-01-01T00:00:00Z'));
    expect(late.rekorKeys).toHaveLength(1);
    expect(late.fulcioCertificates).toEqual([expect.stringContaining(Buffer.from('certificate new-root').toString('base64').slice(0, 20))]);
    expect(late.rekorKeys[0]?.export({ type: 'spki', format: 'der' }).toString('base64')).toBe(root.tlogs[1]?.publicKey.rawBytes);
  });

  it('refuses what is not a trusted root', () => {
    expect(() => trustedRootParts('nope')).toThrow('trusted root is not a JSON object');
    expect(() => trustedRootParts({ tlogs: [{ publicKey: { rawBytes: 'AAAA' } }] })).toThrow(/not a DER public key/);
  });
});
