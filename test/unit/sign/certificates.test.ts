// The DER reader on the vectors' certificates, path building and identity matching, on the
// vectors and on a small PKI made for these tests (Fulcio issuer v2 extension, constraints).
import { X509Certificate, createPrivateKey, generateKeyPairSync, sign } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ErrorCode } from '../../../src/errors.js';
import {
  OID,
  checkCertificateIdentity,
  fulcioIssuer,
  parseCertificates,
  parsePem,
  readCertificateFields,
  subjectAlternativeNames,
  verifyCertificateChain,
} from '../../../src/sign/certificates.js';
import { verifyLegacySignature, type LegacyTrust } from '../../../src/sign/legacy-verify.js';
import { BUNDLE_ANNOTATION, CERTIFICATE_ANNOTATION, CHAIN_ANNOTATION, SIMPLE_SIGNING_MEDIA_TYPE, createPayload } from '../../../src/sign/simple-signing.js';
import { COSIGN_DIR, cosignVector, failure, makeRekorSet, rawText } from '../../support/cosign-vectors.js';

// Made for these tests with openssl 3.0 (EC P-256, valid from 2026-11-29 for about a century).
const PEM = {
  root: `-----BEGIN CERTIFICATE-----
MIIBnjCCAUSgAwIBAgIUJa+IT3c5oYFFs04Wa6j/1U0Kx3kwCgYIKoZIzj0EAwIw
LDEWMBQGA1UECgwNb2NpLXRvb2wgdGVzdDESMBAGA1UEAwwJdGVzdCByb290MCAX
DTI2MTEyOTA2NDk0MFoYDzIxMjYxMTA1MDY0OTQwWjAsMRYwFAYDVQQKDA1vY2kt
dG9vbCB0ZXN0MRIwEAYDVQQDDAl0ZXN0IHJvb3QwWTATBgcqhkjOPQIBBggqhkjO
PQMBBwNCAAT4w3i3bfnvzVANyNTHGd5pBXaW6m+74mAzLHYM9h7OAVAmrm5yjunP
rbeKx7oq3TiuV4VFLjYuHiEC4x7pfXUeo0IwQDAPBgNVHRMBAf8EBTADAQH/MA4G
A1UdDwEB/wQEAwIBBjAdBgNVHQ4EFgQUFFHi0fLYAMzdWS4DiLea8nYZq8MwCgYI
KoZIzj0EAwIDSAAwRQIhAPezSj7j25dIK6B7zQYs4QGi7TvRYp4T0TzuoyxxfgJU
AiAmaLJ1B6uLfIyW5Iu2P4zopRkwrMNBB8RboT6L6XZq9Q==
-----END CERTIFICATE-----
`,
  inter: `-----BEGIN CERTIFICATE-----
MIIB3zCCAYWgAwIBAgIUXbH6EHN+1CGQnDl1LGe95AM2Ty4wCgYIKoZIzj0EAwIw
LDEWMBQGA1UECgwNb2NpLXRvb2wgdGVzdDESMBAGA1UEAwwJdGVzdCByb290MCAX
DTI2MTEyOTA2NDk0MFoYDzIxMjUwNjIzMDY0OTQwWjA0MRYwFAYDVQQKDA1vY2kt
dG9vbCB0ZXN0MRowGAYDVQQDDBF0ZXN0IGludGVybWVkaWF0ZTBZMBMGByqGSM49
AgEGCCqGSM49AwEHA0IABKB1mVu/gVKlGFpNKOYDtQfISf0gw0UIJSZzGhmW46uH
l+0TPZNiPSvsCAYUUf7H8jmMujVG2ux80nACxcgI7qijezB5MBIGA1UdEwEB/wQI
MAYBAf8CAQAwDgYDVR0PAQH/BAQDAgEGMBMGA1UdJQQMMAoGCCsGAQUFBwMDMB0G
A1UdDgQWBBSTq0Yd/am0Oe9gLOP8k1rJZWpRSjAfBgNVHSMEGDAWgBQUUeLR8tgA
zN1ZLgOIt5rydhmrwzAKBggqhkjOPQQDAgNIADBFAiEA4JjV8eT8strEHOEGjE79
I6pnGY7Y/CV61U5n1UBoxcgCICCAFPCtqr3rRHjPojm/hgBZmxbGsgo4JrdWhGKT
aPCK
-----END CERTIFICATE-----
`,
  inter2: `-----BEGIN CERTIFICATE-----
MIIB0TCCAXegAwIBAgIURJuOAHQfdMhxQrE6avSi6O1rV2gwCgYIKoZIzj0EAwIw
NDEWMBQGA1UECgwNb2NpLXRvb2wgdGVzdDEaMBgGA1UEAwwRdGVzdCBpbnRlcm1l
ZGlhdGUwIBcNMjYxMTI5MDY0OTQwWhgPMjEyNTA2MjMwNjQ5NDBaMDYxFjAUBgNV
BAoMDW9jaS10b29sIHRlc3QxHDAaBgNVBAMME3NlY29uZCBpbnRlcm1lZGlhdGUw
WTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAAQGCG5NnxolEHrsRP3ckG3cGxL54SKY
e0kV99G2rK1ZFZ/ToeivpXKmHLOd/KcV88BA23k2b9YzVLNYeNvVDNBwo2MwYTAP
BgNVHRMBAf8EBTADAQH/MA4GA1UdDwEB/wQEAwICBDAdBgNVHQ4EFgQUL6C2hXEy
R25dk3vfjwaU8DQzdoEwHwYDVR0jBBgwFoAUk6tGHf2ptDnvYCzj/JNayWVqUUow
CgYIKoZIzj0EAwIDSAAwRQIgUa7qEgGaOl19VGem8XkzDqInu2kcHews5SbwTHPr
VJQCIQD+ErGB+A4sCvIBSFLFGeJHD241+JMsXeWYlNyDpidZKQ==
-----END CERTIFICATE-----
`,
  notca: `-----BEGIN CERTIFICATE-----
MIIBvDCCAWGgAwIBAgIUXbH6EHN+1CGQnDl1LGe95AM2Ty8wCgYIKoZIzj0EAwIw
LDEWMBQGA1UECgwNb2NpLXRvb2wgdGVzdDESMBAGA1UEAwwJdGVzdCByb290MCAX
DTI2MTEyOTA2NDk0MFoYDzIxMjUwNjIzMDY0OTQwWjArMRYwFAYDVQQKDA1vY2kt
dG9vbCB0ZXN0MREwDwYDVQQDDAhub3QgYSBDQTBZMBMGByqGSM49AgEGCCqGSM49
AwEHA0IABL+bAw/zwo15gOfYNTEchJ2XQMzqxlTfUAPpSArycoN6yREgmegH5AA/
qpxRut+jK9aghwsw93EpU5K80XBQrwqjYDBeMAwGA1UdEwEB/wQCMAAwDgYDVR0P
AQH/BAQDAgKEMB0GA1UdDgQWBBQlNO/PycTnCJiwzeJz76llbURJMDAfBgNVHSME
GDAWgBQUUeLR8tgAzN1ZLgOIt5rydhmrwzAKBggqhkjOPQQDAgNJADBGAiEAt8MD
mOsezpJPJamf2PpTd2C9qPEddkomoO0Yb/nqXvcCIQC3t+41WE1dgoNaiu6eksB9
fDAvepJwZc2ACeMQwOXr2w==
-----END CERTIFICATE-----
`,
  leafA: `-----BEGIN CERTIFICATE-----
MIIChjCCAiugAwIBAgIURJuOAHQfdMhxQrE6avSi6O1rV2kwCgYIKoZIzj0EAwIw
NDEWMBQGA1UECgwNb2NpLXRvb2wgdGVzdDEaMBgGA1UEAwwRdGVzdCBpbnRlcm1l
ZGlhdGUwIBcNMjYxMTI5MDY0OTQwWhgPMjEyNTA2MjMwNjQ5NDBaMAAwWTATBgcq
hkjOPQIBBggqhkjOPQMBBwNCAATP0/sTKbJ44J7p7GHz5W3im2z18jbWHwdQp4fg
CF7wtvQOz2YaCc7cdD8Ktj5QirdPWtRTfHLvYrFF+6ceMSFjo4IBSzCCAUcwDgYD
VR0PAQH/BAQDAgeAMBMGA1UdJQQMMAoGCCsGAQUFBwMDMGgGA1UdEQEB/wReMFyG
SWh0dHBzOi8vZ2l0aHViLmNvbS9hY21lL2FwcC8uZ2l0aHViL3dvcmtmbG93cy9y
ZWxlYXNlLnltbEByZWZzL2hlYWRzL21haW6BD2NpQGFjbWUuZXhhbXBsZTA5Bgor
BgEEAYO/MAEBBCtodHRwczovL3Rva2VuLmFjdGlvbnMuZ2l0aHVidXNlcmNvbnRl
bnQuY29tMDsGCisGAQQBg78wAQgELQwraHR0cHM6Ly90b2tlbi5hY3Rpb25zLmdp
dGh1YnVzZXJjb250ZW50LmNvbTAfBgNVHSMEGDAWgBSTq0Yd/am0Oe9gLOP8k1rJ
ZWpRSjAdBgNVHQ4EFgQURbcGartEjMvNRsQEHZ3dcIi9NxYwCgYIKoZIzj0EAwID
SQAwRgIhAJzOcEKR0SutLz+6xmIUHvCHY7hUynPvR05vzo2C2AkaAiEA60xZ+IBc
r9xWSarvKSEfap54vOQ2Exq9rx12bxTrHBY=
-----END CERTIFICATE-----
`,
  leafB: `-----BEGIN CERTIFICATE-----
MIICKDCCAc6gAwIBAgIURJuOAHQfdMhxQrE6avSi6O1rV2owCgYIKoZIzj0EAwIw
NDEWMBQGA1UECgwNb2NpLXRvb2wgdGVzdDEaMBgGA1UEAwwRdGVzdCBpbnRlcm1l
ZGlhdGUwIBcNMjYxMTI5MDY0OTQwWhgPMjEyNTA2MjMwNjQ5NDBaMAAwWTATBgcq
hkjOPQIBBggqhkjOPQMBBwNCAAS5HCCKyDWNxHofkQ/8jAtecEtQJHhOhwMJtOJw
v2gl60A+0ehYqM8qXnoPInmnS4mAqh5UwsmG2ExtfoDKvq2Ko4HvMIHsMA4GA1Ud
DwEB/wQEAwIHgDATBgNVHSUEDDAKBggrBgEFBQcDAzAdBgNVHREBAf8EEzARgQ9j
aUBhY21lLmV4YW1wbGUwOQYKKwYBBAGDvzABAQQraHR0cHM6Ly90b2tlbi5hY3Rp
b25zLmdpdGh1YnVzZXJjb250ZW50LmNvbTArBgorBgEEAYO/MAEIBB0MG2h0dHBz
Oi8vYWNjb3VudHMuZ29vZ2xlLmNvbTAfBgNVHSMEGDAWgBSTq0Yd/am0Oe9gLOP8
k1rJZWpRSjAdBgNVHQ4EFgQUzG6xFTJpBYHKAehSMMHN0bb71YIwCgYIKoZIzj0E
AwIDSAAwRQIhAJL0AX/B4WlIN2f6GktMo19kn0S0rZxTZifhNMn1ib/PAiArMHUh
yJhrLN5R0PQNczQsRXbd7VnaN7SU75iZ9WJr0w==
-----END CERTIFICATE-----
`,
  leafV2: `-----BEGIN CERTIFICATE-----
MIIB7jCCAZOgAwIBAgIURJuOAHQfdMhxQrE6avSi6O1rV2swCgYIKoZIzj0EAwIw
NDEWMBQGA1UECgwNb2NpLXRvb2wgdGVzdDEaMBgGA1UEAwwRdGVzdCBpbnRlcm1l
ZGlhdGUwIBcNMjYxMTI5MDY0OTQwWhgPMjEyNTA2MjMwNjQ5NDBaMAAwWTATBgcq
hkjOPQIBBggqhkjOPQMBBwNCAAQTXVBweh63lwM1QOETVwDp+ZvM52Y8asmO5yX6
58X7i8BigqStKbqFX1+q7mB6GOa4nbOwro/X3JjPdxled/XXo4G0MIGxMA4GA1Ud
DwEB/wQEAwIHgDATBgNVHSUEDDAKBggrBgEFBQcDAzAdBgNVHREBAf8EEzARgQ9j
aUBhY21lLmV4YW1wbGUwKwYKKwYBBAGDvzABCAQdDBtodHRwczovL2FjY291bnRz
Lmdvb2dsZS5jb20wHwYDVR0jBBgwFoAUk6tGHf2ptDnvYCzj/JNayWVqUUowHQYD
VR0OBBYEFEj0gCAWMhweq6fJFYaLZaBYasv3MAoGCCqGSM49BAMCA0kAMEYCIQCD
iONV1aS0Fn6lqO2iahvaVvko9Yz6tNL29/DynN8xVwIhAObY23leM38zHZSLmzky
/gdPQIxcK0SaQ3x2Ay62NNF4
-----END CERTIFICATE-----
`,
  leafCrit: `-----BEGIN CERTIFICATE-----
MIIBtDCCAVqgAwIBAgIURJuOAHQfdMhxQrE6avSi6O1rV2wwCgYIKoZIzj0EAwIw
NDEWMBQGA1UECgwNb2NpLXRvb2wgdGVzdDEaMBgGA1UEAwwRdGVzdCBpbnRlcm1l
ZGlhdGUwIBcNMjYxMTI5MDY0OTQwWhgPMjEyNTA2MjMwNjQ5NDBaMAAwWTATBgcq
hkjOPQIBBggqhkjOPQMBBwNCAATnrXYmtssmTyzYbAUnkvsv4ikJFJ9nnzwp3uRe
D8RN5SYHOjAalP5Ftbo38tTgrgyh46DRJNoFrp5TGQZ0xCL8o3wwejAOBgNVHQ8B
Af8EBAMCB4AwGgYDVR0RBBMwEYEPY2lAYWNtZS5leGFtcGxlMAwGAyoDBAEB/wQC
BQAwHwYDVR0jBBgwFoAUk6tGHf2ptDnvYCzj/JNayWVqUUowHQYDVR0OBBYEFOCH
0SGn8UhJri/4Iry9KdvlCy01MAoGCCqGSM49BAMCA0gAMEUCIHx54uyi2syXNh/A
LhgXE+T1tq5GEwyY/Zn+h/50Iiy6AiEA6UCAle3niBIVs+ikBlSddL46tt8UwcSl
evOp9iBhS7M=
-----END CERTIFICATE-----
`,
  leafServer: `-----BEGIN CERTIFICATE-----
MIIBwDCCAWagAwIBAgIURJuOAHQfdMhxQrE6avSi6O1rV20wCgYIKoZIzj0EAwIw
NDEWMBQGA1UECgwNb2NpLXRvb2wgdGVzdDEaMBgGA1UEAwwRdGVzdCBpbnRlcm1l
ZGlhdGUwIBcNMjYxMTI5MDY0OTQxWhgPMjEyNTA2MjMwNjQ5NDFaMAAwWTATBgcq
hkjOPQIBBggqhkjOPQMBBwNCAASRyDLsFInX5pwyHR0OT8nr0oh9F5aCjfaPe26q
5Z4+ckNmkrgYDbYMlyVb4yi3SszEAIC2CUnj+nxytqiw2Mxio4GHMIGEMA4GA1Ud
DwEB/wQEAwIHgDATBgNVHSUEDDAKBggrBgEFBQcDATAdBgNVHREEFjAUghJidWls
ZC5hY21lLmV4YW1wbGUwHwYDVR0jBBgwFoAUk6tGHf2ptDnvYCzj/JNayWVqUUow
HQYDVR0OBBYEFP9CA3x41Uu40fc/TZv57LVjk+xEMAoGCCqGSM49BAMCA0gAMEUC
IQDprJmgT2LblPRK9VBcx3YZirrCA5i5NAQ0p0yai0GdnwIgRqOj19P8ICF6dpQT
r4W84SoV2Wv8x68qnHHbNPZuSPk=
-----END CERTIFICATE-----
`,
  leafPlain: `-----BEGIN CERTIFICATE-----
MIIBzDCCAXKgAwIBAgIURJuOAHQfdMhxQrE6avSi6O1rV24wCgYIKoZIzj0EAwIw
NDEWMBQGA1UECgwNb2NpLXRvb2wgdGVzdDEaMBgGA1UEAwwRdGVzdCBpbnRlcm1l
ZGlhdGUwIBcNMjYxMTI5MDY0OTQxWhgPMjEyNTA2MjMwNjQ5NDFaMBUxEzARBgNV
BAMMCnBsYWluIGxlYWYwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAASGT5PV7v+n
O05E3sMIgAp9LiWv2A7uZwX6vhz68Msylb8PzwUbTPrulV3xLmYU5epqJ9eVXK4D
GnmB4ympmDHWo38wfTAOBgNVHQ8BAf8EBAMCB4AwKwYDVR0RBCQwIoIOKi5hY21l
LmV4YW1wbGWBEG9wc0BhY21lLmV4YW1wbGUwHwYDVR0jBBgwFoAUk6tGHf2ptDnv
YCzj/JNayWVqUUowHQYDVR0OBBYEFFXzIbHt6iYVR4HAuPISzEybGbaXMAoGCCqG
SM49BAMCA0gAMEUCIDfcWz1ROoeR92jKWVgW9Zzo9UCJzER1qrtGE+Q4AOxnAiEA
skaSRDSUpWImfbeJFy+AojK99zwy/EaWCZkn9tIypfw=
-----END CERTIFICATE-----
`,
  leafDeep: `-----BEGIN CERTIFICATE-----
MIIBzTCCAXOgAwIBAgIUEMCfjHt0v/p8wgz5928kcTS3OaYwCgYIKoZIzj0EAwIw
NjEWMBQGA1UECgwNb2NpLXRvb2wgdGVzdDEcMBoGA1UEAwwTc2Vjb25kIGludGVy
bWVkaWF0ZTAgFw0yNjExMjkwNjQ5NDFaGA8yMTI1MDYyMzA2NDk0MVowFDESMBAG
A1UEAwwJZGVlcCBsZWFmMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE/IKzuI9Y
shVIkEM3PMbITst7kZk6UJgMg2p5Cel5XWyIM9Ew1iC0D9yFxBnlMzUXNYE6zcim
7pUchsAwFKIPmaN/MH0wDgYDVR0PAQH/BAQDAgeAMCsGA1UdEQQkMCKCDiouYWNt
ZS5leGFtcGxlgRBvcHNAYWNtZS5leGFtcGxlMB8GA1UdIwQYMBaAFC+gtoVxMkdu
XZN7348GlPA0M3aBMB0GA1UdDgQWBBScqV5eLfuIQvQW2PmQSwT+dmlVVTAKBggq
hkjOPQQDAgNIADBFAiBimdhEZicMf3myc570ImbLWa8yu4o2cBxAR71sCqeNnQIh
ALFTnNr8s3wqdLNRY4btJVpRaPKu3KP7j6Y/JrtSTcFj
-----END CERTIFICATE-----
`,
  leafNotCA: `-----BEGIN CERTIFICATE-----
MIIBzTCCAXKgAwIBAgIUTcb7hZspCA26hYdZJCuO1pWIIhwwCgYIKoZIzj0EAwIw
KzEWMBQGA1UECgwNb2NpLXRvb2wgdGVzdDERMA8GA1UEAwwIbm90IGEgQ0EwIBcN
MjYxMTI5MDY0OTQxWhgPMjEyNTA2MjMwNjQ5NDFaMB4xHDAaBgNVBAMME2xlYWYg
dW5kZXIgYSBub24tQ0EwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAATpm0r1O7UK
9MuUKEDEepA6klh+F2dik2nEpM2rTHnLwyvEyKkvDO3y5cQLlpFvf2xiRP1mxTfe
rgheRCMhHkE2o38wfTAOBgNVHQ8BAf8EBAMCB4AwKwYDVR0RBCQwIoIOKi5hY21l
LmV4YW1wbGWBEG9wc0BhY21lLmV4YW1wbGUwHwYDVR0jBBgwFoAUJTTvz8nE5wiY
sM3ic++pZW1ESTAwHQYDVR0OBBYEFP0DaTdNFeUZy+nyvrp+ZBM2XbqiMAoGCCqG
SM49BAMCA0kAMEYCIQDjz9/bi5WW6lN1mOqDi0mTejE56PcmQcwJEnkp67OsbQIh
AMOU6txl4TOhF1lc0oPasOtuAdzy4j7D3tPGHG1wB3rs
-----END CERTIFICATE-----
`,
};
const LEAF_A_KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg6rJSBI6eAJEm+O+e
FemXrvaDGqInE7zwbe1nudEJPMyhRANCAATP0/sTKbJ44J7p7GHz5W3im2z18jbW
HwdQp4fgCF7wtvQOz2YaCc7cdD8Ktj5QirdPWtRTfHLvYrFF+6ceMSFj
-----END PRIVATE KEY-----
`;


const rejects = (run: () => unknown, fragment: string, code: ErrorCode = 'OCI_ERR_SIGNATURE') => {
  const f = failure(run);
  expect(f.message).toContain(fragment);
  expect(f.code).toBe(code);
};

const cert = (pem: string) => new X509Certificate(pem);
const AT = new Date('2030-01-01T00:00:00Z');

const fulcioVector = cosignVector('dir-img-cosign-fulcio-rekor-valid--signature-1.json');
const pkiVector = cosignVector('dir-img-cosign-pki-valid--signature-1.json');
const FULCIO_LEAF = fulcioVector.annotations[CERTIFICATE_ANNOTATION] as string;
const FULCIO_CHAIN = fulcioVector.annotations[CHAIN_ANNOTATION] as string;
const FULCIO_ROOT = rawText('fulcio_v1.crt.pem');
const PKI_LEAF = pkiVector.annotations[CERTIFICATE_ANNOTATION] as string;
const pki = pkiVector.pki as NonNullable<typeof pkiVector.pki>;

describe('readCertificateFields (DER)', () => {
  it('reads the Fulcio leaf: exact validity and its extensions with criticality', () => {
    const f = readCertificateFields(cert(FULCIO_LEAF).raw);
    expect(f.notBefore.toISOString()).toBe('2023-01-20T20:51:31.000Z');
    expect(f.notAfter.toISOString()).toBe('2023-01-20T21:01:31.000Z');
    expect([...f.extensions].map(([oid, e]) => `${oid}${e.critical ? '!' : ''}`)).toEqual([
      '2.5.29.15!', '2.5.29.37', '2.5.29.14', '2.5.29.35', '2.5.29.17!', OID.fulcioIssuerV1, '1.3.6.1.4.1.11129.2.4.2',
    ]);
    expect(f.extensions.get(OID.fulcioIssuerV1)?.value.toString()).toBe('https://github.com/login/oauth');
  });

  it('reads GeneralizedTime (after 2049) in the PKI leaf', () => {
    const f = readCertificateFields(cert(PKI_LEAF).raw);
    expect(f.notBefore.toISOString()).toBe('2024-10-01T14:28:43.000Z');
    expect(f.notAfter.toISOString()).toBe('2052-02-16T14:28:43.000Z');
  });

  it('agrees with node on the validity of every certificate in the vectors', () => {
    const texts = readdirSync(join(COSIGN_DIR, 'raw')).filter((n) => /crt|cert|chain/.test(n)).map((n) => rawText(n));
    texts.push(FULCIO_LEAF, FULCIO_CHAIN, PKI_LEAF, ...Object.values(PEM));
    let count = 0;
    for (const text of texts) {
      for (const c of parseCertificates(text, 'test')) {
        const f = readCertificateFields(c.raw);
        expect(f.notBefore.getTime()).toBe(Date.parse(c.validFrom));
        expect(f.notAfter.getTime()).toBe(Date.parse(c.validTo));
        count++;
      }
    }
    expect(count).toBeGreaterThan(20);
  });

  it('stays in bounds on every truncation and on corrupted lengths', () => {
    const der = cert(FULCIO_LEAF).raw;
    for (let n = 0; n < der.length; n++) expect(() => readCertificateFields(der.subarray(0, n))).toThrow();
    for (let i = 0; i < 64; i++) {
      for (const value of [0x00, 0x7f, 0x80, 0x84, 0x85, 0xff]) {
        const bad = Buffer.from(der);
        bad[i] = value;
        try {
          readCertificateFields(bad);
        } catch (e) {
          expect(e).toBeInstanceOf(Error);
          expect((e as Error).message).toMatch(/DER|malformed|OID|time|unexpected|extension|flag/);
        }
      }
    }
  });

  it('refuses lengths DER does not allow', () => {
    expect(() => readCertificateFields(Buffer.from([0x30, 0x80, 0x00, 0x00]))).toThrow('unsupported DER length');
    expect(() => readCertificateFields(Buffer.from([0x30, 0x85, 1, 0, 0, 0, 0]))).toThrow('unsupported DER length');
    expect(() => readCertificateFields(Buffer.from([0x30, 0x03, 0x30, 0x01]))).toThrow('truncated DER');
  });
});

describe('PEM', () => {
  it('reads concatenated certificates and refuses anything else', () => {
    expect(parseCertificates(FULCIO_CHAIN, 'chain')).toHaveLength(2);
    expect(parsePem(`\n${PEM.root}\n`, 'x')).toHaveLength(1);
    rejects(() => parsePem(`junk\n${PEM.root}`, 'chain'), 'chain cannot be parsed: data outside the PEM blocks');
    rejects(() => parseCertificates(rawText('cosign.pub'), 'the chain'), 'the chain holds a PUBLIC KEY, not a CERTIFICATE');
    rejects(() => parseCertificates('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n', 'the chain', 'OCI_ERR_BAD_KEY'), 'the chain cannot be parsed', 'OCI_ERR_BAD_KEY');
    rejects(() => parsePem('-----BEGIN CERTIFICATE-----\nA*AA\n-----END CERTIFICATE-----\n', 'x'), 'x cannot be parsed: not PEM');
  });
});

describe('subject alternative names and the Fulcio issuer', () => {
  it('reads them from the vectors', () => {
    expect(subjectAlternativeNames(cert(FULCIO_LEAF))).toEqual({ emails: ['mitr@redhat.com'], dnsNames: [], uris: [] });
    expect(fulcioIssuer(cert(FULCIO_LEAF))).toBe('https://github.com/login/oauth');
    expect(subjectAlternativeNames(cert(PKI_LEAF))).toEqual({ emails: ['qiwan@redhat.com'], dnsNames: ['myhost.example.com'], uris: [] });
    expect(fulcioIssuer(cert(PKI_LEAF))).toBeUndefined();
    expect(fulcioIssuer(cert(FULCIO_ROOT))).toBeUndefined();
  });

  it('reads URIs and the UTF8String issuer extension (1.3.6.1.4.1.57264.1.8)', () => {
    expect(subjectAlternativeNames(cert(PEM.leafA))).toEqual({
      emails: ['ci@acme.example'], dnsNames: [], uris: ['https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main'],
    });
    expect(fulcioIssuer(cert(PEM.leafA))).toBe('https://token.actions.githubusercontent.com');
    expect(fulcioIssuer(cert(PEM.leafV2))).toBe('https://accounts.google.com');
  });

  it('refuses a certificate whose two issuer extensions disagree', () => {
    rejects(() => fulcioIssuer(cert(PEM.leafB)), 'certificate has two different OIDC issuers: "https://token.actions.githubusercontent.com" and "https://accounts.google.com"');
  });
});

describe('verifyCertificateChain', () => {
  const integrated = new Date(1674247893 * 1000);

  it('builds the vectors’ paths', () => {
    const path = verifyCertificateChain(FULCIO_LEAF, [FULCIO_CHAIN], [FULCIO_ROOT], integrated);
    expect(path.map((c) => c.subject?.split('\n').pop())).toEqual([undefined, 'CN=sigstore-intermediate', 'CN=sigstore']);
    expect(verifyCertificateChain(PKI_LEAF, [pki.caIntermediates], [pki.caRoots], new Date())).toHaveLength(3);
  });

  it('checks the short-lived Fulcio certificate at the given time only', () => {
    rejects(() => verifyCertificateChain(FULCIO_LEAF, [FULCIO_CHAIN], [FULCIO_ROOT], new Date()), 'the certificate has expired at');
    rejects(() => verifyCertificateChain(FULCIO_LEAF, [FULCIO_CHAIN], [FULCIO_ROOT], new Date('2023-01-20T20:51:30Z')), 'the certificate is not yet valid at 2023-01-20T20:51:30.000Z (valid from 2023-01-20T20:51:31.000Z)');
  });

  it('needs the intermediates, and trust only from the roots', () => {
    rejects(() => verifyCertificateChain(FULCIO_LEAF, [], [FULCIO_ROOT], integrated), 'no valid certificate path to a trusted root');
    rejects(() => verifyCertificateChain(PKI_LEAF, [], [pki.caRoots], new Date()), 'no valid certificate path to a trusted root');
    rejects(() => verifyCertificateChain(PKI_LEAF, [pki.caIntermediates], [FULCIO_ROOT], new Date()), 'no valid certificate path to a trusted root');
    rejects(() => verifyCertificateChain(PKI_LEAF, [pki.caIntermediates, pki.caRoots], [FULCIO_ROOT], new Date()), 'no valid certificate path');
  });

  it('refuses unusable roots as a configuration error', () => {
    rejects(() => verifyCertificateChain(FULCIO_LEAF, [], [], integrated), 'no trusted root certificates are configured', 'OCI_ERR_BAD_KEY');
    rejects(() => verifyCertificateChain(FULCIO_LEAF, [], ['not pem'], integrated), 'trusted root 1 cannot be parsed: not PEM', 'OCI_ERR_BAD_KEY');
    rejects(() => verifyCertificateChain(`${FULCIO_LEAF}${FULCIO_LEAF}`, [], [FULCIO_ROOT], integrated), 'the certificate holds 2 certificates, not one');
  });

  it('accepts an intermediate trusted directly, and a leaf trusted as itself', () => {
    expect(verifyCertificateChain(PEM.leafA, [], [PEM.inter], AT)).toHaveLength(2);
    expect(verifyCertificateChain(PEM.leafA, [], [PEM.leafA], AT)).toHaveLength(1);
  });

  it('finds the path among unrelated and repeated candidates', () => {
    const path = verifyCertificateChain(PEM.leafA, [PEM.notca, PEM.inter2, PEM.leafB, PEM.inter, PEM.inter, PEM.root], [PEM.root], AT);
    expect(path.map((c) => c.subject?.split('\n').pop())).toEqual([undefined, 'CN=test intermediate', 'CN=test root']);
    rejects(() => verifyCertificateChain(PEM.leafA, Array(33).fill(PEM.inter) as string[], [PEM.root], AT), 'the certificate chain holds 33 certificates, more than 32');
  });

  it('enforces CA constraints on issuers', () => {
    rejects(() => verifyCertificateChain(PEM.leafNotCA, [PEM.notca], [PEM.root], AT), 'no valid certificate path to a trusted root: CA certificate "O=oci-tool test, CN=not a CA" is not a CA');
    rejects(() => verifyCertificateChain(PEM.leafDeep, [PEM.inter2, PEM.inter], [PEM.root], AT), 'CA certificate "O=oci-tool test, CN=test intermediate" allows at most 0 intermediate(s) below it');
    // A root's path length binds too (as in Go); trusting the second intermediate itself is fine.
    rejects(() => verifyCertificateChain(PEM.leafDeep, [PEM.inter2], [PEM.inter], AT), 'allows at most 0 intermediate(s) below it');
    expect(verifyCertificateChain(PEM.leafDeep, [], [PEM.inter2], AT)).toHaveLength(2);
  });

  it('refuses unknown critical extensions, other key purposes and other times', () => {
    rejects(() => verifyCertificateChain(PEM.leafCrit, [PEM.inter], [PEM.root], AT), 'the certificate has an unsupported critical extension 1.2.3.4');
    rejects(() => verifyCertificateChain(PEM.leafServer, [PEM.inter], [PEM.root], AT), 'the certificate is not valid for code signing');
    rejects(() => verifyCertificateChain(PEM.leafA, [PEM.inter], [PEM.root], new Date('2020-01-01T00:00:00Z')), 'the certificate is not yet valid at 2020-01-01');
    rejects(() => verifyCertificateChain(PEM.leafA, [PEM.inter], [PEM.root], new Date('2200-01-01T00:00:00Z')), 'the certificate has expired at 2200-01-01');
  });
});

describe('checkCertificateIdentity', () => {
  const uri = 'https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main';
  const actions = 'https://token.actions.githubusercontent.com';

  it('matches the vectors’ identities', () => {
    expect(checkCertificateIdentity(cert(FULCIO_LEAF), { subjectEmail: 'mitr@redhat.com', oidcIssuer: 'https://github.com/login/oauth' })).toEqual({
      identity: 'mitr@redhat.com', issuer: 'https://github.com/login/oauth',
    });
    expect(checkCertificateIdentity(cert(PKI_LEAF), { subjectEmail: 'qiwan@redhat.com', subjectHostname: 'myhost.example.com' })).toEqual({ identity: 'qiwan@redhat.com' });
    rejects(() => checkCertificateIdentity(cert(PKI_LEAF), { subjectHostname: 'otherhost.example.com' }), 'certificate does not name host "otherhost.example.com" (its DNS names: "myhost.example.com")');
  });

  it('matches exactly or by (unanchored) regexp, like cosign', () => {
    const c = cert(PEM.leafA);
    expect(checkCertificateIdentity(c, { subject: uri, oidcIssuer: actions })).toEqual({ identity: uri, issuer: actions });
    expect(checkCertificateIdentity(c, { subject: 'ci@acme.example' }).identity).toBe('ci@acme.example');
    const re = /github\.com\/acme\//g;
    for (let i = 0; i < 3; i++) expect(checkCertificateIdentity(c, { subjectRegExp: re, oidcIssuerRegExp: /^https:\/\/token\.actions\./y }).identity).toBe(uri);
    rejects(() => checkCertificateIdentity(c, { subject: 'https://github.com/acme/app' }), 'certificate does not name "https://github.com/acme/app" (its names: "ci@acme.example", "https://github.com/acme/app/');
    rejects(() => checkCertificateIdentity(c, { subjectRegExp: /^https:\/\/gitlab\.com\// }), 'no name of the certificate matches /^https:\\/\\/gitlab\\.com\\//');
    rejects(() => checkCertificateIdentity(c, { subjectEmail: 'CI@acme.example' }), 'certificate does not name e-mail "CI@acme.example" (its e-mail names: "ci@acme.example")');
    rejects(() => checkCertificateIdentity(c, { oidcIssuer: 'https://accounts.google.com' }), `certificate was issued for OIDC issuer "${actions}", not "https://accounts.google.com"`);
    rejects(() => checkCertificateIdentity(c, { oidcIssuerRegExp: /google/ }), `certificate's OIDC issuer "${actions}" does not match /google/`);
  });

  it('matches host names with TLS wildcards, never the common name', () => {
    const c = cert(PEM.leafPlain);
    expect(checkCertificateIdentity(c, { subjectHostname: 'build.acme.example' }).identity).toBe('build.acme.example');
    rejects(() => checkCertificateIdentity(c, { subjectHostname: 'acme.example' }), 'does not name host "acme.example"');
    rejects(() => checkCertificateIdentity(c, { subjectHostname: 'a.b.acme.example' }), 'does not name host');
    rejects(() => checkCertificateIdentity(c, { subjectHostname: 'plain leaf' }), 'does not name host');
    rejects(() => checkCertificateIdentity(c, { oidcIssuer: actions }), 'certificate has no OIDC issuer extension');
  });
});

describe('a keyless signature end to end, with this PKI and a Rekor key made here', () => {
  const rekor = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const digest = `sha256:${'3'.repeat(64)}`;
  const payload = createPayload('registry.example/acme/app', digest);
  const signature = sign('sha256', payload, { key: createPrivateKey(LEAF_A_KEY), dsaEncoding: 'der' });
  const setAt = (seconds: number, signerPem = PEM.leafA) =>
    makeRekorSet({ rekorKey: rekor.privateKey, rekorPublicKey: rekor.publicKey, payload, signature, signerPem, integratedTime: seconds });
  const sig = (annotations: Record<string, string>) => ({ payload, signature: signature.toString('base64'), annotations, mediaType: SIMPLE_SIGNING_MEDIA_TYPE });
  const at2030 = AT.getTime() / 1000;
  const annotations = { [CERTIFICATE_ANNOTATION]: PEM.leafA, [CHAIN_ANNOTATION]: `${PEM.inter}${PEM.root}`, [BUNDLE_ANNOTATION]: setAt(at2030) };
  const trust: LegacyTrust = {
    rekorPublicKeys: [rekor.publicKey],
    fulcio: { roots: [PEM.root], subjectRegExp: /^https:\/\/github\.com\/acme\/app\//, oidcIssuer: 'https://token.actions.githubusercontent.com' },
  };
  const expected = { manifestDigest: digest, dockerReference: 'registry.example/acme/app:v1' };

  it('accepts it and names the signer', () => {
    const got = verifyLegacySignature(sig(annotations), trust, expected);
    expect(got.signer).toEqual({ kind: 'fulcio', identity: 'https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main', issuer: 'https://token.actions.githubusercontent.com' });
    expect(got.integratedTime).toEqual(AT);
  });

  it('checks the certificate at the SET’s time, and the SET against the certificate', () => {
    rejects(() => verifyLegacySignature(sig({ ...annotations, [BUNDLE_ANNOTATION]: setAt(1_600_000_000) }), trust, expected), 'the certificate is not yet valid at 2020-09-13');
    rejects(() => verifyLegacySignature(sig({ ...annotations, [BUNDLE_ANNOTATION]: setAt(at2030, PEM.leafV2) }), trust, expected), 'Rekor SET names a different public key or certificate');
    rejects(() => verifyLegacySignature(sig({ ...annotations, [CERTIFICATE_ANNOTATION]: PEM.leafV2 }), trust, expected), 'Rekor SET names a different public key or certificate');
  });

  it('refuses a certificate whose key did not make the signature', () => {
    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const forged = sign('sha256', payload, { key: other.privateKey, dsaEncoding: 'der' });
    const bundle = makeRekorSet({ rekorKey: rekor.privateKey, rekorPublicKey: rekor.publicKey, payload, signature: forged, signerPem: PEM.leafA, integratedTime: at2030 });
    rejects(() => verifyLegacySignature({ ...sig({ ...annotations, [BUNDLE_ANNOTATION]: bundle }), signature: forged.toString('base64') }, trust, expected), "signature does not verify with the certificate's key");
  });

  it('needs an identity and an issuer in the Fulcio trust', () => {
    const f = trust.fulcio as NonNullable<LegacyTrust['fulcio']>;
    rejects(() => verifyLegacySignature(sig(annotations), { ...trust, fulcio: { roots: f.roots, oidcIssuer: f.oidcIssuer } }, expected), 'Fulcio trust needs a certificate identity', 'OCI_ERR_BAD_KEY');
    rejects(() => verifyLegacySignature(sig(annotations), { ...trust, fulcio: { roots: f.roots, subject: 'x' } }, expected), 'Fulcio trust needs an OIDC issuer', 'OCI_ERR_BAD_KEY');
    rejects(() => verifyLegacySignature(sig(annotations), { ...trust, fulcio: { ...f, oidcIssuer: 'https://accounts.google.com' } }, expected), 'certificate was issued for OIDC issuer');
  });
});
