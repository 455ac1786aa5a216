import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair } from 'jose';
import Provider from 'oidc-provider';

/** The e-mail claims each test account has at the provider; the test changes them as it needs. */
export type ProviderAccounts = Map<string, { email: string; email_verified: boolean }>;

/** A free loopback port (for a provider that starts later than the service that names it). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * panva's oidc-provider (an OpenID Certified implementation) on a loopback port over plain http, with one
 * confidential client whose redirect URI is the service's callback, PKCE required, and its development
 * login and consent pages (any login name signs in as the account of that name).
 */
export async function startOidcProvider(options: { port: number; clientId: string; clientSecret: string; redirectUri: string; accounts: ProviderAccounts }) {
  const issuer = `http://127.0.0.1:${options.port}`;
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const provider = new Provider(issuer, {
    jwks: { keys: [{ ...(await exportJWK(privateKey)), kid: 'test-key', use: 'sig', alg: 'RS256' }] as never },
    clients: [
      {
        client_id: options.clientId,
        client_secret: options.clientSecret,
        redirect_uris: [options.redirectUri],
        grant_types: ['authorization_code'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_post',
      },
    ],
    pkce: { required: () => true },
    // `conformIdTokenClaims` stays at its default (true): with an access token issued, the e-mail claims
    // are NOT in the ID token but at the UserInfo endpoint (OpenID Connect Core §5.4), as most providers
    // do; the service must fetch them there (issue 21, finding 8). `claims` only declares the standard
    // `email` scope's claims, which oidc-provider does not offer unless told.
    claims: { openid: ['sub'], email: ['email', 'email_verified'] },
    features: { devInteractions: { enabled: true } },
    cookies: { keys: ['test-provider-cookie-key-0123456789'] },
    async findAccount(_ctx, sub) {
      const account = options.accounts.get(sub);
      return {
        accountId: sub,
        async claims() {
          return { sub, ...(account ?? {}) };
        },
      };
    },
  });
  const server: Server = createServer(provider.callback());
  await new Promise<void>((resolve) => server.listen(options.port, '127.0.0.1', resolve));
  return {
    issuer,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/**
 * Plays the person at the provider's development pages with plain HTTP: follows its redirects with its
 * cookies, fills the login form as `login`, confirms the consent form, and returns the URL the provider
 * sends the browser back to (the service's callback, with code and state).
 */
export async function signInAtProvider(authorizeUrl: string, login: string, callbackPrefix: string): Promise<URL> {
  const jar = new Map<string, string>();
  const remember = (res: Response) => {
    for (const line of res.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const [name, ...value] = pair!.split('=');
      jar.set(name!.trim(), value.join('='));
    }
  };
  const cookie = () => [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
  let url = authorizeUrl;
  let body: URLSearchParams | undefined;
  for (let step = 0; step < 20; step++) {
    const res = await fetch(url, {
      method: body ? 'POST' : 'GET',
      redirect: 'manual',
      headers: { cookie: cookie(), ...(body && { 'content-type': 'application/x-www-form-urlencoded' }) },
      body,
    });
    remember(res);
    body = undefined;
    const location = res.headers.get('location');
    if (location) {
      url = new URL(location, url).href;
      if (url.startsWith(callbackPrefix)) return new URL(url);
      continue;
    }
    const html = await res.text();
    const action = /<form[^>]*action="([^"]+)"/.exec(html)?.[1];
    const prompt = /name="prompt" value="([^"]+)"/.exec(html)?.[1];
    if (action === undefined || prompt === undefined) throw new Error(`unexpected provider page (${res.status}): ${html.slice(0, 300)}`);
    url = new URL(action.replace(/&amp;/g, '&'), url).href;
    body = new URLSearchParams(prompt === 'login' ? { prompt, login, password: 'any' } : { prompt });
  }
  throw new Error('the provider never sent the browser back');
}
