import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sql } from 'drizzle-orm';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { databaseKinds, selectRows } from '../helpers/databases.js';
import { freePort, signInAtProvider, startOidcProvider, type ProviderAccounts } from '../helpers/federation-idp.js';
import { PageClient, textOf } from '../helpers/pages.js';
import { register, uniqueName } from '../helpers/requests.js';
import { updateUserProfile } from '../../src/repositories/users.js';

const ORIGIN = 'http://127.0.0.1:8000';
const CALLBACK = `${ORIGIN}/account/oauth/panva/callback`;
const CLIENT = { clientId: 'user-services', clientSecret: 'a-client-secret-for-the-tests' };

/**
 * Against panva's oidc-provider, a certified OpenID provider, started here on a loopback port. It is down
 * when the service starts: the service starts anyway, without it, and uses it once it is up.
 */
for (const kind of await databaseKinds()) {
  describe(`sign-in with a real OpenID provider (oidc-provider) on ${kind}`, () => {
    let ctx: TestApp & { close(): Promise<void> };
    let provider: Awaited<ReturnType<typeof startOidcProvider>> | undefined;
    const accounts: ProviderAccounts = new Map();
    let port: number;
    before(async () => {
      port = await freePort();
      ctx = await buildTestApp(kind, {
        OIDC_PROVIDERS: 'panva',
        OIDC_PANVA_ISSUER: `http://127.0.0.1:${port}`,
        OIDC_PANVA_CLIENT_ID: CLIENT.clientId,
        OIDC_PANVA_CLIENT_SECRET: CLIENT.clientSecret,
        OIDC_PANVA_LABEL: 'Panva',
      });
    });
    after(async () => {
      await ctx.close();
      await provider?.close();
    });
    const browser = () => new PageClient(ctx.app, ORIGIN);
    /** The sign-in page's "Sign in with Panva" button: a POST with the page's CSRF token (issue 21). */
    async function startAt(page: PageClient) {
      await page.get('/account/login');
      return page.post('/account/oauth/panva', {});
    }

    /** A whole sign-in: our redirect, the provider's pages as `login`, and the callback in the same browser. */
    async function signIn(page: PageClient, login: string) {
      const started = await startAt(page);
      assert.equal(started.statusCode, 303, started.body);
      const back = await signInAtProvider(String(started.headers.location), login, CALLBACK);
      return { back, res: await page.get(`${back.pathname}${back.search}`) };
    }

    test('a provider down at start-up: the service started without it, says 503 with Retry-After, and uses it once it is up', async () => {
      const page = browser();
      assert.equal((await page.get('/readyz')).statusCode, 200);
      const login = await page.get('/account/login');
      assert.match(textOf(login.body), /Sign in with Panva/);
      const down = await startAt(page);
      assert.equal(down.statusCode, 503);
      assert.ok(Number(down.headers['retry-after']) >= 1);
      provider = await startOidcProvider({ port, ...CLIENT, redirectUri: CALLBACK, accounts });
      // Still inside the backoff: not asked again yet.
      assert.equal((await startAt(page)).statusCode, 503);
      ctx.clock.advance(60_000);
      const up = await startAt(page);
      assert.equal(up.statusCode, 303, up.body);
      assert.ok(String(up.headers.location).startsWith(`${provider.issuer}/auth?`));
    });

    test('first sign-in makes the account, the second finds it; a replayed callback is refused by the provider', async () => {
      assert.ok(provider, 'the provider is up (previous test)');
      const name = uniqueName('panva');
      accounts.set(name, { email: `${name}@panva.example`, email_verified: true });
      const page = browser();
      const { back, res } = await signIn(page, name);
      assert.equal(res.statusCode, 303, res.body);
      assert.equal(res.headers.location, '/account');
      const [user] = await selectRows<{ id: number; username: string; email_verified: boolean }>(ctx.app.deps.db, sql`select id, username, email_verified from users where email = ${`${name}@panva.example`}`);
      assert.equal(user!.username, name);
      assert.equal(user!.email_verified, true);
      assert.match(textOf((await page.get('/account')).body), new RegExp(name));

      // The same callback again, from a browser holding a copy of the flow cookie: the code is spent.
      const replay = browser();
      const first = browser();
      const started = await startAt(first);
      const cookieCopy = first.cookies.get('account_oidc')!;
      const back2 = await signInAtProvider(String(started.headers.location), name, CALLBACK);
      assert.equal((await first.get(`${back2.pathname}${back2.search}`)).statusCode, 303);
      replay.cookies.set('account_oidc', cookieCopy);
      const replayed = await replay.get(`${back2.pathname}${back2.search}`);
      assert.equal(replayed.statusCode, 400);
      assert.equal(replay.cookies.has('account_session'), false);
      // The first callback, opened again by its own browser: the flow is spent.
      assert.equal((await page.get(`${back.pathname}${back.search}`)).statusCode, 400);

      const again = await signIn(browser(), name);
      assert.equal(again.res.statusCode, 303);
      const [count] = await selectRows<{ n: number }>(ctx.app.deps.db, sql`select count(*)::int as n from linked_identities where user_id = ${user!.id}`);
      assert.equal(count!.n, 1);
    });

    test('linking rule with the real provider: verified on both sides links; unverified on either side does not', async () => {
      assert.ok(provider);
      const verified = await register(ctx.app);
      await updateUserProfile(ctx.app.deps.db, verified.id, { emailVerified: true }, ctx.clock.now());
      const unverified = await register(ctx.app);
      const cases = [
        { login: uniqueName('p'), email: verified.email, providerSays: false, links: false, userId: verified.id },
        { login: uniqueName('p'), email: unverified.email, providerSays: true, links: false, userId: unverified.id },
        { login: uniqueName('p'), email: verified.email, providerSays: true, links: true, userId: verified.id },
      ];
      for (const c of cases) {
        accounts.set(c.login, { email: c.email, email_verified: c.providerSays });
        const { res } = await signIn(browser(), c.login);
        assert.equal(res.statusCode, c.links ? 303 : 409, res.body);
        const rows = await selectRows(ctx.app.deps.db, sql`select 1 from linked_identities where subject = ${c.login} and user_id = ${c.userId}`);
        assert.equal(rows.length, c.links ? 1 : 0, JSON.stringify(c));
      }
    });
  });
}
