// Transport names as skopeo (containers-transports(5)) spells them: the path ends at its first ':'.
import { describe, expect, it } from 'vitest';
import { isOciToolError } from '../../../src/errors.js';
import { formatTransportName, parseTransportName } from '../../../src/transport/names.js';

const D = `sha256:${'a'.repeat(64)}`;

function codeOf(input: string): string {
  try {
    parseTransportName(input);
  } catch (e) {
    return isOciToolError(e) ? e.code : `not ours: ${String(e)}`;
  }
  return 'no error';
}

describe('parseTransportName', () => {
  it('reads docker:// references, normalized as docker does', () => {
    expect(parseTransportName('docker://busybox')).toEqual({ kind: 'docker', reference: { registry: 'docker.io', repository: 'library/busybox', tag: 'latest' } });
    expect(parseTransportName('docker://127.0.0.1:5000/a/b:1')).toEqual({ kind: 'docker', reference: { registry: '127.0.0.1:5000', repository: 'a/b', tag: '1' } });
    expect(parseTransportName(`docker://localhost:5000/a@${D}`)).toEqual({ kind: 'docker', reference: { registry: 'localhost:5000', repository: 'a', digest: D } });
  });

  it('refuses docker: without //, and a tag beside a digest', () => {
    expect(codeOf('docker:busybox')).toBe('OCI_ERR_BAD_REFERENCE');
    expect(codeOf(`docker://busybox:1@${D}`)).toBe('OCI_ERR_BAD_REFERENCE');
    expect(codeOf('docker://Busybox')).toBe('OCI_ERR_BAD_REFERENCE');
  });

  it('splits oci: at the first colon, so the ref name may hold colons', () => {
    expect(parseTransportName('oci:/tmp/layout')).toEqual({ kind: 'oci', path: '/tmp/layout' });
    expect(parseTransportName('oci:/tmp/layout:')).toEqual({ kind: 'oci', path: '/tmp/layout' });
    expect(parseTransportName('oci:./l:latest')).toEqual({ kind: 'oci', path: './l', ref: 'latest' });
    expect(parseTransportName('oci:l:127.0.0.1:5000/a/b:1')).toEqual({ kind: 'oci', path: 'l', ref: '127.0.0.1:5000/a/b:1' });
    expect(parseTransportName('oci-archive:img.tar:v1')).toEqual({ kind: 'oci-archive', path: 'img.tar', ref: 'v1' });
  });

  it('reads the @N source index', () => {
    expect(parseTransportName('oci:l:@2')).toEqual({ kind: 'oci', path: 'l', index: 2 });
    expect(parseTransportName('docker-archive:a.tar:@0')).toEqual({ kind: 'docker-archive', path: 'a.tar', index: 0 });
    expect(codeOf('oci:l:@x')).toBe('OCI_ERR_BAD_REFERENCE');
    expect(codeOf('oci:l:@-1')).toBe('OCI_ERR_BAD_REFERENCE');
  });

  it('checks oci ref names against the annotation grammar', () => {
    expect(codeOf('oci:l:has space')).toBe('OCI_ERR_BAD_REFERENCE');
    expect(codeOf('oci:l:-lead')).toBe('OCI_ERR_BAD_REFERENCE');
    expect(codeOf('oci::ref')).toBe('OCI_ERR_BAD_REFERENCE');
  });

  it('takes a tagged docker reference for docker-archive, not a digest', () => {
    expect(parseTransportName('docker-archive:a.tar')).toEqual({ kind: 'docker-archive', path: 'a.tar' });
    expect(parseTransportName('docker-archive:a.tar:busybox:1')).toEqual({ kind: 'docker-archive', path: 'a.tar', ref: 'busybox:1' });
    expect(codeOf(`docker-archive:a.tar:busybox@${D}`)).toBe('OCI_ERR_BAD_REFERENCE');
  });

  it('names what is missing or unknown', () => {
    expect(codeOf('busybox')).toBe('OCI_ERR_BAD_REFERENCE');
    expect(codeOf('/tmp/x')).toBe('OCI_ERR_BAD_REFERENCE');
    expect(codeOf('ftp:x')).toBe('OCI_ERR_BAD_REFERENCE');
    expect(codeOf('containers-storage:busybox')).toBe('OCI_ERR_UNSUPPORTED');
  });

  it('formats names back', () => {
    for (const s of ['docker://docker.io/library/busybox:latest', 'oci:l:a:b', 'oci:l:@3', 'docker-archive:x.tar:busybox:1', 'oci-archive:x.tar']) {
      expect(formatTransportName(parseTransportName(s))).toBe(s);
    }
  });
});
