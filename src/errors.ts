// The one place that names every failure oci-tool reports and the exit code each maps to.
// Errors cross module (and package-copy) boundaries by their string code, not by class identity.

export const ExitCode = {
  OK: 0,
  FAILURE: 1,
  USAGE: 2,
  NOT_FOUND: 3,
  AUTH: 4,
  VERIFICATION: 5,
  NETWORK: 6,
  UNSUPPORTED: 7,
  INTERRUPTED: 130,
} as const;
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/** Stable codes, each with the exit code the CLI uses for it. */
const codeTable = {
  OCI_ERR_USAGE: ExitCode.USAGE,
  OCI_ERR_BAD_REFERENCE: ExitCode.USAGE,
  OCI_ERR_BAD_PLATFORM: ExitCode.USAGE,
  OCI_ERR_BAD_CONFIG: ExitCode.USAGE,
  OCI_ERR_NOT_FOUND: ExitCode.NOT_FOUND,
  OCI_ERR_PLATFORM_NOT_FOUND: ExitCode.NOT_FOUND,
  OCI_ERR_AUTH: ExitCode.AUTH,
  OCI_ERR_DIGEST_MISMATCH: ExitCode.VERIFICATION,
  OCI_ERR_SIZE_MISMATCH: ExitCode.VERIFICATION,
  OCI_ERR_INVALID_CONTENT: ExitCode.VERIFICATION,
  OCI_ERR_SIGNATURE: ExitCode.VERIFICATION,
  OCI_ERR_POLICY: ExitCode.VERIFICATION,
  OCI_ERR_BAD_KEY: ExitCode.USAGE,
  OCI_ERR_BAD_PASSWORD: ExitCode.AUTH,
  OCI_ERR_NETWORK: ExitCode.NETWORK,
  OCI_ERR_REGISTRY: ExitCode.NETWORK,
  OCI_ERR_RATE_LIMITED: ExitCode.NETWORK,
  OCI_ERR_UNSUPPORTED: ExitCode.UNSUPPORTED,
  OCI_ERR_LAYOUT: ExitCode.FAILURE,
  OCI_ERR_ABORTED: ExitCode.INTERRUPTED,
  OCI_ERR_INTERNAL: ExitCode.FAILURE,
} as const satisfies Record<string, ExitCodeValue>;

export type ErrorCode = keyof typeof codeTable;

const brand = Symbol.for('oci-tool.error');

export class OciToolError extends Error {
  readonly code: ErrorCode;
  readonly [brand] = true;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'OciToolError';
    this.code = code;
  }

  get exitCode(): ExitCodeValue {
    return codeTable[this.code];
  }
}

export function isOciToolError(e: unknown): e is OciToolError {
  return typeof e === 'object' && e !== null && (e as Record<symbol, unknown>)[brand] === true;
}

/** Exit code for any thrown value; unknown errors are failures, aborts are interrupts. */
export function exitCodeOf(e: unknown): ExitCodeValue {
  if (isOciToolError(e)) return e.exitCode;
  if (e instanceof Error && e.name === 'AbortError') return ExitCode.INTERRUPTED;
  return ExitCode.FAILURE;
}

/** One line for a terminal: never a stack trace. */
export function describeError(e: unknown): string {
  if (isOciToolError(e)) return e.message;
  if (e instanceof Error) return e.message.split('\n')[0] ?? e.name;
  return String(e);
}

/** Control characters escaped, so that a name taken from input keeps a message on one line. */
export const oneLine = (s: string): string => s.replace(/\p{Cc}/gu, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);

export const usageError = (msg: string) => new OciToolError('OCI_ERR_USAGE', msg);
export const notFound = (msg: string) => new OciToolError('OCI_ERR_NOT_FOUND', msg);
