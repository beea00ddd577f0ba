// Strict parsers for option values: a value that does not parse is an error naming the option,
// never a silent zero or a wrapped-around number (oci-runtime-tool's Go casts do both).
import { readFileSync } from 'node:fs';
import { usageError } from '../errors.js';

export const MAX_U32 = 0xffffffff;
const MAX = Number.MAX_SAFE_INTEGER;

export function bad(flag: string, value: unknown, why: string): Error {
  return usageError(`${flag}: ${JSON.stringify(value)} ${why}`);
}

/**
 * A whole decimal number in [min, max]. Numbers beyond 2^53 cannot be written exactly, so they are
 * refused; so is a leading 0, which oci-runtime-tool reads as octal in some options and not others.
 */
export function int(value: string | number, flag: string, min = -MAX, max = MAX): number {
  const text = String(value).trim();
  if (!/^[-+]?\d+$/.test(text)) throw bad(flag, value, 'is not a whole (decimal) number');
  if (/^[-+]?0\d/.test(text)) throw bad(flag, value, 'has a leading 0 (octal or decimal?): write it without');
  const n = Number(text);
  if (!Number.isSafeInteger(n)) throw bad(flag, value, 'is too large');
  if (n < min || n > max) throw bad(flag, value, `is out of range (${min} to ${max})`);
  return n;
}

export const uint = (value: string | number, flag: string, max = MAX) => int(value, flag, 0, max);
export const u32 = (value: string | number, flag: string) => int(value, flag, 0, MAX_U32);

/** Octal umask such as 022, 0027 or 0o027, at most 0777. */
export function umask(value: string, flag: string): number {
  const m = /^(?:0o)?([0-7]{1,4})$/i.exec(value.trim());
  const n = m ? parseInt(m[1]!, 8) : NaN;
  if (!(n <= 0o777)) throw bad(flag, value, 'is not an octal umask of at most 0777');
  return n;
}

/** A file mode: decimal as runtime-tools reads it (432), or octal with a 0 / 0o prefix (0660). */
export function fileMode(value: string, flag: string): number {
  const octal = /^0o?([0-7]+)$/i.exec(value);
  const n = octal ? parseInt(octal[1]!, 8) : /^[1-9]\d*$|^0$/.test(value) ? Number(value) : NaN;
  if (!(n <= 0o7777)) throw bad(flag, value, 'is not a file mode (decimal, or octal with a leading 0) of at most 07777');
  return n;
}

const UNITS: Record<string, number> = { '': 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40, p: 2 ** 50 };

/** Bytes: a whole number, or a size with a binary unit: 1024k, 512m, 1.5g, 2GiB. `-1` where `allowUnlimited`. */
export function bytes(value: string | number, flag: string, allowUnlimited = false): number {
  const text = String(value).trim();
  if (allowUnlimited && text === '-1') return -1;
  const m = /^(0|[1-9]\d*)(\.\d+)?\s*([kmgtp]?)(?:i?b)?$/i.exec(text);
  const n = m ? Number(`${m[1]}${m[2] ?? ''}`) * UNITS[m[3]!.toLowerCase()]! : NaN;
  if (!Number.isSafeInteger(n)) {
    throw bad(flag, value, `is not a byte size (bytes, or a number with k, m, g, t or p${allowUnlimited ? ', or -1' : ''})`);
  }
  return n;
}

/** `KEY=VALUE` with a non-empty key; the value may hold more `=`. */
export function keyValue(value: string, flag: string): [string, string] {
  const i = value.indexOf('=');
  if (i <= 0) throw bad(flag, value, 'is not KEY=VALUE');
  return [value.slice(0, i), value.slice(i + 1)];
}

/** Split on `sep` into exactly `n` parts. */
export function parts(value: string, sep: string, n: number, flag: string, format: string): string[] {
  const p = value.split(sep);
  if (p.length !== n) throw bad(flag, value, `is not ${format}`);
  return p;
}

/** Comma lists from a csv option, repeated or not: ['a,b', 'c'] → ['a', 'b', 'c']. */
export function csv(value: string | string[] | undefined): string[] {
  if (value === undefined) return [];
  return (Array.isArray(value) ? value : [value]).flatMap((v) => v.split(','));
}

/** A CPU or node list such as 0-3,7. */
export function cpuList(value: string, flag: string): string {
  if (!/^\d+(-\d+)?(,\d+(-\d+)?)*$/.test(value)) throw bad(flag, value, 'is not a CPU list such as 0-3,7');
  return value;
}

export function absolute(value: string, flag: string): string {
  if (!value.startsWith('/')) throw bad(flag, value, 'is not an absolute path');
  return value;
}

export function oneOf<T extends string>(value: string, allowed: readonly T[], flag: string): T {
  if (!(allowed as readonly string[]).includes(value)) throw bad(flag, value, `is not one of ${allowed.join(', ')}`);
  return value as T;
}

export function parseJson(value: string, flag: string): unknown {
  try {
    return JSON.parse(value);
  } catch (e) {
    throw bad(flag, value, `is not valid JSON (${(e as Error).message})`);
  }
}

export function readText(path: string, flag: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw usageError(`${flag}: cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}
