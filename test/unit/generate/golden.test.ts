// oci-tool generate against the outputs of the real oci-runtime-tool generate (runtime-tools v0.9.0).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { afterAll, describe, expect, test } from 'vitest';
import { parseGenerateArgs } from '../../../src/cli/generate.js';
import { isOciToolError } from '../../../src/errors.js';
import { generate } from '../../../src/generate/options.js';
import type { Spec } from '../../../src/generate/spec.js';
import { join } from 'node:path';
import { REFERENCE_DIR } from '../../support/reference.js';

const DIR = join(REFERENCE_DIR, 'oci-runtime-tool');
interface Case { options: string[]; output?: Spec; error?: string }
const cases = existsSync(DIR) ? readdirSync(DIR).filter((f) => /^\d+\.json$/.test(f)).sort() : [];
const load = (f: string) => JSON.parse(readFileSync(`${DIR}/${f}`, 'utf8')) as Case;
// The golden outputs were made on linux/amd64; the default seccomp profile depends on the machine.
const run = (argv: string[], template?: Spec) =>
  JSON.parse(JSON.stringify(generate({ arch: 'amd64', ...parseGenerateArgs(argv) }, template))) as Spec;

/**
 * The documented differences (docs/generate.md) a case's options touch, as changes to the golden
 * output. No case needs one today; a new case that does gets an entry here, not a looser check.
 */
const EXPECTED_DIFFERENCES: Record<string, (golden: Spec) => Spec> = {};
/** Error cases a documented difference makes valid, with the reason. */
const NOW_VALID: Record<string, string> = {};

/** The same command in the whole-argv form of --args (difference 1): `--args a --args b` → `--args a b`. */
function variadicArgs(argv: string[]): string[] | undefined {
  const values = argv.flatMap((a, i) => (argv[i - 1] === '--args' ? [a] : []));
  if (values.length < 2) return undefined;
  return [...argv.filter((a, i) => a !== '--args' && argv[i - 1] !== '--args'), '--args', ...values];
}

describe.skipIf(cases.length === 0)('oci-runtime-tool golden outputs', () => {
  let matching = 0;
  afterAll(() => console.log(`generate golden cases: ${matching} of ${cases.length} match oci-runtime-tool`));
  const base = cases.length > 0 ? load(cases[0]!).output : undefined;

  test.each(cases)('%s', (file) => {
    const c = load(file);
    if (c.output) {
      const expected = (EXPECTED_DIFFERENCES[file] ?? ((g: Spec) => g))(structuredClone(c.output));
      expect(run(c.options)).toEqual(expected);
      // Difference 1: the whole-argv form gives the same config.
      const variadic = variadicArgs(c.options);
      if (variadic) expect(run(variadic)).toEqual(expected);
      // Difference 3: a template equal to the default template changes nothing.
      expect(run(c.options, base)).toEqual(expected);
    } else if (NOW_VALID[file]) {
      expect(() => run(c.options)).not.toThrow();
    } else {
      let error: unknown;
      try {
        run(c.options);
      } catch (e) {
        error = e;
      }
      expect(isOciToolError(error) && error.exitCode).toBe(2);
      // oci-tool's message names the option whose value was refused.
      const flag = c.options.find((o, i) => o.startsWith('--') && (error as Error).message.startsWith(o) && c.options[i + 1] !== undefined);
      expect(flag, (error as Error).message).toBeDefined();
    }
    matching++;
  });

  test('case 001 is the default template', () => {
    expect(base?.hostname).toBe('mrsdalloway');
    expect(base?.ociVersion).toBe('1.3.0');
  });
});
