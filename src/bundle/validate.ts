// `oci-tool validate BUNDLE`: a runtime bundle's config.json against our runtime-spec schema and
// the semantic rules of `oci-runtime-tool validate`, offline. Every fault becomes a problem.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { checkDocument } from '../image/schema.js';
import { checkHooks, checkHostname, checkMounts, checkProcess, checkRoot, checkVersion, type BundleContext } from './validate-config.js';
import { checkLinux, namespacesOf } from './validate-linux.js';
import { isObject, makeReport, type ValidationProblem, type ValidationReport } from './validate-report.js';

export type { ValidationProblem, ValidationReport } from './validate-report.js';

export interface ValidateBundleOptions {
  /** The platform whose rules apply; only Linux is implemented. */
  readonly platform?: 'linux';
}

export async function validateBundle(dir: string, _opts: ValidateBundleOptions = {}): Promise<ValidationReport> {
  const target = join(dir, 'config.json');
  const problems: ValidationProblem[] = [];
  const add = (pointer: string, rule: string, message: string) => void problems.push({ pointer, rule, message });
  const config = await readConfig(target, add);
  if (config === undefined) return makeReport(target, problems);
  for (const p of checkDocument('runtime-config', config)) add(p.pointer, 'schema', p.message);
  if (!isObject(config)) return makeReport(target, problems);
  const ctx: BundleContext = { dir, config, namespaces: namespacesOf(config), add };
  checkVersion(ctx);
  const rootfs = await checkRoot(ctx);
  await checkProcess(ctx, rootfs);
  checkHostname(ctx);
  checkMounts(ctx);
  checkHooks(ctx);
  checkLinux(ctx);
  return makeReport(target, problems);
}

async function readConfig(path: string, add: (pointer: string, rule: string, message: string) => void): Promise<unknown> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    add('', 'config.read', err.code === 'ENOENT' ? 'no config.json in the bundle' : `cannot read it: ${err.message}`);
    return undefined;
  }
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes)) as unknown;
  } catch (e) {
    add('', 'json.parse', e instanceof TypeError ? 'is not UTF-8' : `is not valid JSON: ${(e as Error).message}`);
    return undefined;
  }
}
