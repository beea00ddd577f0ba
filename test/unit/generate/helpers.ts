import { expect } from 'vitest';
import { parseGenerateArgs } from '../../../src/cli/generate.js';
import { isOciToolError } from '../../../src/errors.js';
import { generate } from '../../../src/generate/options.js';
import type { Spec } from '../../../src/generate/spec.js';

/** `oci-tool generate ARGV` as a plain JSON object, on amd64 unless ARGV says otherwise. */
export function gen(argv: string[], template?: Spec): Spec {
  return JSON.parse(JSON.stringify(generate({ arch: 'amd64', ...parseGenerateArgs(argv) }, template))) as Spec;
}

/** `oci-tool generate ARGV` must be a usage error (exit 2) whose message matches. */
export function fails(argv: string[], message: RegExp): void {
  let error: unknown;
  try {
    gen(argv);
  } catch (e) {
    error = e;
  }
  expect(isOciToolError(error), String(error)).toBe(true);
  expect((error as { exitCode: number }).exitCode).toBe(2);
  expect((error as Error).message).toMatch(message);
}

export const DEFAULT = gen([]);
