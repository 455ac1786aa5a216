/**
 * Where a browser may be sent after signing in (`?redirect_to=`): a path on this service, or an URL on
 * one of ALLOWED_REDIRECT_ORIGINS (or PUBLIC_URL's own origin). Anything else is refused and the caller
 * falls back to the account page. The checks are on the value as given *and* on it fully percent-decoded,
 * so encoded variants of the tricks below get no further than the plain ones.
 *
 * Refused, among others: protocol-relative `//evil.example`; `/\evil.example` (browsers read `\` as `/`);
 * credentials `https://a@evil.example`; `javascript:`/`data:` and every scheme but http(s); `..` segments
 * (`..;/`, the Tomcat/Spring path-parameter trick); control characters and whitespace (`java\tscript:`
 * is `javascript:` to a browser).
 * @see OWASP Unvalidated Redirects and Forwards Cheat Sheet; CVE-2023-6927 (Keycloak), CVE-2024-56734 (Better Auth)
 */
export function safeRedirectTarget(target: string | undefined, policy: { publicUrl: string; allowedOrigins: readonly string[] }): string | undefined {
  if (target === undefined || target === '' || target.length > 2048) return undefined;
  const decoded = fullyDecoded(target);
  if (decoded === undefined) return undefined;
  for (const form of [target, decoded]) {
    // Control characters, whitespace and backslashes have no place in a URL we would send a browser to.
    if (/[\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200f\u2028\u2029\u202f\u205f\u3000\ufeff\\]/.test(form)) return undefined;
    if (/(^|[/;])\.\.([/;?#]|$)/.test(form)) return undefined;
  }
  const self = new URL(policy.publicUrl);
  if (target.startsWith('/')) {
    // One slash, then a path: `//host` and `/%2F/host` (decoded) would leave this origin.
    if (target.startsWith('//') || decoded.startsWith('//')) return undefined;
    const resolved = new URL(target, self.origin);
    if (resolved.origin !== self.origin) return undefined;
    // The value returned is checked, not only the one given: the parser collapses `/./`, `/x/..` and `%2e`
    // segments, so `/.//evil.example` comes out as `//evil.example` (issue 21, finding 3).
    const path = `${resolved.pathname}${resolved.search}${resolved.hash}`;
    return isOwnPath(path) ? path : undefined;
  }
  let url: URL;
  try {
    url = new URL(target);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return undefined;
  if (url.username !== '' || url.password !== '') return undefined;
  // The authority as typed must be exactly the origin's: no `@`, no odd ports or encodings the parser tidied up.
  if (!target.toLowerCase().startsWith(`${url.origin.toLowerCase()}/`) && target.toLowerCase() !== url.origin.toLowerCase()) return undefined;
  const allowed = url.origin === self.origin || policy.allowedOrigins.some((origin) => safeOrigin(origin) === url.origin);
  return allowed ? url.href : undefined;
}

/** A path a browser reads on this origin: one slash, then no second slash or backslash, encoded or not. */
function isOwnPath(path: string): boolean {
  const decoded = fullyDecoded(path);
  return decoded !== undefined && /^\/(?![/\\])/.test(path) && /^\/(?![/\\])/.test(decoded) && !path.includes('\\');
}

/** Percent-decodes until nothing changes (at most a few rounds); undefined for a malformed encoding. */
function fullyDecoded(value: string): string | undefined {
  let current = value;
  for (let round = 0; round < 4; round++) {
    let next: string;
    try {
      next = decodeURIComponent(current);
    } catch {
      return undefined;
    }
    if (next === current) return current;
    current = next;
  }
  return /%[0-9a-f]{2}/i.test(current) ? undefined : current;
}

function safeOrigin(origin: string): string | undefined {
  try {
    return new URL(origin).origin;
  } catch {
    return undefined;
  }
}
