import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sql } from 'drizzle-orm';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { databaseKinds, selectRows } from '../helpers/databases.js';
import { startFakeIdp, type IssueOptions } from '../helpers/fake-idp.js';
import { codeNow, enrolledUser } from '../helpers/mfa.js';
import { PageClient, textOf } from '../helpers/pages.js';
import { form, register, uniqueName } from '../helpers/requests.js';
import { updateUserProfile } from '../../src/repositories/users.js';

const ORIGIN = 'http://127.0.0.1:8000';
const CLIENT_ID = 'user-services-test';

for (const kind of await databaseKinds()) {
  describe(`sign-in with an OpenID provider on ${kind}`, () => {
    let ctx: TestApp & { close(): Promise<void> };
    let idp: Awaited<ReturnType<typeof startFakeIdp>>;
    before(async () => {
      idp = await startFakeIdp(CLIENT_ID);
      ctx = await buildTestApp(kind, {
        ALLOWED_REDIRECT_ORIGINS: 'https://app.example.com',
        OIDC_PROVIDERS: 'fake',
        OIDC_FAKE_ISSUER: idp.issuer,
        OIDC_FAKE_CLIENT_ID: CLIENT_ID,
        OIDC_FAKE_CLIENT_SECRET: 'fake-client-secret',
        OIDC_FAKE_LABEL: 'Fake IdP',
      });
    });
    after(async () => {
      await ctx.close();
      await idp.close();
    });
    const browser = () => new PageClient(ctx.app, ORIGIN);

    /**
     * Starts the flow in `page` as the sign-in page's button does (a POST with its CSRF token: issue 21):
     * the redirect to the provider, with what it carries.
     */
    async function start(page: PageClient, query = '') {
      await page.get(`/account/login${query}`);
      const redirectTo = new URLSearchParams(query.replace(/^\?/, '')).get('redirect_to');
      const res = await page.post('/account/oauth/fake', redirectTo === null ? {} : { redirect_to: redirectTo });
      assert.equal(res.statusCode, 303, res.body);
      const location = new URL(String(res.headers.location));
      return { res, location, state: location.searchParams.get('state')!, nonce: location.searchParams.get('nonce')! };
    }
    const callback = (page: PageClient, code: string, state: string) => page.get(`/account/oauth/fake/callback?${new URLSearchParams({ code, state })}`);
    /** A whole sign-in at the provider as `claims`, ending at our callback. */
    async function signInAs(page: PageClient, claims: IssueOptions['claims'], extra: Omit<IssueOptions, 'nonce' | 'claims'> = {}, query = '') {
      const { state, nonce } = await start(page, query);
      return callback(page, idp.code({ nonce, claims, ...extra }), state);
    }
    const profileOf = async (page: PageClient) => {
      const res = await page.get('/account');
      assert.equal(res.statusCode, 200, res.body);
      return textOf(res.body);
    };
    const identities = (userId: number) =>
      selectRows<{ provider: string; subject: string; email: string; email_verified: boolean }>(
        ctx.app.deps.db,
        sql`select provider, subject, email, email_verified from linked_identities where user_id = ${userId} order by id`,
      );
    const userByEmail = async (email: string) =>
      (await selectRows<{ id: number; username: string; email_verified: boolean; hash_password: string }>(ctx.app.deps.db, sql`select * from users where lower(email) = lower(${email})`))[0];

    test('a disabled or banned account is refused through its provider too, as after a right password (403)', async () => {
      const name = uniqueName('fedoff');
      const claims = { sub: `sub-${name}`, email: `${name}@idp.example`, email_verified: true };
      assert.equal((await signInAs(browser(), claims)).statusCode, 303);
      const user = (await userByEmail(claims.email))!;
      await ctx.app.deps.db.execute(sql`update users set is_active = false where id = ${user.id}`);
      const disabled = await signInAs(browser(), claims);
      assert.equal(disabled.statusCode, 403, disabled.body);
      assert.match(disabled.body, /Account disabled/);
      await ctx.app.deps.db.execute(sql`update users set is_active = true, banned_until = ${new Date(ctx.clock.now().getTime() + 3600_000).toISOString()}::timestamptz where id = ${user.id}`);
      assert.equal((await signInAs(browser(), claims)).statusCode, 403, 'banned');
      const [refused] = await selectRows<{ n: number }>(ctx.app.deps.db, sql`select count(*)::int as n from audit_events where user_id = ${user.id} and type = 'login_refused'`);
      assert.equal(refused!.n, 2);
    });

    test('the redirect to the provider: code flow, PKCE S256, state and nonce, the registered redirect URI; the checks ride in a sealed HttpOnly cookie', async () => {
      const page = browser();
      const { res, location, state, nonce } = await start(page);
      assert.equal(location.origin + location.pathname, `${idp.issuer}/authorize`);
      assert.equal(location.searchParams.get('response_type'), 'code');
      assert.equal(location.searchParams.get('client_id'), CLIENT_ID);
      assert.equal(location.searchParams.get('redirect_uri'), `${ORIGIN}/account/oauth/fake/callback`);
      assert.equal(location.searchParams.get('code_challenge_method'), 'S256');
      assert.match(location.searchParams.get('code_challenge')!, /^[A-Za-z0-9_-]{43}$/);
      assert.match(location.searchParams.get('scope')!, /\bopenid\b/);
      assert.ok(state.length >= 32 && nonce.length >= 32);
      const cookie = res.cookies.find((c) => c.name === 'account_oidc')!;
      assert.equal(cookie.httpOnly, true);
      assert.equal(cookie.sameSite, 'Lax');
      assert.equal(cookie.path, '/');
      assert.ok(cookie.maxAge! > 0 && cookie.maxAge! <= 600);
      // Sealed: neither the state, the nonce nor the verifier can be read from it.
      assert.equal(cookie.value.includes(state), false);
      assert.equal(cookie.value.includes(nonce), false);
      // The sign-in page offers the provider: a form that posts its CSRF token (issue 21, finding 7; ASVS 5.0 7.6).
      const login = await browser().get('/account/login?redirect_to=/account');
      assert.match(login.body, /<form method="post" action="\/account\/oauth\/fake">\s*<input type="hidden" name="_csrf"[^>]*>\s*<input type="hidden" name="redirect_to" value="\/account">/);
      assert.match(textOf(login.body), /Sign in with Fake IdP/);
    });

    test('a provider sign-in cannot be started cross-site: a GET starts nothing, a post without the page token or from another site is refused (issue 21)', async () => {
      const page = browser();
      const get = await page.get('/account/oauth/fake?redirect_to=/account');
      assert.equal(get.statusCode, 303);
      assert.equal(get.headers.location, '/account/login?redirect_to=%2Faccount');
      assert.equal(page.cookies.has('account_oidc'), false, 'no flow started');
      const noToken = await page.post('/account/oauth/fake', { _csrf: '' });
      assert.equal(noToken.statusCode, 403);
      await page.get('/account/login');
      const crossSite = await page.post('/account/oauth/fake', {}, { origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' });
      assert.equal(crossSite.statusCode, 403);
      assert.equal(page.cookies.has('account_oidc'), false, 'no flow started');
    });

    test('first sign-in with an unknown identity makes an account (no usable password, address verified as the provider said); the second finds it', async () => {
      const name = uniqueName('fed');
      const email = `${name}@idp.example`;
      const page = browser();
      const first = await signInAs(page, { sub: `sub-${name}`, email, email_verified: true });
      assert.equal(first.statusCode, 303, first.body);
      assert.equal(first.headers.location, '/account');
      const user = (await userByEmail(email))!;
      assert.equal(user.username, name);
      assert.equal(user.email_verified, true);
      // Listed with the other sessions, saying how it was opened.
      assert.match(await profileOf(page), /this browser through Fake IdP/);
      assert.deepEqual(await identities(user.id), [{ provider: 'fake', subject: `sub-${name}`, email, email_verified: true }]);
      // The session is an ordinary one, recording the provider.
      const [session] = await selectRows<{ amr: string[] }>(ctx.app.deps.db, sql`select amr from sessions where user_id = ${user.id}`);
      assert.deepEqual(session!.amr, ['fed', 'idp:fake']);
      // No password can sign in to it: not even its stored hash string.
      for (const password of ['', user.hash_password, 'correct-horse-1']) {
        const token = await ctx.app.inject({ method: 'POST', url: '/user/token', ...form({ username: name, password: password || 'x' }) });
        assert.equal(token.statusCode, 401);
      }
      // A second sign-in finds it, even after the provider changed the address.
      const again = await signInAs(browser(), { sub: `sub-${name}`, email: `new-${email}`, email_verified: false });
      assert.equal(again.statusCode, 303, again.body);
      const [count] = await selectRows<{ n: number }>(ctx.app.deps.db, sql`select count(*)::int as n from users where lower(username) like ${`${name}%`}`);
      assert.equal(count!.n, 1);
      assert.equal((await identities(user.id))[0]!.email, `new-${email}`);
    });

    test('no account is made on an address the provider has not verified, or without an address', async () => {
      for (const claims of [{ sub: 'unverified-new', email: 'unverified-new@idp.example', email_verified: false }, { sub: 'no-address' }]) {
        const page = browser();
        const res = await signInAs(page, claims);
        assert.equal(res.statusCode, 403, res.body);
        assert.match(textOf(res.body), /has not confirmed an e-mail address/);
        assert.equal(page.cookies.has('account_session'), false);
      }
      assert.equal(await userByEmail('unverified-new@idp.example'), undefined);
      const [none] = await selectRows<{ n: number }>(ctx.app.deps.db, sql`select count(*)::int as n from linked_identities where subject in ('unverified-new', 'no-address')`);
      assert.equal(none!.n, 0);
      // Each refusal is a security event (issue 21, finding 7).
      const events = await selectRows<{ reason: string }>(
        ctx.app.deps.db,
        sql`select details->>'reason' as reason from audit_events where type = 'federated_login_failed' and details->>'reason' in ('email_not_verified', 'no_email') order by id`,
      );
      assert.deepEqual(events.map((e) => e.reason), ['email_not_verified', 'no_email']);
    });

    test('linking asks who you are first (issue 21, finding 4): the password or a code of the second factor; an unverified address links nothing', async () => {
      const user = await enrolledUser(ctx.app, ctx.clock);
      const page = browser();
      await page.get('/account/login');
      const first = await page.post('/account/login', { username: user.username, password: user.password });
      const mfaToken = /name="mfa_token" value="([^"]+)"/.exec(first.body)![1]!;
      assert.equal((await page.post('/account/login/second-factor', { mfa_token: mfaToken, otp: codeNow(user.secret, ctx.clock), redirect_to: '' })).statusCode, 303);
      const home = await page.get('/account');
      assert.match(textOf(home.body), /Confirm your e-mail address first: then you can link other providers/);
      const unverified = await page.post('/account/oauth/fake/link', { current_password: user.password });
      assert.equal(unverified.statusCode, 403);
      await updateUserProfile(ctx.app.deps.db, user.id, { emailVerified: true }, ctx.clock.now());
      await page.get('/account');
      const bare = await page.post('/account/oauth/fake/link', {});
      assert.equal(bare.statusCode, 403, 'a signed-in browser alone is not enough');
      assert.match(textOf(bare.body), /Confirm it is you first/);
      assert.equal(page.cookies.has('account_oidc'), false, 'no flow started');
      assert.equal((await page.post('/account/oauth/fake/link', { current_password: 'not-the-password' })).statusCode, 400);
      const byPassword = await page.post('/account/oauth/fake/link', { current_password: user.password });
      assert.equal(byPassword.statusCode, 303, byPassword.body);
      ctx.clock.advance(30_000);
      await page.get('/account');
      const byCode = await page.post('/account/oauth/fake/link', { otp: codeNow(user.secret, ctx.clock) });
      assert.equal(byCode.statusCode, 303, byCode.body);
      const at = new URL(String(byCode.headers.location));
      const linked = await callback(page, idp.code({ nonce: at.searchParams.get('nonce')!, claims: { sub: `code-${user.username}` } }), at.searchParams.get('state')!);
      assert.equal(linked.statusCode, 303, linked.body);
      // An account made by a provider (no password, no second factor) links right after signing in, not later.
      const name = uniqueName('fresh');
      const fresh = browser();
      assert.equal((await signInAs(fresh, { sub: `sub-${name}`, email: `${name}@idp.example`, email_verified: true })).statusCode, 303);
      await fresh.get('/account');
      ctx.clock.advance(6 * 60_000);
      assert.equal((await fresh.post('/account/oauth/fake/link', {})).statusCode, 403, 'five minutes after signing in, it signs in again first');
    });

    test('a page session ends with a running ban (issue 21, finding 7)', async () => {
      const user = await register(ctx.app);
      const page = browser();
      await page.signIn(user.username, user.password);
      assert.equal((await page.get('/account')).statusCode, 200);
      await ctx.app.deps.db.execute(sql`update users set banned_until = ${new Date(ctx.clock.now().getTime() + 3600_000).toISOString()}::timestamptz where id = ${user.id}`);
      const banned = await page.get('/account');
      assert.equal(banned.statusCode, 303);
      assert.match(String(banned.headers.location), /^\/account\/login/);
    });

    test('the e-mail claims come from UserInfo when the ID token lacks them, only with the ID token’s sub (issue 21, finding 8)', async () => {
      const name = uniqueName('userinfo');
      const email = `${name}@idp.example`;
      const mismatched = await signInAs(browser(), { sub: `sub-${name}` }, { userinfo: { sub: 'someone-else', email, email_verified: true } });
      assert.equal(mismatched.statusCode, 400, 'a UserInfo answer about another subject is refused');
      assert.equal(await userByEmail(email), undefined);
      const page = browser();
      const res = await signInAs(page, { sub: `sub-${name}` }, { userinfo: { sub: `sub-${name}`, email, email_verified: true } });
      assert.equal(res.statusCode, 303, res.body);
      assert.equal((await userByEmail(email))!.email_verified, true);
    });

    test('usernames are derived from the address and de-duplicated', async () => {
      const taken = await register(ctx.app);
      const res = await signInAs(browser(), { sub: `sub-${taken.username}`, email: `${taken.username}@other-idp.example`, email_verified: true });
      assert.equal(res.statusCode, 303, res.body);
      const made = (await userByEmail(`${taken.username}@other-idp.example`))!;
      assert.equal(made.username, `${taken.username}2`);
      // Within the API's username rules, however long or foreign the address.
      for (const local of ['a'.repeat(60), 'élodie+tag', 'x']) {
        const sub = uniqueName('long');
        assert.equal((await signInAs(browser(), { sub, email: `${local}.${sub}@idp.example`.slice(-254), email_verified: true })).statusCode, 303);
        const [row] = await selectRows<{ username: string }>(ctx.app.deps.db, sql`select u.username from users u join linked_identities i on i.user_id = u.id where i.subject = ${sub}`);
        assert.match(row!.username, /^[A-Za-z0-9_.-]{3,32}$/, row!.username);
      }
    });

    test('linking rule: verified by the provider AND verified here links; unverified on either side does not', async () => {
      const verifiedHere = await register(ctx.app);
      await updateUserProfile(ctx.app.deps.db, verifiedHere.id, { emailVerified: true }, ctx.clock.now());
      const unverifiedHere = await register(ctx.app);

      // Unverified at the provider, verified here: no link, no new account, the person is told to sign in and link.
      const refused = await signInAs(browser(), { sub: 'attacker-1', email: verifiedHere.email, email_verified: false });
      assert.equal(refused.statusCode, 409);
      assert.match(textOf(refused.body), /sign in to that account first/);
      assert.deepEqual(await identities(verifiedHere.id), []);
      // The string "true" is not true.
      assert.equal((await signInAs(browser(), { sub: 'attacker-2', email: verifiedHere.email, email_verified: 'true' })).statusCode, 409);

      // Verified at the provider, unverified here (the pre-account takeover): no link either.
      const preHijack = await signInAs(browser(), { sub: 'victim-1', email: unverifiedHere.email, email_verified: true });
      assert.equal(preHijack.statusCode, 409);
      assert.deepEqual(await identities(unverifiedHere.id), []);
      const [none] = await selectRows<{ n: number }>(ctx.app.deps.db, sql`select count(*)::int as n from linked_identities where subject in ('attacker-1', 'attacker-2', 'victim-1')`);
      assert.equal(none!.n, 0);

      // Both verified: linked, signed in to the existing account, the owner told by mail.
      const page = browser();
      const linked = await signInAs(page, { sub: 'owner-1', email: verifiedHere.email.toUpperCase(), email_verified: true });
      assert.equal(linked.statusCode, 303, linked.body);
      assert.match(await profileOf(page), new RegExp(verifiedHere.username));
      assert.deepEqual((await identities(verifiedHere.id)).map((i) => i.subject), ['owner-1']);
      const [mail] = await selectRows<{ subject: string }>(ctx.app.deps.db, sql`select subject from mail_outbox where user_id = ${verifiedHere.id} and kind = 'notice:identity_linked'`);
      assert.match(mail!.subject, /sign-in provider was linked/);
    });

    test('a callback with the state of another browser is refused, and signs nobody in', async () => {
      const victim = browser();
      const attacker = browser();
      // The attacker starts a flow and gets a code for their own identity, then makes the victim's browser
      // open the callback (login CSRF, CVE-2025-68481): the victim's browser has no flow, or another one.
      const { state, nonce } = await start(attacker);
      const code = idp.code({ nonce, claims: { sub: 'csrf-attacker', email: 'csrf-attacker@idp.example', email_verified: true } });
      const withoutFlow = await callback(victim, code, state);
      assert.equal(withoutFlow.statusCode, 400);
      await start(victim);
      const withOtherFlow = await callback(victim, code, state);
      assert.equal(withOtherFlow.statusCode, 400);
      assert.match(textOf(withOtherFlow.body), /did not succeed/);
      assert.equal(victim.cookies.has('account_session'), false);
      assert.equal(await userByEmail('csrf-attacker@idp.example'), undefined);
      const events = await selectRows<{ details: { provider: string } }>(ctx.app.deps.db, sql`select details from audit_events where type = 'federated_login_failed' and user_id is null`);
      assert.ok(events.length >= 2 && events.every((e) => e.details.provider === 'fake'));
      // A cookie that was altered does not open.
      await start(victim);
      victim.cookies.set('account_oidc', `${victim.cookies.get('account_oidc')!.slice(0, -4)}AAAA`);
      assert.equal((await callback(victim, code, state)).statusCode, 400);
    });

    test('a replayed callback is refused: the flow cookie is single use, and the code is redeemed once', async () => {
      const page = browser();
      const { state, nonce } = await start(page);
      const cookieCopy = page.cookies.get('account_oidc')!;
      const code = idp.code({ nonce, claims: { sub: 'replay-1', email: 'replay-1@idp.example', email_verified: true } });
      assert.equal((await callback(page, code, state)).statusCode, 303);
      // The same browser again: its flow is spent.
      const replay = browser();
      replay.cookies.set('account_oidc', cookieCopy);
      const redeemedBefore = idp.redeemed;
      // With a copy of the cookie too: the provider will not redeem the code a second time.
      const res = await callback(replay, code, state);
      assert.equal(res.statusCode, 400);
      assert.equal(idp.redeemed, redeemedBefore);
      assert.equal(replay.cookies.has('account_session'), false);
    });

    test('the flow expires (10 minutes, on the service clock)', async () => {
      const page = browser();
      const { state, nonce } = await start(page);
      ctx.clock.advance(601_000);
      const res = await callback(page, idp.code({ nonce, claims: { sub: 'slow-1', email: 'slow-1@idp.example', email_verified: true } }), state);
      assert.equal(res.statusCode, 400);
    });

    for (const [what, extra] of [
      ['wrong audience', { tamper: { aud: 'another-client' } }],
      ['wrong issuer', { tamper: { iss: 'https://evil.example' } }],
      ['wrong nonce', { tamper: { nonce: 'not-the-nonce-of-this-flow' } }],
      ['expired', { tamper: { exp: Math.floor(Date.now() / 1000) - 3600, iat: Math.floor(Date.now() / 1000) - 7200 } }],
      ['signed with a key not in the JWKS', { foreignKey: true }],
    ] as const) {
      test(`an ID token with ${what} is refused`, async () => {
        const page = browser();
        const sub = `tampered-${uniqueName()}`;
        const res = await signInAs(page, { sub, email: `${sub}@idp.example`, email_verified: true }, extra as Omit<IssueOptions, 'nonce' | 'claims'>);
        assert.equal(res.statusCode, 400, res.body);
        assert.equal(page.cookies.has('account_session'), false);
        assert.equal(await userByEmail(`${sub}@idp.example`), undefined);
      });
    }

    test('redirect_to: an allowed target is followed after sign-in; another site is not', async () => {
      const allowed = await signInAs(browser(), { sub: 'redir-1', email: 'redir-1@idp.example', email_verified: true }, {}, '?redirect_to=https%3A%2F%2Fapp.example.com%2Fhome');
      assert.equal(allowed.headers.location, 'https://app.example.com/home');
      for (const evil of ['https://evil.example/x', '//evil.example', '/\\evil.example', 'https://app.example.com@evil.example/']) {
        const res = await signInAs(browser(), { sub: 'redir-1', email: 'redir-1@idp.example', email_verified: true }, {}, `?redirect_to=${encodeURIComponent(evil)}`);
        assert.equal(res.statusCode, 303);
        assert.equal(res.headers.location, '/account', evil);
      }
    });

    test('the second factor is still asked: the page second step, then the session', async () => {
      const user = await enrolledUser(ctx.app, ctx.clock);
      await updateUserProfile(ctx.app.deps.db, user.id, { emailVerified: true }, ctx.clock.now());
      const page = browser();
      const first = await signInAs(page, { sub: `mfa-${user.username}`, email: user.email, email_verified: true });
      assert.equal(first.statusCode, 200);
      assert.match(textOf(first.body), /Second step of sign-in/);
      assert.equal(page.cookies.has('account_session'), false);
      const mfaToken = /name="mfa_token" value="([^"]+)"/.exec(first.body)![1]!;
      const done = await page.post('/account/login/second-factor', { mfa_token: mfaToken, otp: codeNow(user.secret, ctx.clock), redirect_to: '' });
      assert.equal(done.statusCode, 303, done.body);
      assert.ok(page.cookies.has('account_session'));
      // The session says how: the provider, then the code — not a password.
      const [session] = await selectRows<{ amr: string[] }>(ctx.app.deps.db, sql`select amr from sessions where user_id = ${user.id} order by created_at desc limit 1`);
      assert.deepEqual(session!.amr, ['fed', 'idp:fake', 'otp']);
    });

    test('an unknown provider is 404; a provider the person refused at is a plain refusal', async () => {
      const unknown = browser();
      await unknown.get('/account/login');
      assert.equal((await unknown.post('/account/oauth/nope', {})).statusCode, 404);
      const page = browser();
      const { state } = await start(page);
      const res = await page.get(`/account/oauth/fake/callback?error=access_denied&state=${state}`);
      assert.equal(res.statusCode, 400);
      assert.match(textOf(res.body), /did not sign you in/);
    });

    test('the account page links another identity (signed in, by form) and unlinks; the last way in cannot be unlinked', async () => {
      // An account made by the provider: its identity is its only way in.
      const name = uniqueName('only');
      const page = browser();
      assert.equal((await signInAs(page, { sub: `sub-${name}`, email: `${name}@idp.example`, email_verified: true })).statusCode, 303);
      const user = (await userByEmail(`${name}@idp.example`))!;
      const home = await page.get('/account');
      const [only] = await selectRows<{ id: number }>(ctx.app.deps.db, sql`select id from linked_identities where user_id = ${user.id}`);
      assert.match(home.body, new RegExp(`action="/account/identities/${only!.id}/unlink"`));
      const refused = await page.post(`/account/identities/${only!.id}/unlink`, {});
      assert.equal(refused.statusCode, 409);
      assert.match(textOf(refused.body), /last way to sign in/);
      assert.equal((await identities(user.id)).length, 1);

      // Link a second identity from the account page: a form post (CSRF), then the provider, then back.
      const linkStart = await page.post('/account/oauth/fake/link', {});
      assert.equal(linkStart.statusCode, 303, linkStart.body);
      const location = new URL(String(linkStart.headers.location));
      // Even an address another account has can be linked this way: the person proved both sides.
      const other = await register(ctx.app);
      const code = idp.code({ nonce: location.searchParams.get('nonce')!, claims: { sub: `second-${name}`, email: other.email, email_verified: false } });
      const linked = await callback(page, code, location.searchParams.get('state')!);
      assert.equal(linked.statusCode, 303, linked.body);
      assert.equal(linked.headers.location, '/account?notice=identity_linked');
      assert.deepEqual((await identities(user.id)).map((i) => i.subject), [`sub-${name}`, `second-${name}`]);
      // Now the first can go; then the second is the last again.
      assert.equal((await page.post(`/account/identities/${only!.id}/unlink`, {})).statusCode, 303);
      const [second] = await selectRows<{ id: number }>(ctx.app.deps.db, sql`select id from linked_identities where user_id = ${user.id}`);
      assert.equal((await page.post(`/account/identities/${second!.id}/unlink`, {})).statusCode, 409);
      // Another account's identity is not this account's to unlink.
      const stranger = browser();
      await stranger.signIn(other.username, other.password);
      assert.equal((await stranger.post(`/account/identities/${second!.id}/unlink`, {})).statusCode, 404);
      // An identity linked elsewhere cannot be linked again.
      await updateUserProfile(ctx.app.deps.db, other.id, { emailVerified: true }, ctx.clock.now());
      await stranger.get('/account');
      const again = await stranger.post('/account/oauth/fake/link', { current_password: other.password });
      const againAt = new URL(String(again.headers.location));
      const taken = await callback(stranger, idp.code({ nonce: againAt.searchParams.get('nonce')!, claims: { sub: `second-${name}` } }), againAt.searchParams.get('state')!);
      assert.equal(taken.statusCode, 409);
      // An account with a password may unlink its only identity.
      const withPassword = browser();
      await withPassword.signIn(other.username, other.password);
      await withPassword.get('/account');
      const link2 = await withPassword.post('/account/oauth/fake/link', { current_password: other.password });
      const at2 = new URL(String(link2.headers.location));
      assert.equal((await callback(withPassword, idp.code({ nonce: at2.searchParams.get('nonce')!, claims: { sub: `pw-${name}` } }), at2.searchParams.get('state')!)).statusCode, 303);
      const [pw] = await selectRows<{ id: number }>(ctx.app.deps.db, sql`select id from linked_identities where subject = ${`pw-${name}`}`);
      assert.equal((await withPassword.post(`/account/identities/${pw!.id}/unlink`, {})).statusCode, 303);
    });

    test('an account made by a provider sets a password through the reset flow; the reset removes the identity (issue 21) and the notice says so', async () => {
      const name = uniqueName('reset');
      const email = `${name}@idp.example`;
      const page = browser();
      assert.equal((await signInAs(page, { sub: `sub-${name}`, email, email_verified: true })).statusCode, 303);
      assert.equal((await ctx.app.inject({ method: 'POST', url: '/user/forgot-password', ...form({ email }) })).statusCode, 202);
      await ctx.app.deps.deferred.settled();
      const [mail] = await selectRows<{ text_body: string }>(ctx.app.deps.db, sql`select text_body from mail_outbox where recipient = ${email} and kind = 'reset_password'`);
      const token = /token=([A-Za-z0-9_-]+)/.exec(mail!.text_body)![1]!;
      const reset = await ctx.app.inject({ method: 'POST', url: '/user/reset-password', payload: { token, password: 'a-new-long-password-9' } });
      assert.equal(reset.statusCode, 200, reset.body);
      const login = await ctx.app.inject({ method: 'POST', url: '/user/token', ...form({ username: name, password: 'a-new-long-password-9' }) });
      assert.equal(login.statusCode, 200, login.body);
      const user = (await userByEmail(email))!;
      assert.deepEqual(await identities(user.id), [], 'a reset removes the identities linked before it');
      const [notice] = await selectRows<{ text_body: string }>(ctx.app.deps.db, sql`select text_body from mail_outbox where recipient = ${email} and kind = 'notice:password_changed'`);
      assert.match(notice!.text_body, /these were removed: sign-in with fake/);
      const stillThere = await signInAs(browser(), { sub: `sub-${name}`, email, email_verified: true });
      assert.equal(stillThere.statusCode, 303, 'the same identity links again only by the rule for addresses both sides verified');
    });

    test('a link flow finished by a browser signed in to another account is refused', async () => {
      const a = await register(ctx.app);
      const b = await register(ctx.app);
      await updateUserProfile(ctx.app.deps.db, a.id, { emailVerified: true }, ctx.clock.now());
      const page = browser();
      await page.signIn(a.username, a.password);
      await page.get('/account');
      const started = await page.post('/account/oauth/fake/link', { current_password: a.password });
      const at = new URL(String(started.headers.location));
      // Meanwhile this browser signed out and in as someone else.
      await page.post('/account/logout', {});
      await page.signIn(b.username, b.password);
      const res = await callback(page, idp.code({ nonce: at.searchParams.get('nonce')!, claims: { sub: `switch-${a.username}` } }), at.searchParams.get('state')!);
      assert.equal(res.statusCode, 400);
      assert.equal((await selectRows(ctx.app.deps.db, sql`select 1 from linked_identities where subject = ${`switch-${a.username}`}`)).length, 0);
    });
  });
}
