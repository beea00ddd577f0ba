import { describe, expect, it } from 'vitest';
import { OciToolError, exitCodeOf, isOciToolError, describeError, ExitCode } from '../../src/errors.js';

describe('errors', () => {
  it('maps codes to exit codes', () => {
    expect(exitCodeOf(new OciToolError('OCI_ERR_DIGEST_MISMATCH', 'x'))).toBe(ExitCode.VERIFICATION);
    expect(exitCodeOf(new OciToolError('OCI_ERR_BAD_REFERENCE', 'x'))).toBe(ExitCode.USAGE);
    expect(exitCodeOf(new Error('plain'))).toBe(ExitCode.FAILURE);
  });
  it('recognises errors by brand, not class identity', () => {
    const foreign = Object.assign(new Error('other copy'), { [Symbol.for('oci-tool.error')]: true });
    expect(isOciToolError(foreign)).toBe(true);
    expect(isOciToolError(new Error('no'))).toBe(false);
  });
  it('describes errors on one line', () => {
    expect(describeError(new Error('first\nsecond'))).toBe('first');
  });
});
