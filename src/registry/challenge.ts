// WWW-Authenticate parsing (RFC 7235 §2.1, §4.1). One header may hold several challenges, and
// each challenge's params are comma separated too, so a list element is either a param of the
// current challenge or the start of the next one.

export interface Challenge {
  /** Lower case: 'bearer', 'basic', ... */
  scheme: string;
  /** Keys lower case; values unquoted and unescaped. */
  params: Record<string, string>;
  /** The token68 form (`Negotiate abc==`), when a challenge has one instead of params. */
  token68?: string;
}

const TCHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/;
const TOKEN68_CHAR = /[-._~+/0-9A-Za-z]/;

export function parseChallenges(header: string | string[] | undefined): Challenge[] {
  if (header === undefined) return [];
  return (Array.isArray(header) ? header : [header]).flatMap(parseOne);
}

function parseOne(s: string): Challenge[] {
  const out: { scheme: string; params: [string, string][]; token68?: string }[] = [];
  let current: (typeof out)[number] | undefined;
  let i = 0;
  for (;;) {
    i = skip(s, i, /[ \t,]/);
    if (i >= s.length) break;
    const param = current && readParam(s, i);
    if (current && param) {
      // RFC 7235 forbids repeated names; the first one wins rather than a later one overriding it.
      if (!current.params.some(([k]) => k === param.name)) current.params.push([param.name, param.value]);
      i = param.end;
      continue;
    }
    const schemeEnd = skip(s, i, TCHAR);
    if (schemeEnd === i) {
      // Not something we understand: drop this list element.
      i = skipElement(s, i);
      continue;
    }
    current = { scheme: s.slice(i, schemeEnd).toLowerCase(), params: [] };
    out.push(current);
    i = schemeEnd;
    if (s[i] !== ' ' && s[i] !== '\t') continue;
    const t68 = readToken68(s, skip(s, i, /[ \t]/));
    if (t68) {
      current.token68 = t68.value;
      i = t68.end;
    }
  }
  // fromEntries defines own properties, so a "__proto__" param cannot reach the prototype.
  return out.map((c) => ({ scheme: c.scheme, params: Object.fromEntries(c.params), ...(c.token68 !== undefined && { token68: c.token68 }) }));
}

function skip(s: string, i: number, chars: RegExp): number {
  while (i < s.length && chars.test(s[i] as string)) i++;
  return i;
}

/** `name BWS "=" BWS (token / quoted-string)`; unquoted values are read up to a comma or space,
 *  since registries send realms like `realm=https://host/token` that are not strict tokens. */
function readParam(s: string, start: number): { name: string; value: string; end: number } | undefined {
  const nameEnd = skip(s, start, TCHAR);
  if (nameEnd === start) return undefined;
  let i = skip(s, nameEnd, /[ \t]/);
  if (s[i] !== '=') return undefined;
  i = skip(s, i + 1, /[ \t]/);
  const name = s.slice(start, nameEnd).toLowerCase();
  if (s[i] === '"') {
    let value = '';
    for (i++; i < s.length && s[i] !== '"'; i++) {
      if (s[i] === '\\' && i + 1 < s.length) i++;
      value += s[i];
    }
    return { name, value, end: i + 1 };
  }
  const end = skip(s, i, /[^ \t,]/);
  return { name, value: s.slice(i, end), end };
}

/** token68 must be the whole rest of the challenge: followed only by spaces, then a comma or the end. */
function readToken68(s: string, start: number): { value: string; end: number } | undefined {
  let end = skip(s, start, TOKEN68_CHAR);
  if (end === start) return undefined;
  end = skip(s, end, /=/);
  const after = skip(s, end, /[ \t]/);
  if (after < s.length && s[after] !== ',') return undefined;
  return { value: s.slice(start, end), end };
}

/** Skips to the next comma that is not inside a quoted string. */
function skipElement(s: string, i: number): number {
  let quoted = false;
  for (; i < s.length; i++) {
    const ch = s[i];
    if (quoted && ch === '\\') i++;
    else if (ch === '"') quoted = !quoted;
    else if (ch === ',' && !quoted) break;
  }
  return i;
}
