// Which keyless signers are accepted: cosign's --certificate-identity[-regexp] and
// --certificate-oidc-issuer[-regexp]. Regexps match anywhere unless anchored, as Go's MatchString.

export interface IdentityMatcher {
  subject?: string;
  subjectRegExp?: RegExp;
  issuer?: string;
  issuerRegExp?: RegExp;
}

/** Both parts must be constrained by the matcher and satisfied; an unconstrained part never matches. */
export function matchIdentity(m: IdentityMatcher, subject: string | undefined, issuer: string | undefined): boolean {
  const part = (value: string | undefined, exact: string | undefined, re: RegExp | undefined) => {
    if (value === undefined || (exact === undefined && re === undefined)) return false;
    return (exact === undefined || value === exact) && (re === undefined || re.test(value));
  };
  return part(subject, m.subject, m.subjectRegExp) && part(issuer, m.issuer, m.issuerRegExp);
}

export function describeMatcher(m: IdentityMatcher): string {
  const s = m.subject ?? (m.subjectRegExp ? `/${m.subjectRegExp.source}/` : '?');
  const i = m.issuer ?? (m.issuerRegExp ? `/${m.issuerRegExp.source}/` : '?');
  return `${s} from ${i}`;
}
