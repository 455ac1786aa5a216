import { isIP } from 'node:net';

/** One provider named in OIDC_PROVIDERS, from its OIDC_<NAME>_* variables. */
export interface OidcProviderConfig {
  /** Lower case, as in the URLs: /account/oauth/<name>. */
  readonly name: string;
  readonly issuer: string;
  readonly clientId: string;
  readonly clientSecret: string;
  /** The button's text: "Sign in with <label>". */
  readonly label: string;
  readonly scopes: string;
}

const NAME = /^[a-z][a-z0-9]{0,31}$/;
const DEFAULT_SCOPES = 'openid email profile';

/** The variable prefix of a provider: `OIDC_` and its name in capitals. */
export const oidcPrefix = (name: string) => `OIDC_${name.toUpperCase()}_`;

/** localhost, 127.0.0.0/8 and ::1: the only places an issuer may be plain http (local trials and tests). */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '');
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1';
}

function issuerProblem(value: string): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return 'must be a URL, e.g. https://accounts.example.com';
  }
  if (url.username !== '' || url.password !== '' || url.search !== '' || url.hash !== '') return 'must be a plain URL, without credentials, query or fragment';
  // An issuer over plain http could be impersonated by anyone on the path, and with it every account it signs in.
  if (url.protocol === 'https:') return undefined;
  if (url.protocol === 'http:' && isLoopbackHost(url.hostname)) return undefined;
  return 'must be an https:// URL (plain http only on a loopback address)';
}

/**
 * The providers of OIDC_PROVIDERS. Their variables have names made from the provider's name, so they
 * cannot be in EnvSchema: they are checked here, with errors that name the variable.
 * @see issue 17
 */
export function parseOidcProviders(list: string, env: Record<string, string | undefined>): { providers: OidcProviderConfig[]; problems: string[] } {
  const problems: string[] = [];
  const providers: OidcProviderConfig[] = [];
  const names = list.split(',').map((n) => n.trim().toLowerCase()).filter(Boolean);
  for (const name of names) {
    if (!NAME.test(name)) {
      problems.push(`OIDC_PROVIDERS names ${JSON.stringify(name)}: a provider name is a letter then letters or digits, at most 32`);
      continue;
    }
    if (providers.some((p) => p.name === name)) {
      problems.push(`OIDC_PROVIDERS names ${name} twice`);
      continue;
    }
    const prefix = oidcPrefix(name);
    const read = (key: string) => {
      const value = env[`${prefix}${key}`]?.trim();
      return value === undefined || value === '' ? undefined : value;
    };
    const issuer = read('ISSUER');
    const clientId = read('CLIENT_ID');
    const clientSecret = read('CLIENT_SECRET');
    const scopes = read('SCOPES') ?? DEFAULT_SCOPES;
    if (issuer === undefined) problems.push(`${prefix}ISSUER is required (provider ${name} is in OIDC_PROVIDERS)`);
    else {
      const problem = issuerProblem(issuer);
      if (problem) problems.push(`${prefix}ISSUER ${problem} (got ${JSON.stringify(issuer)})`);
    }
    if (clientId === undefined) problems.push(`${prefix}CLIENT_ID is required (provider ${name} is in OIDC_PROVIDERS)`);
    if (clientSecret === undefined) problems.push(`${prefix}CLIENT_SECRET is required (provider ${name} is in OIDC_PROVIDERS)`);
    if (!scopes.split(/\s+/).includes('openid')) problems.push(`${prefix}SCOPES must include openid (got ${JSON.stringify(scopes)})`);
    const label = read('LABEL') ?? name.charAt(0).toUpperCase() + name.slice(1);
    if (label.length > 64) problems.push(`${prefix}LABEL must be at most 64 characters`);
    if (issuer && clientId && clientSecret) providers.push({ name, issuer, clientId, clientSecret, label, scopes });
  }
  return { providers, problems };
}
