// Checks OCI documents against oci-tool's own JSON Schemas (schemas/), compiled to plain functions
// at build time by scripts/compile-schemas.mjs, so nothing is compiled at run time.
import { OciToolError, oneLine } from '../errors.js';
import {
  patternTitles,
  validateDescriptor,
  validateImageConfig,
  validateImageIndex,
  validateImageLayout,
  validateImageManifest,
  validateRuntimeConfig,
} from '../generated/validators.js';
import type { ValidationError, Validator } from '../generated/validators.js';

export type DocumentKind = 'runtime-config' | 'manifest' | 'index' | 'image-config' | 'descriptor' | 'layout';

/** One fault: the JSON pointer of the field at fault ('' for the whole document) and what is wrong. */
export interface SchemaProblem {
  readonly pointer: string;
  readonly message: string;
}

const validators: Record<DocumentKind, Validator> = {
  'runtime-config': validateRuntimeConfig,
  manifest: validateImageManifest,
  index: validateImageIndex,
  'image-config': validateImageConfig,
  descriptor: validateDescriptor,
  layout: validateImageLayout,
};

/** Every fault found in `doc` (an already parsed JSON value); empty when it is valid. */
export function checkDocument(kind: DocumentKind, doc: unknown): SchemaProblem[] {
  const validate = validators[kind];
  const problems = validate(doc) ? [] : toProblems(validate.errors ?? []);
  if (kind === 'runtime-config') problems.push(...runtimeDuplicates(doc));
  const seen = new Set<string>();
  return problems
    .filter((p) => {
      const key = `${p.pointer}\n${p.message}`;
      return seen.has(key) ? false : (seen.add(key), true);
    })
    .sort((a, b) => (a.pointer < b.pointer ? -1 : a.pointer > b.pointer ? 1 : 0));
}

/** Throws OCI_ERR_INVALID_CONTENT naming the fields at fault, e.g. `config.json is invalid: /root/path: is required`. */
export function assertValid(kind: DocumentKind, doc: unknown, what: string): void {
  const problems = checkDocument(kind, doc);
  if (problems.length === 0) return;
  const shown = problems.slice(0, 10).map((p) => `${oneLine(p.pointer) || '(root)'}: ${p.message}`);
  if (problems.length > shown.length) shown.push(`and ${problems.length - shown.length} more`);
  throw new OciToolError('OCI_ERR_INVALID_CONTENT', `${what} is invalid: ${shown.join('; ')}`);
}

function toProblems(errors: readonly ValidationError[]): SchemaProblem[] {
  // anyOf branches are alternatives: report the anyOf once, not each branch's failure.
  const alternatives = errors.filter((e) => e.keyword === 'anyOf' || e.keyword === 'oneOf');
  const branchOf = (e: ValidationError) =>
    alternatives.find((a) => a !== e && e.instancePath.startsWith(a.instancePath) && (e.schemaPath ?? '').startsWith(`${a.schemaPath}/`));
  const out: SchemaProblem[] = [];
  for (const e of errors) {
    // `if` only says which branch failed; that branch's own errors say why.
    if (e.keyword === 'if' || e.propertyName !== undefined || branchOf(e)) continue;
    out.push(describe(e, errors.filter((b) => branchOf(b) === e)));
  }
  return out;
}

function describe(e: ValidationError, branches: readonly ValidationError[]): SchemaProblem {
  const p = (e.params ?? {}) as Record<string, unknown>;
  const at = (key: unknown) => `${e.instancePath}/${String(key).replace(/~/g, '~0').replace(/\//g, '~1')}`;
  switch (e.keyword) {
    case 'required':
      return { pointer: at(p.missingProperty), message: 'is required' };
    case 'dependencies':
      return { pointer: at(p.missingProperty), message: `is required with ${String(p.property)}` };
    case 'propertyNames':
      return { pointer: at(p.propertyName), message: 'is not an allowed key' };
    case 'false schema':
      return { pointer: e.instancePath, message: 'must not be set here' };
    case 'pattern': {
      const title = patternTitles[String(p.pattern)];
      return { pointer: e.instancePath, message: title ? `must be ${title}` : (e.message ?? 'has the wrong form') };
    }
    case 'enum': {
      const values = (p.allowedValues as unknown[]).map((v) => (typeof v === 'string' ? v : JSON.stringify(v)));
      const list = values.length > 10 ? `${values.slice(0, 10).join(', ')}, …` : values.join(', ');
      return { pointer: e.instancePath, message: `must be one of ${list}` };
    }
    case 'const':
      return { pointer: e.instancePath, message: `must be ${JSON.stringify(p.allowedValue)}` };
    case 'anyOf':
    case 'oneOf': {
      const names = branches.filter((b) => b.keyword === 'required').map((b) => String((b.params as Record<string, unknown>).missingProperty));
      const message = names.length > 0 && names.length === branches.length ? `needs ${names.join(' or ')}` : 'matches none of the allowed forms';
      return { pointer: e.instancePath, message };
    }
    default:
      return { pointer: e.instancePath, message: e.message ?? `fails ${e.keyword}` };
  }
}

// Duplicates the runtime spec says a runtime MUST reject; a schema cannot express them.
function runtimeDuplicates(doc: unknown): SchemaProblem[] {
  const lists: [string, unknown][] = [
    ['/process/rlimits', get(doc, 'process', 'rlimits')],
    ['/linux/namespaces', get(doc, 'linux', 'namespaces')],
    ['/zos/namespaces', get(doc, 'zos', 'namespaces')],
  ];
  const out: SchemaProblem[] = [];
  for (const [path, list] of lists) {
    if (!Array.isArray(list)) continue;
    const first = new Map<unknown, number>();
    list.forEach((entry, i) => {
      const type = get(entry, 'type');
      if (typeof type !== 'string') return;
      const j = first.get(type);
      if (j === undefined) first.set(type, i);
      else out.push({ pointer: `${path}/${i}/type`, message: `duplicates ${path}/${j}/type` });
    });
  }
  return out;
}

function get(value: unknown, ...keys: string[]): unknown {
  let v = value;
  for (const k of keys) v = typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>)[k] : undefined;
  return v;
}
