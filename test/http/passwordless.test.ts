import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sql } from 'drizzle-orm';
import { decodeJwt } from 'jose';
import { loggerOptions } from '../../src/logging.js';
import { buildMailTestApp, buildTestApp, deliverMail, type MailTestApp } from '../helpers/app.js';
import { pruneMailRecords } from '../../src/services/housekeeping.js';
import { databaseKinds, selectRows } from '../helpers/databases.js';
import { codeNow, enrolledUser, redeem } from '../helpers/mfa.js';
import { bearer, form, login, register, uniqueName } from '../helpers/requests.js';
import { codeIn, newestSignInMail } from '../helpers/passwordless.js';
import { linkIn, TestSmtpServer, type ReceivedMail } from '../helpers/smtp.js';

const PUBLIC_URL = 'https://auth.example.com';


for (const kind of await databaseKinds()) {
  describe(`passwordless sign-in by a mailed code, through the API, on ${kind}`, () => {
    let ctx: MailTestApp;
    before(async () => {
      // The lockout is out of the way (threshold 50) except where a test builds its own app.
      ctx = await buildMailTestApp(kind, { PUBLIC_URL, MAIL_PER_ADDRESS_PER_HOUR: '100', LOCKOUT_THRESHOLD: '50' });
    });
    after(() => ctx.close());

    const start = (email: string) => ctx.app.inject({ method: 'POST', url: '/user/passwordless/start', ...form({ email }) });
    /** Asks for a code for `email` and returns the mail that arrives with it. */
    async function mailFor(email: string): Promise<ReceivedMail> {
      await deliverMail(ctx.app);
      const before = ctx.smtp.to(email).length;
      const res = await start(email);
      assert.equal(res.statusCode, 202, res.body);
      await deliverMail(ctx.app);
      const mails = ctx.smtp.to(email);
      assert.equal(mails.length, before + 1, 'one mail arrived');
      return mails.at(-1)!;
    }
    const grant = (email: string, otp: string) => redeem(ctx.app, { grant_type: 'email_otp', email, otp });

    test('code sign-in: the mail has an 8-digit code and a link; the email_otp grant gives tokens with amr ["email"] and verifies the address', async () => {
      const user = await register(ctx.app);
      const mail = await mailFor(user.email);
      assert.match(mail.subject, /sign-in code/);
      assert.doesNotMatch(mail.subject, /\d{8}/, 'the code is not in the subject (lock-screen previews)');
      const code = codeIn(mail);
      const { url } = linkIn(mail);
      assert.ok(url.startsWith(`${PUBLIC_URL}/account/login/email/link?token=`), url);
      const stored = await selectRows<{ code_hash: string; link_hash: string }>(ctx.database.handle.db, sql`select code_hash, link_hash from passwordless_codes where user_id = ${user.id}`);
      assert.equal(stored.length, 1);
      assert.ok(!stored[0]!.code_hash.includes(code) && !stored[0]!.link_hash.includes(linkIn(mail).token), 'only hashes are stored');
      const res = await grant(user.email.toUpperCase(), code);
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(res.headers['cache-control'], 'no-store');
      const tokens = res.json() as { access_token: string; refresh_token: string };
      assert.deepEqual(decodeJwt(tokens.access_token).amr, ['email']);
      const profile = (await ctx.app.inject({ url: '/user/user', headers: bearer(tokens.access_token) })).json() as { email_verified: boolean };
      assert.equal(profile.email_verified, true, 'the sign-in verified the address');
      const [session] = await selectRows(ctx.database.handle.db, sql`select amr from sessions where id = ${decodeJwt(tokens.access_token).sid as string}`);
      assert.deepEqual(session, { amr: ['email'] });
      assert.equal((await grant(user.email, code)).statusCode, 401, 'single use');
    });

    test("Auth0's passwordless grant works too (username, otp, realm=email); another realm is refused", async () => {
      const user = await register(ctx.app);
      const code = codeIn(await mailFor(user.email));
      const auth0 = 'http://auth0.com/oauth/grant-type/passwordless/otp';
      const sms = await redeem(ctx.app, { grant_type: auth0, username: user.email, otp: code, realm: 'sms' });
      assert.equal(sms.statusCode, 422, sms.body);
      const res = await redeem(ctx.app, { grant_type: auth0, username: user.email, otp: code, realm: 'email' });
      assert.equal(res.statusCode, 200, res.body);
    });

    test('a wrong code is 401 invalid_grant; a new request voids the older code', async () => {
      const user = await register(ctx.app);
      const first = codeIn(await mailFor(user.email));
      const wrong = await grant(user.email, first === '00000000' ? '11111111' : '00000000');
      assert.equal(wrong.statusCode, 401);
      assert.equal(wrong.json().error, 'invalid_grant');
      const second = codeIn(await mailFor(user.email));
      if (first !== second) assert.equal((await grant(user.email, first)).statusCode, 401, 'the older code is void');
      assert.equal((await grant(user.email, second)).statusCode, 200);
    });

    test('at most 5 wrong codes per issued code: then even the right one is refused, and a new code works', async () => {
      const user = await register(ctx.app);
      const code = codeIn(await mailFor(user.email));
      const wrongCode = code === '99999999' ? '88888888' : '99999999';
      for (let i = 0; i < 5; i++) assert.equal((await grant(user.email, wrongCode)).statusCode, 401);
      const rows = await selectRows(ctx.database.handle.db, sql`select id from passwordless_codes where user_id = ${user.id}`);
      assert.equal(rows.length, 0, 'the code is dead: its row is gone');
      assert.equal((await grant(user.email, code)).statusCode, 401, 'the right code no longer works');
      assert.equal((await grant(user.email, codeIn(await mailFor(user.email)))).statusCode, 200);
    });

    test('the code expires after PASSWORDLESS_CODE_MINUTES (10), on the injected clock', async () => {
      const user = await register(ctx.app);
      const late = codeIn(await mailFor(user.email));
      ctx.clock.advance(10 * 60_000);
      assert.equal((await grant(user.email, late)).statusCode, 401, 'at 10 minutes it is expired');
      const pruned = await pruneMailRecords(ctx.app.deps);
      assert.ok(pruned.signInCodes >= 1, 'housekeeping deletes expired codes');
      assert.equal((await selectRows(ctx.database.handle.db, sql`select id from passwordless_codes where user_id = ${user.id}`)).length, 0);
      const inTime = codeIn(await mailFor(user.email));
      ctx.clock.advance(9 * 60_000 + 59_000);
      assert.equal((await grant(user.email, inTime)).statusCode, 200, 'at 9:59 it still works');
    });

    test('ten parallel redemptions of one code: exactly one succeeds', async () => {
      const user = await register(ctx.app);
      const code = codeIn(await mailFor(user.email));
      const results = await Promise.all(Array.from({ length: 10 }, () => grant(user.email, code)));
      const statuses = results.map((r) => r.statusCode);
      assert.equal(statuses.filter((s) => s === 200).length, 1, statuses.join(','));
      assert.ok(statuses.every((s) => s === 200 || s === 401), statuses.join(','));
      const sessions = await selectRows(ctx.database.handle.db, sql`select id from sessions where user_id = ${user.id}`);
      assert.equal(sessions.length, 1, 'one session opened');
    });

    test('an account with TOTP still gets 403 mfa_required and finishes with its second factor: amr ["email", "otp"]', async () => {
      const user = await enrolledUser(ctx.app, ctx.clock);
      const code = codeIn(await mailFor(user.email));
      const first = await grant(user.email, code);
      assert.equal(first.statusCode, 403, first.body);
      assert.equal(first.json().error, 'mfa_required');
      const second = await redeem(ctx.app, { grant_type: 'mfa_otp', mfa_token: first.json().mfa_token, otp: codeNow(user.secret, ctx.clock) });
      assert.equal(second.statusCode, 200, second.body);
      assert.deepEqual(decodeJwt(second.json().access_token).amr, ['email', 'otp']);
    });

    test('a disabled account is refused after a right code (403), as after a right password', async () => {
      const user = await register(ctx.app);
      const code = codeIn(await mailFor(user.email));
      await ctx.app.deps.db.execute(sql`update users set is_active = false where id = ${user.id}`);
      const res = await grant(user.email, code);
      assert.equal(res.statusCode, 403, res.body);
      assert.equal(res.json().detail, 'Account disabled');
    });

    test('a password reset voids a code mailed before it (the owner recovered the account)', async () => {
      const user = await register(ctx.app);
      const code = codeIn(await mailFor(user.email));
      await ctx.app.inject({ method: 'POST', url: '/user/forgot-password', ...form({ email: user.email }) });
      await deliverMail(ctx.app);
      const reset = ctx.smtp.to(user.email).at(-1)!;
      const done = await ctx.app.inject({ method: 'POST', url: '/user/reset-password', payload: { token: linkIn(reset).token, password: 'another-long-secret' } });
      assert.equal(done.statusCode, 200, done.body);
      assert.equal((await grant(user.email, code)).statusCode, 401);
    });

    test('PASSWORDLESS_SIGNUP off (default): an unknown address gets no mail, and no code signs it in', async () => {
      const email = `${uniqueName('nobody')}@example.com`;
      await deliverMail(ctx.app);
      assert.equal((await start(email)).statusCode, 202);
      await deliverMail(ctx.app);
      assert.equal(ctx.smtp.to(email).length, 0);
      assert.equal((await grant(email, '12345678')).statusCode, 401);
      const rows = await selectRows(ctx.database.handle.db, sql`select id from users where email = ${email}`);
      assert.equal(rows.length, 0);
    });

    test('the tokens of a passwordless sign-in refresh and log out like any other', async () => {
      const user = await register(ctx.app);
      const tokens = (await grant(user.email, codeIn(await mailFor(user.email)))).json() as { access_token: string; refresh_token: string };
      const refreshed = await ctx.app.inject({ method: 'POST', url: '/user/token', ...form({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token }) });
      assert.equal(refreshed.statusCode, 200);
      assert.deepEqual(decodeJwt(refreshed.json().access_token).amr, ['email']);
      // The password still works beside it.
      await login(ctx.app, user.username, user.password);
    });
  });

  describe(`passwordless sign-in: settings and limits, on ${kind}`, () => {
    test('PASSWORDLESS_SIGNUP=true: an unknown address gets a mail whose code makes a verified account with no usable password', async (t) => {
      const ctx = await buildMailTestApp(kind, { PASSWORDLESS_SIGNUP: 'true' });
      t.after(() => ctx.close());
      const email = `${uniqueName('shopper')}@example.com`;
      assert.equal((await ctx.app.inject({ method: 'POST', url: '/user/passwordless/start', ...form({ email }) })).statusCode, 202);
      await deliverMail(ctx.app);
      const mail = ctx.smtp.to(email).at(-1)!;
      assert.match(mail.decoded, /no account uses it yet/);
      const res = await redeem(ctx.app, { grant_type: 'email_otp', email, otp: codeIn(mail) });
      assert.equal(res.statusCode, 200, res.body);
      const profile = (await ctx.app.inject({ url: '/user/user', headers: bearer(res.json().access_token) })).json() as { username: string; email: string; email_verified: boolean };
      assert.equal(profile.email, email);
      assert.equal(profile.email_verified, true);
      assert.equal(profile.username, email.split('@')[0]);
      const password = await ctx.app.inject({ method: 'POST', url: '/user/token', ...form({ username: email, password: '!no-password:' }) });
      assert.equal(password.statusCode, 401, 'no password signs in to it');
    });

    test('the lockout counts wrong codes like wrong passwords: after LOCKOUT_THRESHOLD (5) even the right code waits (429, Retry-After)', async (t) => {
      const ctx = await buildMailTestApp(kind);
      t.after(() => ctx.close());
      const user = await register(ctx.app);
      // Two wrong passwords and three wrong codes under the same login name (the address).
      for (let i = 0; i < 2; i++) assert.equal((await ctx.app.inject({ method: 'POST', url: '/user/token', ...form({ username: user.email, password: 'wrong-password' }) })).statusCode, 401);
      await ctx.app.inject({ method: 'POST', url: '/user/passwordless/start', ...form({ email: user.email }) });
      await deliverMail(ctx.app);
      const code = codeIn(ctx.smtp.to(user.email).at(-1)!);
      const wrongCode = code === '99999999' ? '88888888' : '99999999';
      for (let i = 0; i < 3; i++) assert.equal((await redeem(ctx.app, { grant_type: 'email_otp', email: user.email, otp: wrongCode })).statusCode, 401);
      const locked = await redeem(ctx.app, { grant_type: 'email_otp', email: user.email, otp: code });
      assert.equal(locked.statusCode, 429, locked.body);
      assert.ok(Number(locked.headers['retry-after']) > 0);
      // The same for an address without an account: the lockout tells nothing about which addresses have one.
      const nobody = `${uniqueName('nobody')}@example.com`;
      const statuses = [];
      for (let i = 0; i < 6; i++) statuses.push((await redeem(ctx.app, { grant_type: 'email_otp', email: nobody, otp: '12345678' })).statusCode);
      assert.deepEqual(statuses, [401, 401, 401, 401, 401, 429]);
    });

    test('the per-address mail limit (MAIL_PER_ADDRESS_PER_HOUR) counts sign-in mails with the others', async (t) => {
      const ctx = await buildMailTestApp(kind, { MAIL_PER_ADDRESS_PER_HOUR: '3' });
      t.after(() => ctx.close());
      const user = await register(ctx.app);
      await ctx.app.inject({ method: 'POST', url: '/user/forgot-password', ...form({ email: user.email }) });
      for (let i = 0; i < 2; i++) assert.equal((await ctx.app.inject({ method: 'POST', url: '/user/passwordless/start', ...form({ email: user.email }) })).statusCode, 202);
      await deliverMail(ctx.app);
      const kinds = await selectRows<{ kind: string }>(ctx.database.handle.db, sql`select kind from mail_outbox where recipient = ${user.email} order by id`);
      assert.deepEqual(kinds.map((k) => k.kind), ['verify_email', 'reset_password', 'sign_in_code'], 'the second sign-in mail is over the limit');
    });

    test('the per-account request budget of /user/token (RATE_LIMIT_LOGIN_PER_ACCOUNT) counts email_otp by its address, whatever the client address', async (t) => {
      const ctx = await buildMailTestApp(kind, { RATE_LIMIT_ENABLED: 'true', RATE_LIMIT_LOGIN_PER_ACCOUNT: '3', RATE_LIMIT_LOGIN_PER_IP: '100', LOCKOUT_THRESHOLD: '50' });
      t.after(() => ctx.close());
      const email = `${uniqueName('target')}@example.com`;
      const statuses = [];
      for (let i = 0; i < 4; i++) {
        const res = await ctx.app.inject({ method: 'POST', url: '/user/token', remoteAddress: `192.0.2.${i + 1}`, ...form({ grant_type: 'email_otp', email: email.toUpperCase(), otp: '12345678' }) });
        statuses.push(res.statusCode);
      }
      assert.deepEqual(statuses, [401, 401, 401, 429]);
    });

    test('REQUIRE_VERIFIED_EMAIL=true: the right code proves the address, so an unverified account is verified and signed in (a password alone is refused)', async (t) => {
      const ctx = await buildMailTestApp(kind, { REQUIRE_VERIFIED_EMAIL: 'true' });
      t.after(() => ctx.close());
      const user = await register(ctx.app);
      const byPassword = await ctx.app.inject({ method: 'POST', url: '/user/token', ...form({ username: user.username, password: user.password }) });
      assert.equal(byPassword.statusCode, 403, 'unverified: the password is refused');
      await deliverMail(ctx.app);
      await ctx.app.inject({ method: 'POST', url: '/user/passwordless/start', ...form({ email: user.email }) });
      await deliverMail(ctx.app);
      const res = await redeem(ctx.app, { grant_type: 'email_otp', email: user.email, otp: codeIn(newestSignInMail(ctx.smtp.to(user.email))!) });
      assert.equal(res.statusCode, 200, res.body);
      assert.equal((await ctx.app.inject({ method: 'POST', url: '/user/token', ...form({ username: user.username, password: user.password }) })).statusCode, 200, 'and now verified');
    });

    test('the code and the link token appear in no log line, audit event or response (only in the mail)', async (t) => {
      const smtp = await TestSmtpServer.start();
      const lines: string[] = [];
      const ctx = await buildTestApp(kind, { SMTP_URL: smtp.url }, { logger: loggerOptions({ logLevel: 'debug' }, { write: (line: string) => void lines.push(line) }) });
      t.after(async () => {
        await ctx.close();
        await smtp.stop();
      });
      const user = await register(ctx.app);
      const responses: string[] = [];
      const send = async (fields: Record<string, string>, url = '/user/token') => {
        const res = await ctx.app.inject({ method: 'POST', url, ...form(fields) });
        responses.push(JSON.stringify(res.headers), res.body);
        return res;
      };
      await send({ email: user.email }, '/user/passwordless/start');
      await deliverMail(ctx.app);
      const mail = newestSignInMail(smtp.to(user.email))!;
      const code = codeIn(mail);
      const { token } = linkIn(mail);
      await send({ grant_type: 'email_otp', email: user.email, otp: code === '00000000' ? '11111111' : '00000000' });
      assert.equal((await send({ grant_type: 'email_otp', email: user.email, otp: code })).statusCode, 200);
      const events = await selectRows(ctx.database.handle.db, sql`select type, details from audit_events where user_id = ${user.id} or details->>'login' = ${user.email}`);
      assert.ok(events.length >= 3, JSON.stringify(events));
      const stored = await selectRows(ctx.database.handle.db, sql`select text_body, html_body from mail_outbox where kind = 'sign_in_code' and recipient = ${user.email}`);
      assert.deepEqual(stored, [{ text_body: null, html_body: null }], 'the delivered mail is cleared from the outbox');
      for (const [where, text] of [['logs', lines.join('\n')], ['audit events', JSON.stringify(events)], ['responses', responses.join('\n')]] as const) {
        assert.equal(text.includes(code), false, `the code is in the ${where}`);
        assert.equal(text.includes(token), false, `the link token is in the ${where}`);
      }
    });

    test('PASSWORDLESS_ENABLED=false: no start endpoint, the grant is unsupported, no page', async (t) => {
      const ctx = await buildMailTestApp(kind, { PASSWORDLESS_ENABLED: 'false' });
      t.after(() => ctx.close());
      assert.equal((await ctx.app.inject({ method: 'POST', url: '/user/passwordless/start', ...form({ email: 'a@example.com' }) })).statusCode, 404);
      const res = await redeem(ctx.app, { grant_type: 'email_otp', email: 'a@example.com', otp: '12345678' });
      assert.equal(res.statusCode, 400);
      assert.equal(res.json().error, 'unsupported_grant_type');
      assert.equal((await ctx.app.inject({ url: '/account/login/email' })).statusCode, 404);
      assert.doesNotMatch((await ctx.app.inject({ url: '/account/login' })).body, /Email me a sign-in code/);
    });
  });
}
