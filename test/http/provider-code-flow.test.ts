import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as oidc from 'openid-client';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { databaseKinds, type DatabaseKind } from '../helpers/databases.js';
import { freePort } from '../helpers/federation-idp.js';
import { HttpBrowser } from '../helpers/http-browser.js';
import { register, uniqueName } from '../helpers/requests.js';
import { createClient } from '../../src/services/provider/clients.js';
import { deriveKey } from '../../src/crypto/aead.js';
import { TEST_SECRET_KEY } from '../helpers/app.js';
import { changeUserRole } from '../../src/services/admin/roles.js';
import { updateUserProfile } from '../../src/repositories/users.js';

const REDIRECT = 'http://127.0.0.1:9/callback';

/** The service with the provider on, listening on a loopback port that is also its PUBLIC_URL. */
async function listeningProvider(kind: DatabaseKind) {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const ctx = await buildTestApp(kind, { PROVIDER_ENABLED: 'true', PUBLIC_URL: base });
  await ctx.app.listen({ port, host: '127.0.0.1' });
  return { ctx, base, issuer: new URL(`${base}/oidc`) };
}

/**
 * Issue 23: an application signs its users in through us with openid-client, a certified relying party
 * library, at its defaults (PKCE S256, state, nonce checks), over real HTTP on loopback.
 */
for (const kind of await databaseKinds()) {
  describe(`the OpenID provider with openid-client on ${kind}`, () => {
    let ctx: TestApp & { close(): Promise<void> };
    let base: string;
    let issuer: URL;
    before(async () => ({ ctx, base, issuer } = await listeningProvider(kind)));
    after(() => ctx.close());

    const clientDeps = () => ({ db: ctx.database.handle.db, clock: ctx.clock, clientSecretKey: deriveKey(TEST_SECRET_KEY, 'provider-client-secret') });
    const newClient = (firstParty: boolean, grantTypes: ('authorization_code' | 'refresh_token' | 'client_credentials')[] = ['authorization_code', 'refresh_token']) =>
      createClient(clientDeps(), { name: 'Shop', redirectUris: [REDIRECT], postLogoutRedirectUris: [], grantTypes, public: false, firstParty });
    const discover = (clientId: string, secret: string) => oidc.discovery(issuer, clientId, secret, undefined, { execute: [oidc.allowInsecureRequests] });

    /** A person with an account, signed in to our pages in `browser`. */
    async function signedInPerson(browser: HttpBrowser) {
      const username = uniqueName();
      await register(ctx.app, username, 'correct-horse-1');
      await browser.request('/account/login');
      const res = await browser.follow('/account/login', undefined, { form: { username, password: 'correct-horse-1' } });
      assert.equal(new URL(res.url).pathname, '/account', res.body.slice(0, 300));
      const user = (await ctx.app.inject({ method: 'POST', url: '/user/token', payload: { username, password: 'correct-horse-1' } })).json();
      return { username, accessToken: user.access_token as string };
    }

    /** The code flow as the application runs it, with the person's browser in between. */
    async function authorize(config: oidc.Configuration, browser: HttpBrowser, scope: string, consent?: 'allow' | 'deny') {
      const verifier = oidc.randomPKCECodeVerifier();
      const state = oidc.randomState();
      const nonce = oidc.randomNonce();
      const url = oidc.buildAuthorizationUrl(config, {
        redirect_uri: REDIRECT,
        scope,
        state,
        nonce,
        code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
        ...(scope.includes('offline_access') && { prompt: 'consent' }),
      });
      let step = await browser.follow(url.href, REDIRECT);
      if (consent !== undefined) {
        assert.match(step.body, /Allow Shop to use your account\?/);
        const uid = /action="\/account\/authorize\/([^"]+)"/.exec(step.body)![1]!;
        step = await browser.follow(`/account/authorize/${uid}`, REDIRECT, { form: { decision: consent } });
      }
      assert.ok(step.url.startsWith(REDIRECT), `ended at ${step.url}: ${step.body.slice(0, 300)}`);
      return { callback: new URL(step.url), verifier, state, nonce };
    }

    test('a first-party app: code + PKCE through our sign-in page, ID token, userinfo with the scopes\' claims, refresh with rotation', async () => {
      const { client, clientSecret } = await newClient(true);
      const config = await discover(client.client_id, clientSecret!);
      const browser = new HttpBrowser(base);
      const person = await signedInPerson(browser);
      const { callback, verifier, state, nonce } = await authorize(config, browser, 'openid profile email offline_access');
      assert.equal(callback.searchParams.get('iss'), issuer.href, 'RFC 9207: the authorization response names its issuer');
      const tokens = await oidc.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce });
      const claims = tokens.claims()!;
      const me = (await ctx.app.inject({ url: '/user/user', headers: { authorization: `Bearer ${person.accessToken}` } })).json();
      assert.equal(claims.sub, String(me.id), 'sub is the account id, never the username');
      const info = await oidc.fetchUserInfo(config, tokens.access_token, claims.sub);
      assert.equal(info.preferred_username, person.username);
      assert.equal(info.email, me.email);
      assert.equal(info.email_verified, false);
      assert.ok(tokens.refresh_token, 'offline_access gave a refresh token');
      const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token!);
      assert.notEqual(refreshed.refresh_token, tokens.refresh_token, 'the refresh token rotates');
      // The used one presented again ends the grant: the new one stops working too (RFC 9700 §4.14.2).
      await assert.rejects(oidc.refreshTokenGrant(config, tokens.refresh_token!), (error: Error & { error?: string }) => error.error === 'invalid_grant');
      await assert.rejects(oidc.refreshTokenGrant(config, refreshed.refresh_token!), (error: Error & { error?: string }) => error.error === 'invalid_grant');
    });

    test('"Apps with access" on the account page lists a granted app; removing it ends its tokens and asks consent again', async () => {
      const { client, clientSecret } = await newClient(false);
      const config = await discover(client.client_id, clientSecret!);
      const browser = new HttpBrowser(base);
      await signedInPerson(browser);
      const { callback, verifier, state, nonce } = await authorize(config, browser, 'openid email offline_access', 'allow');
      const tokens = await oidc.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce });
      const page = await browser.request('/account');
      assert.match(page.body, /Apps with access/);
      assert.match(page.body, new RegExp(`data-client-id="${client.client_id}"`));
      const removed = await browser.follow(`/account/apps/${client.client_id}/revoke`, undefined, { form: {} });
      assert.match(removed.body, /no longer has access/);
      assert.doesNotMatch(removed.body, new RegExp(`data-client-id="${client.client_id}"`));
      await assert.rejects(oidc.fetchUserInfo(config, tokens.access_token, tokens.claims()!.sub));
      await assert.rejects(oidc.refreshTokenGrant(config, tokens.refresh_token!));
      const again = await authorize(config, browser, 'openid email', 'allow');
      assert.ok(again.callback.searchParams.get('code'), 'consent was asked again, then given');
      const unknown = await browser.request('/account/apps/not-a-client/revoke', { form: {} });
      assert.equal(unknown.res.status, 404);
    });

    test('a code is single use: its replay is refused and revokes the tokens it gave', async () => {
      const { client, clientSecret } = await newClient(true);
      const config = await discover(client.client_id, clientSecret!);
      const browser = new HttpBrowser(base);
      await signedInPerson(browser);
      const { callback, verifier, state, nonce } = await authorize(config, browser, 'openid');
      const tokens = await oidc.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce });
      await assert.rejects(oidc.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce }));
      await assert.rejects(oidc.fetchUserInfo(config, tokens.access_token, tokens.claims()!.sub));
    });

    test('a third-party app asks for consent once; "deny" returns access_denied to the app', async () => {
      const { client, clientSecret } = await newClient(false);
      const config = await discover(client.client_id, clientSecret!);
      const browser = new HttpBrowser(base);
      await signedInPerson(browser);
      const denied = await authorize(config, browser, 'openid email', 'deny');
      assert.equal(denied.callback.searchParams.get('error'), 'access_denied');
      const allowed = await authorize(config, browser, 'openid email', 'allow');
      assert.ok(allowed.callback.searchParams.get('code'));
      // Remembered: the same scopes again go straight back to the app.
      const again = await authorize(config, browser, 'openid email');
      assert.ok(again.callback.searchParams.get('code'));
    });

    test('a browser that is not signed in is sent to our sign-in page, and on to the app once signed in', async () => {
      const { client, clientSecret } = await newClient(true);
      const config = await discover(client.client_id, clientSecret!);
      const username = uniqueName();
      await register(ctx.app, username, 'correct-horse-1');
      const browser = new HttpBrowser(base);
      const verifier = oidc.randomPKCECodeVerifier();
      const url = oidc.buildAuthorizationUrl(config, { redirect_uri: REDIRECT, scope: 'openid', code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' });
      const login = await browser.follow(url.href, REDIRECT);
      assert.match(login.url, /\/account\/login\?redirect_to=%2Faccount%2Fauthorize%2F/);
      const redirectTo = new URL(login.url).searchParams.get('redirect_to')!;
      const back = await browser.follow('/account/login', REDIRECT, { form: { username, password: 'correct-horse-1', redirect_to: redirectTo } });
      assert.ok(back.url.startsWith(REDIRECT) && new URL(back.url).searchParams.get('code'), back.url);
    });

    test('PKCE is required of every client, and only S256', async () => {
      const { client, clientSecret } = await newClient(true);
      const config = await discover(client.client_id, clientSecret!);
      const browser = new HttpBrowser(base);
      await signedInPerson(browser);
      for (const extra of [{}, { code_challenge: 'x'.repeat(43), code_challenge_method: 'plain' }] as Record<string, string>[]) {
        const url = oidc.buildAuthorizationUrl(config, { redirect_uri: REDIRECT, scope: 'openid', ...extra });
        const step = await browser.follow(url.href, REDIRECT);
        const error = new URL(step.url).searchParams.get('error');
        assert.equal(error, 'invalid_request', `${JSON.stringify(extra)} → ${step.url}`);
      }
    });

    test('RP-initiated logout returns only to a registered post_logout_redirect_uri', async () => {
      const deps = clientDeps();
      const LOGGED_OUT = 'http://127.0.0.1:9/logged-out';
      const { client, clientSecret } = await createClient(deps, { name: 'Shop', redirectUris: [REDIRECT], postLogoutRedirectUris: [LOGGED_OUT], grantTypes: ['authorization_code'], public: false, firstParty: true });
      const config = await discover(client.client_id, clientSecret!);
      const browser = new HttpBrowser(base);
      await signedInPerson(browser);
      const { callback, verifier, state, nonce } = await authorize(config, browser, 'openid');
      const tokens = await oidc.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce });
      const elsewhere = oidc.buildEndSessionUrl(config, { id_token_hint: tokens.id_token!, post_logout_redirect_uri: 'https://evil.example/' });
      const refused = await browser.request(elsewhere.href);
      assert.equal(refused.res.status, 400);
      assert.equal(refused.res.headers.get('location'), null);
      const page = await browser.follow(oidc.buildEndSessionUrl(config, { id_token_hint: tokens.id_token!, post_logout_redirect_uri: LOGGED_OUT }).href, LOGGED_OUT);
      // The library asks the person to confirm (its own form, with its own anti-forgery field).
      const action = /<form[^>]*action="([^"]+)"/.exec(page.body)![1]!;
      const fields = Object.fromEntries([...page.body.matchAll(/<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]));
      const done = await browser.follow(action, LOGGED_OUT, { form: { ...fields, logout: 'yes' } });
      assert.ok(done.url.startsWith(LOGGED_OUT), done.url);
    });

    test('CORS on the token endpoint only for an origin the client redirects to', async () => {
      const { client, clientSecret } = await newClient(true, ['client_credentials', 'authorization_code']);
      // The library answers every preflight (it cannot know the client yet); the call itself carries the
      // client, and only its redirect URIs' origins may read the answer.
      const call = (origin: string) =>
        fetch(`${issuer.href}/token`, {
          method: 'POST',
          headers: { origin, 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${client.client_id}:${clientSecret}`).toString('base64')}` },
          body: 'grant_type=client_credentials',
        });
      const allowed = await call('http://127.0.0.1:9');
      assert.equal(allowed.headers.get('access-control-allow-origin'), 'http://127.0.0.1:9');
      const other = await call('https://evil.example');
      assert.equal(other.headers.get('access-control-allow-origin'), null);
    });

    test('client credentials: a token for the application itself, naming no user', async () => {
      const { client, clientSecret } = await newClient(true, ['client_credentials']);
      const config = await discover(client.client_id, clientSecret!);
      const tokens = await oidc.clientCredentialsGrant(config, {});
      assert.ok(tokens.access_token);
      const introspection = await oidc.tokenIntrospection(config, tokens.access_token);
      assert.equal(introspection.active, true);
      assert.equal(introspection.sub, undefined, 'no user behind a client-credentials token');
      assert.equal(introspection.client_id, client.client_id);
    });

    test('a redirect URI not registered exactly is refused with an error page, never a redirect', async () => {
      const { client } = await newClient(true);
      const browser = new HttpBrowser(base);
      await signedInPerson(browser);
      for (const uri of [`${REDIRECT}/`, REDIRECT.replace('callback', 'Callback'), `${REDIRECT}?x=1`, 'http://user@127.0.0.1:9/callback', 'https://evil.example/callback']) {
        const url = new URL(`${issuer.href}/auth`);
        url.search = new URLSearchParams({ client_id: client.client_id, response_type: 'code', scope: 'openid', redirect_uri: uri, code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256' }).toString();
        const { res } = await browser.request(url.href);
        assert.equal(res.status, 400, uri);
        assert.equal(res.headers.get('location'), null, uri);
      }
    });
  });
}

for (const kind of await databaseKinds()) {
  describe(`the OpenID provider follows our sessions on ${kind}`, () => {
    let ctx: TestApp & { close(): Promise<void> };
    let base: string;
    let issuer: URL;
    before(async () => ({ ctx, base, issuer } = await listeningProvider(kind)));
    after(() => ctx.close());

    async function setUp() {
      const deps = { db: ctx.database.handle.db, clock: ctx.clock, clientSecretKey: deriveKey(TEST_SECRET_KEY, 'provider-client-secret') };
      const { client, clientSecret } = await createClient(deps, { name: 'Shop', redirectUris: [REDIRECT], postLogoutRedirectUris: [], grantTypes: ['authorization_code', 'refresh_token'], public: false, firstParty: true });
      const config = await oidc.discovery(issuer, client.client_id, clientSecret!, undefined, { execute: [oidc.allowInsecureRequests] });
      const username = uniqueName();
      await register(ctx.app, username, 'correct-horse-1');
      const browser = new HttpBrowser(base);
      await browser.request('/account/login');
      await browser.follow('/account/login', undefined, { form: { username, password: 'correct-horse-1' } });
      const start = async (extra: Record<string, string> = {}) => {
        const verifier = oidc.randomPKCECodeVerifier();
        const url = oidc.buildAuthorizationUrl(config, { redirect_uri: REDIRECT, scope: 'openid offline_access', prompt: 'consent', code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', ...extra });
        return { step: await browser.follow(url.href, REDIRECT), verifier };
      };
      const tokensNow = async () => {
        const { step, verifier } = await start();
        return oidc.authorizationCodeGrant(config, new URL(step.url), { pkceCodeVerifier: verifier });
      };
      return { config, browser, username, start, tokensNow };
    }

    test('signing out of /account ends the provider session too: the next authorization asks to sign in', async () => {
      const { browser, start } = await setUp();
      assert.ok((await start()).step.url.startsWith(REDIRECT));
      await browser.request('/account');
      await browser.follow('/account/logout', undefined, { form: {} });
      const again = (await start()).step;
      assert.match(again.url, /\/account\/login\?redirect_to=/, 'asked to sign in, not sent back with a code');
    });

    test('prompt=login asks a signed-in browser to sign in again', async () => {
      const { start, browser, username } = await setUp();
      const { step } = await start({ prompt: 'login' });
      assert.match(step.url, /\/account\/login\?redirect_to=%2Faccount%2Fauthorize%2F[^&]*%3Fstale%3D[0-9a-f-]{36}&prompt=login$/);
      // The form shows although the browser is signed in; signing in again finishes the request.
      const form = await browser.request(step.url);
      assert.match(form.body, /name="password"/);
      const redirectTo = new URL(step.url).searchParams.get('redirect_to')!;
      const back = await browser.follow('/account/login', REDIRECT, { form: { username, password: 'correct-horse-1', redirect_to: redirectTo } });
      assert.ok(new URL(back.url).searchParams.get('code'), back.url);
    });

    test('logout-all ends the applications\' tokens: refresh and userinfo refused', async () => {
      const { config, username, tokensNow } = await setUp();
      const tokens = await tokensNow();
      const own = (await ctx.app.inject({ method: 'POST', url: '/user/token', payload: { username, password: 'correct-horse-1' } })).json();
      assert.equal((await ctx.app.inject({ method: 'POST', url: '/user/logout-all', headers: { authorization: `Bearer ${own.access_token}` } })).statusCode, 204);
      await assert.rejects(oidc.refreshTokenGrant(config, tokens.refresh_token!));
      await assert.rejects(oidc.fetchUserInfo(config, tokens.access_token, tokens.claims()!.sub));
    });

    test('a disabled account mid-grant: its application tokens stop working at once', async () => {
      const { config, tokensNow } = await setUp();
      const tokens = await tokensNow();
      const userId = Number(tokens.claims()!.sub);
      const admin = uniqueName();
      await register(ctx.app, admin, 'correct-horse-1');
      await changeUserRole(ctx.app.deps, admin, 'admin', 'add');
      const adminToken = (await ctx.app.inject({ method: 'POST', url: '/user/token', payload: { username: admin, password: 'correct-horse-1' } })).json().access_token;
      const disabled = await ctx.app.inject({ method: 'PATCH', url: `/admin/users/${userId}`, headers: { authorization: `Bearer ${adminToken}` }, payload: { is_active: false } });
      assert.equal(disabled.statusCode, 200, disabled.body);
      await assert.rejects(oidc.fetchUserInfo(config, tokens.access_token, tokens.claims()!.sub));
      await assert.rejects(oidc.refreshTokenGrant(config, tokens.refresh_token!));
    });
  });
}

for (const kind of await databaseKinds()) {
  test(`our own "sign in with…" (issue 17's client) signs in through our provider on ${kind}`, async (t) => {
    // The provider: one service, with an account whose address it has confirmed.
    const providerPort = await freePort();
    const providerBase = `http://localhost:${providerPort}`;
    const idp = await buildTestApp(kind, { PROVIDER_ENABLED: 'true', PUBLIC_URL: providerBase });
    t.after(() => idp.close());
    await idp.app.listen({ port: providerPort, host: '127.0.0.1' });
    const person = await register(idp.app, uniqueName(), 'correct-horse-1');
    await updateUserProfile(idp.app.deps.db, person.id, { emailVerified: true }, idp.clock.now());

    // The relying party: another service, its "sign in with" pointed at the first one's issuer.
    const rpPort = await freePort();
    const rpBase = `http://127.0.0.1:${rpPort}`;
    const callback = `${rpBase}/account/oauth/ours/callback`;
    const { client, clientSecret } = await createClient(
      { db: idp.app.deps.db, clock: idp.clock, clientSecretKey: deriveKey(TEST_SECRET_KEY, 'provider-client-secret') },
      { name: 'Other service', redirectUris: [callback], postLogoutRedirectUris: [], grantTypes: ['authorization_code'], public: false, firstParty: true },
    );
    const rp = await buildTestApp(kind, {
      PUBLIC_URL: rpBase,
      OIDC_PROVIDERS: 'ours',
      OIDC_OURS_ISSUER: `${providerBase}/oidc`,
      OIDC_OURS_CLIENT_ID: client.client_id,
      OIDC_OURS_CLIENT_SECRET: clientSecret!,
      OIDC_OURS_LABEL: 'Our accounts',
    });
    t.after(() => rp.close());
    await rp.app.listen({ port: rpPort, host: '127.0.0.1' });

    const browser = new HttpBrowser(rpBase);
    await browser.request('/account/login');
    const atProvider = await browser.follow('/account/oauth/ours', undefined, { form: {} });
    assert.match(atProvider.url, new RegExp(`^${providerBase}/account/login\\?redirect_to=`), atProvider.url);
    await browser.request(atProvider.url);
    const redirectTo = new URL(atProvider.url).searchParams.get('redirect_to')!;
    const back = await browser.follow(`${providerBase}/account/login`, undefined, { form: { username: person.username, password: 'correct-horse-1', redirect_to: redirectTo } });
    assert.equal(new URL(back.url).origin, rpBase, back.url);
    assert.equal(new URL(back.url).pathname, '/account', back.body.slice(0, 300));
    assert.match(back.body, new RegExp(person.email.replace(/[.+]/g, '\\$&')));
  });
}
