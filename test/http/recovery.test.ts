import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sql } from 'drizzle-orm';
import { changeUserRole } from '../../src/services/admin/roles.js';
import { updateUserProfile } from '../../src/repositories/users.js';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { databaseKinds, selectRows } from '../helpers/databases.js';
import { authed, codeNow, enrolledUser } from '../helpers/mfa.js';
import { PageClient } from '../helpers/pages.js';
import { bearer, form, login, register, uniqueName } from '../helpers/requests.js';

const ORIGIN = 'http://127.0.0.1:8000';

/**
 * Issue 21, "Recovery that recovers": a reset or the first verification of an address locks an intruder
 * out; a second factor cannot be shed with a password; notices cannot flood an inbox; an admin's address
 * change voids the old address's links. Through HTTP, on both databases.
 */
for (const kind of await databaseKinds()) {
  describe(`recovery that recovers (issue 21) on ${kind}`, () => {
    let ctx: TestApp & { close(): Promise<void> };
    before(async () => {
      ctx = await buildTestApp(kind, { PUBLIC_URL: ORIGIN });
    });
    after(() => ctx.close());

    const db = () => ctx.app.deps.db;
    /** The token of the newest mail of `kind` queued for `recipient` (read from the outbox, as the mailbox would). */
    async function mailedToken(recipient: string, kind: string): Promise<string> {
      await ctx.app.deps.deferred.settled();
      const [mail] = await selectRows<{ text_body: string }>(db(), sql`select text_body from mail_outbox where lower(recipient) = lower(${recipient}) and kind = ${kind} order by id desc limit 1`);
      assert.ok(mail, `a ${kind} mail to ${recipient}`);
      return /token=([A-Za-z0-9_-]+)/.exec(mail.text_body)![1]!;
    }
    const notices = async (recipient: string, kind?: string) =>
      (await selectRows<{ kind: string; text_body: string }>(db(), sql`select kind, text_body from mail_outbox where lower(recipient) = lower(${recipient}) and kind like 'notice:%' order by id`)).filter(
        (m) => kind === undefined || m.kind === `notice:${kind}`,
      );
    const profileStatus = async (token: string) => (await ctx.app.inject({ url: '/user/user', headers: bearer(token) })).statusCode;
    async function resetBy(email: string, password: string) {
      assert.equal((await ctx.app.inject({ method: 'POST', url: '/user/forgot-password', ...form({ email }) })).statusCode, 202);
      const res = await ctx.app.inject({ method: 'POST', url: '/user/reset-password', payload: { token: await mailedToken(email, 'reset_password'), password } });
      assert.equal(res.statusCode, 200, res.body);
    }
    /** The owner of the mailbox asks for a verification link (without SMTP none is mailed at registration). */
    async function verificationToken(email: string): Promise<string> {
      assert.equal((await ctx.app.inject({ method: 'POST', url: '/user/request-verify-token', payload: { email } })).statusCode, 202);
      return mailedToken(email, 'verify_email');
    }
    const verify = (token: string) => ctx.app.inject({ method: 'POST', url: '/user/verify', payload: { token } });
    const insertPasskey = (userId: number, name: string) =>
      selectRows(db(), sql`insert into passkeys (user_id, credential_id, public_key, name, created_at) values (${userId}, ${`cred-${uniqueName()}`}, 'pk', ${name}, now())`);
    const insertIdentity = (userId: number, provider: string) =>
      selectRows(db(), sql`insert into linked_identities (user_id, provider, subject, created_at) values (${userId}, ${provider}, ${uniqueName('sub')}, now())`);
    const waysIn = async (userId: number) => ({
      passkeys: (await selectRows<{ name: string }>(db(), sql`select name from passkeys where user_id = ${userId}`)).map((r) => r.name),
      identities: (await selectRows<{ provider: string }>(db(), sql`select provider from linked_identities where user_id = ${userId}`)).map((r) => r.provider),
    });

    test('finding 1(a): an intruder’s pending e-mail change dies with the owner’s reset', async () => {
      const owner = await register(ctx.app);
      const intruder = await login(ctx.app, owner.username, owner.password);
      const theirs = `${uniqueName('intruder')}@evil.example`;
      const requested = await ctx.app.inject({ method: 'POST', url: '/user/change-email', payload: { new_email: theirs, current_password: owner.password }, headers: bearer(intruder.access_token) });
      assert.equal(requested.statusCode, 202, requested.body);
      const changeToken = await mailedToken(theirs, 'change_email');
      await resetBy(owner.email, 'the-owners-new-secret-1');
      const confirmed = await ctx.app.inject({ method: 'POST', url: '/user/change-email/verify', payload: { token: changeToken } });
      assert.equal(confirmed.statusCode, 400, confirmed.body);
      const [row] = await selectRows<{ email: string }>(db(), sql`select email from users where id = ${owner.id}`);
      assert.equal(row!.email, owner.email);
      assert.deepEqual(await selectRows(db(), sql`select 1 from account_tokens where user_id = ${owner.id}`), [], 'every mailed token is void');
    });

    test('finding 1(a): an e-mail change confirms only under the security stamp it was requested under (a password change voids it)', async () => {
      const owner = await register(ctx.app);
      const intruder = await login(ctx.app, owner.username, owner.password);
      const theirs = `${uniqueName('intruder')}@evil.example`;
      await ctx.app.inject({ method: 'POST', url: '/user/change-email', payload: { new_email: theirs, current_password: owner.password }, headers: bearer(intruder.access_token) });
      const changeToken = await mailedToken(theirs, 'change_email');
      const own = await login(ctx.app, owner.username, owner.password);
      const changed = await ctx.app.inject({ method: 'PUT', url: '/user/update_password', payload: { current_password: owner.password, new_password: 'the-owners-new-secret-2' }, headers: bearer(own.access_token) });
      assert.equal(changed.statusCode, 200, changed.body);
      assert.equal((await ctx.app.inject({ method: 'POST', url: '/user/change-email/verify', payload: { token: changeToken } })).statusCode, 400);
      // A change requested under the current stamp still works.
      const fresh = await login(ctx.app, owner.username, 'the-owners-new-secret-2');
      const mine = `${uniqueName('moved')}@example.org`;
      await ctx.app.inject({ method: 'POST', url: '/user/change-email', payload: { new_email: mine, current_password: 'the-owners-new-secret-2' }, headers: bearer(fresh.access_token) });
      assert.equal((await ctx.app.inject({ method: 'POST', url: '/user/change-email/verify', payload: { token: await mailedToken(mine, 'change_email') } })).statusCode, 200);
    });

    test('finding 1(b): a reset removes every passkey and linked identity, and the notice lists them', async () => {
      const owner = await register(ctx.app);
      await updateUserProfile(db(), owner.id, { emailVerified: true }, ctx.clock.now());
      await insertPasskey(owner.id, 'Intruder key');
      await insertIdentity(owner.id, 'intruderidp');
      await resetBy(owner.email, 'the-owners-new-secret-3');
      assert.deepEqual(await waysIn(owner.id), { passkeys: [], identities: [] });
      const [notice] = await notices(owner.email, 'password_changed');
      assert.match(notice!.text_body, /these were removed: the passkey “Intruder key”, sign-in with intruderidp\./);
      assert.match(notice!.text_body, /If they were yours, add them again/);
      const [event] = await selectRows<{ details: { passkeysRemoved: number; identitiesRemoved: string[] } }>(db(), sql`select details from audit_events where user_id = ${owner.id} and type = 'password_reset'`);
      assert.deepEqual(event!.details.identitiesRemoved, ['intruderidp']);
      assert.equal(event!.details.passkeysRemoved, 1);
    });

    test('finding 1(c): an unverified account adds no passkey; the owner’s first verification ends the squatter’s sessions and removes the ways in added before', async () => {
      // Someone registers the owner's address first and stays signed in, in a browser and through the API.
      const squatter = await register(ctx.app);
      const api = await login(ctx.app, squatter.username, squatter.password);
      const browser = new PageClient(ctx.app, ORIGIN);
      await browser.signIn(squatter.username, squatter.password);
      await browser.get('/account');
      const options = await ctx.app.inject({
        method: 'POST',
        url: '/account/passkeys/options',
        payload: { current_password: squatter.password },
        headers: { cookie: browser.cookieHeader, origin: ORIGIN, 'x-csrf-token': browser.csrf },
      });
      assert.equal(options.statusCode, 403, options.body);
      assert.match(options.json<{ detail: string }>().detail, /Confirm your e-mail address first/);
      // Ways in added before this rule existed (rows of an older version) go at the first verification.
      await insertPasskey(squatter.id, 'Squatter key');
      await insertIdentity(squatter.id, 'squatteridp');
      // The owner of the mailbox opens the verification link mailed at registration.
      const verified = await verify(await verificationToken(squatter.email));
      assert.equal(verified.statusCode, 200, verified.body);
      assert.equal(await profileStatus(api.access_token), 401, 'the API session ended');
      assert.equal((await browser.get('/account')).statusCode, 303, 'the browser session ended');
      assert.deepEqual(await waysIn(squatter.id), { passkeys: [], identities: [] });
      const [notice] = await notices(squatter.email, 'email_verified');
      assert.match(notice!.text_body, /the passkey “Squatter key”, sign-in with squatteridp/);
    });

    test('finding 1(c): verifying in a signed-in browser keeps that browser’s session and ends the others; a second verification ends nothing', async () => {
      const user = await register(ctx.app);
      const other = await login(ctx.app, user.username, user.password);
      const browser = new PageClient(ctx.app, ORIGIN);
      await browser.signIn(user.username, user.password);
      const token = await verificationToken(user.email);
      await browser.get(`/account/verify?token=${token}`);
      const done = await browser.post('/account/verify', { token });
      assert.match(done.body, /your e-mail address is confirmed/);
      assert.equal((await browser.get('/account')).statusCode, 200, 'the verifying browser stays signed in');
      assert.equal(await profileStatus(other.access_token), 401, 'the other session ended');
      // Already verified: a later e-mail change's confirmation is no first verification and ends nothing.
      const again = await login(ctx.app, user.username, user.password);
      const moved = `${uniqueName('moved')}@example.org`;
      await ctx.app.inject({ method: 'POST', url: '/user/change-email', payload: { new_email: moved, current_password: user.password }, headers: bearer(again.access_token) });
      assert.equal((await ctx.app.inject({ method: 'POST', url: '/user/change-email/verify', payload: { token: await mailedToken(moved, 'change_email') } })).statusCode, 200);
      assert.equal(await profileStatus(again.access_token), 200);
    });

    test('finding 1(c): a mailed sign-in code that is the address’s first proof ends the squatter’s sessions and ways in too', async () => {
      const squatter = await register(ctx.app);
      const api = await login(ctx.app, squatter.username, squatter.password);
      await insertIdentity(squatter.id, 'squatteridp');
      assert.equal((await ctx.app.inject({ method: 'POST', url: '/user/passwordless/start', ...form({ email: squatter.email }) })).statusCode, 202);
      await ctx.app.deps.deferred.settled();
      const [mail] = await selectRows<{ text_body: string }>(db(), sql`select text_body from mail_outbox where recipient = ${squatter.email} and kind = 'sign_in_code' order by id desc limit 1`);
      const code = /Your sign-in code: (\d{8})/.exec(mail!.text_body)![1]!;
      const owner = await ctx.app.inject({ method: 'POST', url: '/user/token', ...form({ grant_type: 'email_otp', email: squatter.email, otp: code }) });
      assert.equal(owner.statusCode, 200, owner.body);
      assert.equal(await profileStatus(owner.json<{ access_token: string }>().access_token), 200, 'the owner is signed in');
      assert.equal(await profileStatus(api.access_token), 401, 'the squatter’s session ended');
      assert.deepEqual(await waysIn(squatter.id), { passkeys: [], identities: [] });
    });

    test('finding 2: with TOTP on, a password-only session adds no passkey and makes no recovery codes without a code; a session that signed in with the factor does', async () => {
      const user = await enrolledUser(ctx.app, ctx.clock);
      await updateUserProfile(db(), user.id, { emailVerified: true }, ctx.clock.now());
      // user.accessToken is the password-only session that turned the factor on.
      const codes = await authed(ctx.app, 'POST', '/user/mfa/recovery-codes', user.accessToken, { current_password: user.password });
      assert.equal(codes.statusCode, 403);
      assert.match(codes.json<{ detail: string }>().detail, /second factor is on/);
      const wrongCode = await authed(ctx.app, 'POST', '/user/mfa/recovery-codes', user.accessToken, { current_password: user.password, otp: '000000' });
      assert.equal(wrongCode.statusCode, 400);
      // So fresh codes cannot be made to turn the factor off: the password login still asks for the factor.
      assert.equal((await ctx.app.inject({ method: 'POST', url: '/user/token', ...form({ username: user.username, password: user.password }) })).statusCode, 403);

      // The page: a browser signed in with the factor; then (its session's amr rewritten) one signed in with the password alone.
      const browser = new PageClient(ctx.app, ORIGIN);
      await browser.get('/account/login');
      const first = await browser.post('/account/login', { username: user.username, password: user.password });
      const mfaToken = /name="mfa_token" value="([^"]+)"/.exec(first.body)![1]!;
      assert.equal((await browser.post('/account/login/second-factor', { mfa_token: mfaToken, otp: codeNow(user.secret, ctx.clock), redirect_to: '' })).statusCode, 303);
      await browser.get('/account');
      const options = (fields: Record<string, string>) =>
        ctx.app.inject({ method: 'POST', url: '/account/passkeys/options', payload: { current_password: user.password, ...fields }, headers: { cookie: browser.cookieHeader, origin: ORIGIN, 'x-csrf-token': browser.csrf } });
      assert.equal((await options({})).statusCode, 200, 'a session that signed in with the factor needs no code');
      await selectRows(db(), sql`update sessions set amr = '{pwd}' where user_id = ${user.id}`);
      assert.equal((await options({})).statusCode, 403, 'a password-only session needs a code');
      ctx.clock.advance(30_000);
      assert.equal((await options({ otp: codeNow(user.secret, ctx.clock) })).statusCode, 200);
      assert.equal((await options({ recovery_code: user.recoveryCodes[0]! })).statusCode, 200, 'or a recovery code that existed before');
      assert.equal((await options({ recovery_code: user.recoveryCodes[0]! })).statusCode, 400, 'once');
    });

    test('finding 2: turning TOTP on ends the account’s other sessions (their tokens and refreshes), not the one that turned it on', async () => {
      const user = await register(ctx.app);
      const other = await login(ctx.app, user.username, user.password);
      const own = await login(ctx.app, user.username, user.password);
      const enrolment = await authed(ctx.app, 'POST', '/user/mfa/totp', own.access_token, { current_password: user.password });
      const { secret } = enrolment.json<{ secret: string }>();
      assert.equal((await authed(ctx.app, 'POST', '/user/mfa/totp/confirm', own.access_token, { otp: codeNow(secret, ctx.clock) })).statusCode, 200);
      assert.equal(await profileStatus(other.access_token), 401);
      assert.equal((await ctx.app.inject({ method: 'POST', url: '/user/token/refresh', ...form({ refresh_token: other.refresh_token }) })).statusCode, 401);
      assert.equal(await profileStatus(own.access_token), 200);
      assert.equal((await ctx.app.inject({ method: 'POST', url: '/user/token/refresh', ...form({ refresh_token: own.refresh_token }) })).statusCode, 200);
    });

    test('finding 3: a signed-in browser is never sent to //evil.example by /account/login or /account/oauth/…', async () => {
      const user = await register(ctx.app);
      const browser = new PageClient(ctx.app, ORIGIN);
      await browser.signIn(user.username, user.password);
      for (const target of ['/.//evil.example', '/x/..//evil.example', '/%2e//evil.example', '/./%2F/evil.example']) {
        const res = await browser.get(`/account/login?redirect_to=${encodeURIComponent(target)}`);
        assert.equal(res.statusCode, 303, target);
        assert.equal(res.headers.location, '/account', target);
      }
    });

    test('finding 5: renames spend the password-change budget; notices are capped per address, kind and hour, and an unverified address gets the first only', async () => {
      const unverified = await register(ctx.app);
      const { access_token } = await login(ctx.app, unverified.username, unverified.password);
      const rename = (token: string, username: string) => ctx.app.inject({ method: 'PATCH', url: '/user/user', payload: { username }, headers: bearer(token) });
      for (let i = 0; i < 8; i++) assert.equal((await rename(access_token, `${unverified.username}_${i}`)).statusCode, 200);
      assert.equal((await notices(unverified.email)).length, 1, 'an address nobody proved gets the first notice of the hour');

      const verified = await register(ctx.app);
      await updateUserProfile(db(), verified.id, { emailVerified: true }, ctx.clock.now());
      const tokens = await login(ctx.app, verified.username, verified.password);
      for (let i = 0; i < 8; i++) assert.equal((await rename(tokens.access_token, `${verified.username}_${i}`)).statusCode, 200);
      assert.equal((await notices(verified.email, 'username_changed')).length, 5, 'MAIL_PER_ADDRESS_PER_HOUR of one kind');
      // A burst of one kind does not hide a notice of another.
      await resetBy(verified.email, 'a-brand-new-secret-5');
      assert.equal((await notices(verified.email, 'password_changed')).length, 1);
      // An hour later the budget is back.
      ctx.clock.advance(3600_000 + 1000);
      const later = await login(ctx.app, `${verified.username}_7`, 'a-brand-new-secret-5');
      assert.equal((await rename(later.access_token, `${verified.username}_later`)).statusCode, 200);
      assert.equal((await notices(verified.email, 'username_changed')).length, 6);
    });

    test('finding 6: an admin’s e-mail change voids the links mailed to the old address and tells it', async () => {
      const admin = await register(ctx.app);
      await changeUserRole(ctx.app.deps, admin.username, 'admin', 'add');
      const adminToken = (await login(ctx.app, admin.username, admin.password)).access_token;
      const user = await register(ctx.app);
      await ctx.app.inject({ method: 'POST', url: '/user/forgot-password', ...form({ email: user.email }) });
      const resetToken = await mailedToken(user.email, 'reset_password');
      const moved = `${uniqueName('moved')}@example.org`;
      const res = await ctx.app.inject({ method: 'PATCH', url: `/admin/users/${user.id}`, payload: { email: moved }, headers: bearer(adminToken) });
      assert.equal(res.statusCode, 200, res.body);
      assert.equal((await ctx.app.inject({ method: 'POST', url: '/user/reset-password', payload: { token: resetToken, password: 'a-brand-new-secret-6' } })).statusCode, 400);
      assert.equal((await notices(user.email, 'email_changed')).length, 1);
    });
  });
}

describe('finding 5 with the request budgets on', () => {
  test('40 renames in a row: the password-change budget of the account answers 429 after RATE_LIMIT_PASSWORD_PER_ACCOUNT', async (t) => {
    const ctx = await buildTestApp('pglite', { RATE_LIMIT_ENABLED: 'true', RATE_LIMIT_PASSWORD_PER_ACCOUNT: '5', RATE_LIMIT_PASSWORD_PER_IP: '100' });
    t.after(() => ctx.close());
    const user = await register(ctx.app);
    const { access_token } = await login(ctx.app, user.username, user.password);
    const statuses: number[] = [];
    for (let i = 0; i < 40; i++) {
      statuses.push((await ctx.app.inject({ method: 'PATCH', url: '/user/user', payload: { username: `${user.username}_${i}` }, headers: bearer(access_token) })).statusCode);
    }
    assert.equal(statuses.filter((s) => s === 200).length, 5);
    assert.equal(statuses.filter((s) => s === 429).length, 35);
  });
});
