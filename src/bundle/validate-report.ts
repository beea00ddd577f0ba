// What `validate` returns for a bundle or an image layout: every problem found, never a throw.

export interface ValidationProblem {
  /** JSON pointer of the field at fault ('' for the whole document); in a layout, `<file>#<pointer>`. */
  readonly pointer: string;
  /** Stable rule id, e.g. `root.path.exists`; `schema` (or `<kind>.schema`) for JSON Schema faults. */
  readonly rule: string;
  readonly message: string;
}

export interface ValidationReport {
  /** What was checked: `DIR/config.json` or the layout directory. */
  readonly target: string;
  readonly ok: boolean;
  readonly problems: ValidationProblem[];
}

export type Json = Record<string, unknown>;

export const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
export const asObject = (v: unknown): Json | undefined => (isObject(v) ? v : undefined);
export const asArray = (v: unknown): readonly unknown[] => (Array.isArray(v) ? v : []);

/** RFC 6901 pointer from path segments. */
export function pointer(...parts: (string | number)[]): string {
  return parts.map((p) => `/${String(p).replace(/~/g, '~0').replace(/\//g, '~1')}`).join('');
}

export type AddProblem = (pointer: string, rule: string, message: string) => void;

const isSchemaRule = (rule: string) => rule === 'schema' || rule.endsWith('.schema');

/**
 * Builds the report. A schema fault at a pointer where a named rule also fired says the same thing
 * less precisely, so it is dropped.
 */
export function makeReport(target: string, problems: readonly ValidationProblem[]): ValidationReport {
  const named = new Set(problems.filter((p) => !isSchemaRule(p.rule)).map((p) => p.pointer));
  const kept = problems.filter((p) => !isSchemaRule(p.rule) || !named.has(p.pointer));
  return { target, ok: kept.length === 0, problems: kept };
}

/** Quotes a value from the document for a message (escapes control characters). */
export const quote = (v: unknown): string => JSON.stringify(v) ?? String(v);
