// Keyless signing in the legacy format: @sigstore/sign produces a message-signature bundle (Fulcio
// certificate, Rekor hashedrekord entry with its signed entry timestamp), which is then written as
// the annotations cosign uses: signature, certificate, chain and the Rekor "bundle" (SET).
import type { Signer, Witness } from '@sigstore/sign';
import { OciToolError } from '../errors.js';
import { certificatePem as pem } from './trusted-root.js';
import { BUNDLE_ANNOTATION, CERTIFICATE_ANNOTATION, CHAIN_ANNOTATION, SIGNATURE_ANNOTATION } from './simple-signing.js';

interface BundleJson {
  messageSignature?: { signature?: string };
  verificationMaterial?: {
    certificate?: { rawBytes: string };
    x509CertificateChain?: { certificates: { rawBytes: string }[] };
    tlogEntries?: {
      logIndex?: string;
      logId: { keyId: string };
      integratedTime?: string;
      inclusionPromise?: { signedEntryTimestamp: string };
      canonicalizedBody: string;
    }[];
  };
}

export async function legacyKeylessAnnotations(payload: Buffer, signer: Signer, witnesses: Witness[]): Promise<Record<string, string>> {
  const [{ MessageSignatureBundleBuilder }, { bundleToJSON }] = await Promise.all([import('@sigstore/sign'), import('@sigstore/bundle')]);
  const bundle = await new MessageSignatureBundleBuilder({ signer, witnesses }).create({ data: payload });
  return legacyAnnotationsFromBundle(bundleToJSON(bundle) as BundleJson);
}

/** The cosign annotations carrying what a message-signature bundle holds. */
export function legacyAnnotationsFromBundle(b: BundleJson): Record<string, string> {
  const sig = b.messageSignature?.signature;
  const vm = b.verificationMaterial;
  const certs = vm?.x509CertificateChain?.certificates.map((c) => c.rawBytes) ?? (vm?.certificate ? [vm.certificate.rawBytes] : []);
  const entry = vm?.tlogEntries?.[0];
  if (!sig || certs.length === 0 || !entry?.inclusionPromise) {
    throw new OciToolError('OCI_ERR_SIGNATURE', 'keyless signing returned no signature, certificate or transparency-log promise');
  }
  const annotations: Record<string, string> = {
    [SIGNATURE_ANNOTATION]: sig,
    [CERTIFICATE_ANNOTATION]: pem(certs[0] as string),
    [BUNDLE_ANNOTATION]: JSON.stringify({
      SignedEntryTimestamp: entry.inclusionPromise.signedEntryTimestamp,
      Payload: {
        body: entry.canonicalizedBody,
        // Protobuf JSON leaves out int64 zeros: the first entry of a log has no logIndex.
        integratedTime: Number(entry.integratedTime ?? 0),
        logIndex: Number(entry.logIndex ?? 0),
        logID: Buffer.from(entry.logId.keyId, 'base64').toString('hex'),
      },
    }),
  };
  if (certs.length > 1) annotations[CHAIN_ANNOTATION] = certs.slice(1).map(pem).join('');
  return annotations;
}
