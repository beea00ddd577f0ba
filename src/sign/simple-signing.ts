// Cosign's "simple signing" payload (the legacy signature format stored as an image layer) and the
// annotations that travel with it. The signature covers the payload bytes exactly as stored, so the
// payload is parsed only after the signature verifies, and never re-serialised for verification.
import { OciToolError } from '../errors.js';
import { parseDigest } from '../image/digest.js';

export const SIMPLE_SIGNING_MEDIA_TYPE = 'application/vnd.dev.cosign.simplesigning.v1+json';
export const SIGNATURE_ANNOTATION = 'dev.cosignproject.cosign/signature';
export const BUNDLE_ANNOTATION = 'dev.sigstore.cosign/bundle';
export const CERTIFICATE_ANNOTATION = 'dev.sigstore.cosign/certificate';
export const CHAIN_ANNOTATION = 'dev.sigstore.cosign/chain';
export const PAYLOAD_TYPE = 'cosign container image signature';

export interface PayloadOptional {
  creator?: string;
  timestamp?: number;
  [member: string]: unknown;
}

export interface ParsedPayload {
  dockerReference: string;
  manifestDigest: string;
  optional: PayloadOptional | null;
}

const reject = (reason: string) => new OciToolError('OCI_ERR_SIGNATURE', reason);

/** The payload bytes cosign writes: Go's encoding/json of its struct (fields in declaration order). */
export function createPayload(dockerReference: string, manifestDigest: string, optional?: Record<string, unknown> | null): Buffer {
  if (dockerReference === '') throw new OciToolError('OCI_ERR_USAGE', 'a signature payload needs a docker reference');
  try {
    parseDigest(manifestDigest, 'manifest digest');
  } catch (e) {
    throw new OciToolError('OCI_ERR_USAGE', (e as Error).message);
  }
  const critical = `{"identity":{"docker-reference":${goString(dockerReference)}},"image":{"docker-manifest-digest":${goString(manifestDigest)}},"type":${goString(PAYLOAD_TYPE)}}`;
  return Buffer.from(`{"critical":${critical},"optional":${goJson(optional ?? null)}}`, 'utf8');
}

/** Go's json.Marshal of a map[string]interface{} value: sorted keys, HTML-safe escaping. */
function goJson(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'string') return goString(value);
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  // Go formats non-integral floats differently from JavaScript; payloads only carry integers.
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) throw new OciToolError('OCI_ERR_USAGE', `payload numbers must be safe integers, not ${value}`);
    return String(value);
  }
  if (Array.isArray(value)) return `[${value.map(goJson).join(',')}]`;
  if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
    // Go sorts map keys by their UTF-8 bytes.
    entries.sort(([a], [b]) => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8')));
    return `{${entries.map(([k, v]) => `${goString(k)}:${goJson(v)}`).join(',')}}`;
  }
  throw new OciToolError('OCI_ERR_USAGE', `a signature payload cannot hold a ${typeof value}`);
}

const GO_SHORT_ESCAPES: Record<string, string> = { '"': '\\"', '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t', '\b': '\\b', '\f': '\\f' };

function goString(s: string): string {
  // eslint-disable-next-line no-control-regex
  const escaped = s.replace(/["\\\u0000-\u001f<>&\u2028\u2029]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, (c) => {
    const short = GO_SHORT_ESCAPES[c];
    if (short !== undefined) return short;
    // Go writes invalid UTF-8 (here: a lone surrogate) as the replacement character.
    if (c.length === 1 && c >= '\ud800' && c <= '\udfff') return '\\ufffd';
    return `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
  });
  return `"${escaped}"`;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function exactMembers(value: unknown, names: readonly string[], where: string): Record<string, unknown> {
  if (!isObject(value)) throw reject(`invalid signature payload: ${where} is not a JSON object`);
  const keys = Object.keys(value);
  for (const k of keys) if (!names.includes(k)) throw reject(`invalid signature payload: unexpected member ${JSON.stringify(k)} in ${where}`);
  for (const n of names) if (!keys.includes(n)) throw reject(`invalid signature payload: ${where} has no ${JSON.stringify(n)}`);
  return value;
}

/** Parses a verified payload as containers/image does: exact member sets, no duplicates, typed known members. */
export function parsePayload(bytes: Uint8Array): ParsedPayload {
  const top = exactMembers(parseStrictJson(decodeUtf8(bytes, 'signature payload'), 'signature payload'), ['critical', 'optional'], 'the payload');
  const critical = exactMembers(top.critical, ['type', 'image', 'identity'], '"critical"');
  if (critical.type !== PAYLOAD_TYPE) {
    throw reject(`invalid signature payload: type ${JSON.stringify(critical.type)} is not ${JSON.stringify(PAYLOAD_TYPE)}`);
  }
  const image = exactMembers(critical.image, ['docker-manifest-digest'], '"critical.image"');
  const manifestDigest = image['docker-manifest-digest'];
  if (typeof manifestDigest !== 'string') throw reject('invalid signature payload: docker-manifest-digest is not a string');
  try {
    parseDigest(manifestDigest, 'signed manifest digest');
  } catch (e) {
    throw reject(`invalid signature payload: ${(e as Error).message}`);
  }
  const identity = exactMembers(critical.identity, ['docker-reference'], '"critical.identity"');
  const dockerReference = identity['docker-reference'];
  if (typeof dockerReference !== 'string') throw reject('invalid signature payload: docker-reference is not a string');

  const optional = top.optional;
  if (optional !== null && !isObject(optional)) throw reject('invalid signature payload: "optional" is neither null nor an object');
  if (optional !== null) {
    if (optional.creator !== undefined && typeof optional.creator !== 'string') throw reject('invalid signature payload: optional.creator is not a string');
    if (optional.timestamp !== undefined && !Number.isSafeInteger(optional.timestamp)) {
      throw reject('invalid signature payload: optional.timestamp is not an integer');
    }
  }
  return { dockerReference, manifestDigest, optional: optional as PayloadOptional | null };
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Strict UTF-8 (a BOM is kept, so the JSON parser refuses it as Go does). */
export function decodeUtf8(bytes: Uint8Array, what: string): string {
  try {
    return utf8.decode(bytes);
  } catch {
    throw reject(`${what} is not valid UTF-8`);
  }
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Standard padded base64; line breaks are skipped as Go's decoder does (PKI signatures carry them). */
export function decodeBase64(text: string, what: string): Buffer {
  const compact = text.replace(/[\r\n]/g, '');
  if (!BASE64.test(compact)) throw reject(`${what} is not valid base64`);
  return Buffer.from(compact, 'base64');
}

const MAX_DEPTH = 64;
const JSON_ESCAPES: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };

/**
 * RFC 8259 JSON with duplicate member names refused: a signed document must not mean different
 * things to parsers that keep the first or the last duplicate.
 */
export function parseStrictJson(text: string, what: string): unknown {
  let pos = 0;
  const fail = (reason: string): never => {
    throw reject(`${what} is not valid JSON: ${reason} at offset ${pos}`);
  };
  const ws = () => {
    while (pos < text.length && ' \t\n\r'.includes(text[pos] as string)) pos++;
  };
  const literal = (word: string, value: unknown) => {
    if (!text.startsWith(word, pos)) fail('unexpected token');
    pos += word.length;
    return value;
  };
  const string = (): string => {
    pos++; // opening quote
    let out = '';
    for (;;) {
      const c = text[pos];
      if (c === undefined) return fail('unterminated string');
      if (c === '"') {
        pos++;
        return out;
      }
      if (c < ' ') fail('control character in string');
      if (c !== '\\') {
        out += c;
        pos++;
        continue;
      }
      const e = text[pos + 1];
      const simple = e === undefined ? undefined : JSON_ESCAPES[e];
      if (simple !== undefined) {
        out += simple;
        pos += 2;
      } else if (e === 'u' && /^[0-9a-fA-F]{4}$/.test(text.slice(pos + 2, pos + 6))) {
        out += String.fromCharCode(parseInt(text.slice(pos + 2, pos + 6), 16));
        pos += 6;
      } else {
        fail('invalid escape');
      }
    }
  };
  const value = (depth: number): unknown => {
    if (depth > MAX_DEPTH) fail('nested too deeply');
    ws();
    const c = text[pos];
    if (c === '{') {
      pos++;
      const obj: Record<string, unknown> = {};
      ws();
      if (text[pos] === '}') {
        pos++;
        return obj;
      }
      for (;;) {
        ws();
        if (text[pos] !== '"') fail('expected a member name');
        const key = string();
        if (Object.hasOwn(obj, key)) fail(`duplicate member ${JSON.stringify(key)}`);
        ws();
        if (text[pos] !== ':') fail('expected ":"');
        pos++;
        // defineProperty: a member named "__proto__" stays data, not a prototype.
        Object.defineProperty(obj, key, { value: value(depth + 1), enumerable: true, writable: true, configurable: true });
        ws();
        if (text[pos] === ',') {
          pos++;
          continue;
        }
        if (text[pos] === '}') {
          pos++;
          return obj;
        }
        fail('expected "," or "}"');
      }
    }
    if (c === '[') {
      pos++;
      const arr: unknown[] = [];
      ws();
      if (text[pos] === ']') {
        pos++;
        return arr;
      }
      for (;;) {
        arr.push(value(depth + 1));
        ws();
        if (text[pos] === ',') {
          pos++;
          continue;
        }
        if (text[pos] === ']') {
          pos++;
          return arr;
        }
        fail('expected "," or "]"');
      }
    }
    if (c === '"') return string();
    if (c === 't') return literal('true', true);
    if (c === 'f') return literal('false', false);
    if (c === 'n') return literal('null', null);
    const m = /^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/.exec(text.slice(pos, pos + 400));
    if (!m) return fail('unexpected token');
    const n = Number(m[0]);
    if (!Number.isFinite(n)) fail('number out of range');
    pos += m[0].length;
    return n;
  };
  const result = value(0);
  ws();
  if (pos !== text.length) fail('trailing data');
  return result;
}
