import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { buildTestApp, buildMailTestApp, deliverMail, type MailTestApp, type TestApp } from '../helpers/app.js';
import { sql } from 'drizzle-orm';
import { databaseKinds, selectRows } from '../helpers/databases.js';
import { bearer, form, login, register } from '../helpers/requests.js';
import { linkIn, type TestSmtpServer } from '../helpers/smtp.js';

for (const kind of await databaseKinds()) {
  describe(`e-mail verification on ${kind}`, () => {
    let smtp: TestSmtpServer;
    let ctx: MailTestApp;
    before(async () => {
      ctx = await buildMailTestApp(kind, { PUBLIC_URL: 'https://auth.example.com/base' });
      smtp = ctx.smtp;
    });
    after(() => ctx.close());

    const verify = (token: string) => ctx.app.inject({ method: 'POST', url: '/user/verify', ...form({ token }) });
    const verificationMail = (email: string) => smtp.to(email).filter((m) => /confirm your e-mail address/.test(m.subject)).at(-1);

    test('registration mails a verification link; verifying shows in the profile', async () => {
      const user = await register(ctx.app);
      await deliverMail(ctx.app);
      const mail = verificationMail(user.email);
      assert.ok(mail, 'a verification mail arrived');
      const { url, token } = linkIn(mail);
      assert.ok(url.startsWith('https://auth.example.com/base/account/verify?token='), url);
      const { access_token } = await login(ctx.app, user.username, user.password);
      const before = await ctx.app.inject({ url: '/user/user', headers: bearer(access_token) });
      assert.equal(before.json().email_verified, false);
      const res = await verify(token);
      assert.equal(res.statusCode, 200, res.body);
      assert.deepEqual(res.json(), { id: user.id, username: user.username, email: user.email, email_verified: true, mfa_enabled: false });
      // The first verification ends the sessions opened before it (issue 21): whoever registered the address first is out.
      assert.equal((await ctx.app.inject({ url: '/user/user', headers: bearer(access_token) })).statusCode, 401);
      const again = await login(ctx.app, user.username, user.password);
      const profile = await ctx.app.inject({ url: '/user/user', headers: bearer(again.access_token) });
      assert.equal(profile.json().email_verified, true);
      assert.equal((await verify(token)).statusCode, 400, 'single use');
    });

    test('request-verify-token mails a new link to an unverified address only; the link page spends nothing', async () => {
      const user = await register(ctx.app);
      await deliverMail(ctx.app);
      const res = await ctx.app.inject({ method: 'POST', url: '/user/request-verify-token', payload: { email: user.email.toUpperCase() } });
      assert.equal(res.statusCode, 202);
      await deliverMail(ctx.app);
      const mails = smtp.to(user.email).filter((m) => /confirm your e-mail address/.test(m.subject));
      assert.equal(mails.length, 2);
      const older = linkIn(mails[0]!);
      const { url, token } = linkIn(mails[1]!);
      assert.equal((await verify(older.token)).statusCode, 400, 'the newer link voids the older');
      const page = await ctx.app.inject({ url: url.replace('https://auth.example.com/base', '') });
      assert.equal(page.statusCode, 200);
      assert.match(page.body, /Confirm my address/);
      const confirmed = await ctx.app.inject({ method: 'POST', url: '/user/verify/confirm', ...form({ token }) });
      assert.equal(confirmed.statusCode, 200);
      assert.match(confirmed.body, /your e-mail address is confirmed/);
      const count = smtp.messages.length;
      await ctx.app.inject({ method: 'POST', url: '/user/request-verify-token', payload: { email: user.email } });
      await deliverMail(ctx.app);
      assert.equal(smtp.messages.length, count, 'a verified address gets no more verification mail');
    });

    test('a verification token expires after VERIFY_TOKEN_EXPIRE_HOURS (24)', async () => {
      const user = await register(ctx.app);
      await deliverMail(ctx.app);
      const { token } = linkIn(verificationMail(user.email)!);
      ctx.clock.advance(24 * 3600_000 + 1000);
      assert.equal((await verify(token)).statusCode, 400);
    });
  });

  describe(`REQUIRE_VERIFIED_EMAIL on ${kind}`, () => {
    let smtp: TestSmtpServer;
    let ctx: MailTestApp;
    before(async () => {
      ctx = await buildMailTestApp(kind, { REQUIRE_VERIFIED_EMAIL: 'true' });
      smtp = ctx.smtp;
    });
    after(() => ctx.close());

    test('a right password of an unverified account is 403; a wrong one is the plain 401; verified logs in', async () => {
      const user = await register(ctx.app);
      const wrong = await ctx.app.inject({ method: 'POST', url: '/user/token', ...form({ username: user.username, password: 'not-the-password' }) });
      assert.equal(wrong.statusCode, 401);
      const refused = await ctx.app.inject({ method: 'POST', url: '/user/token', ...form({ username: user.username, password: user.password }) });
      assert.equal(refused.statusCode, 403);
      assert.deepEqual(refused.json(), { detail: 'Email not verified' });
      await deliverMail(ctx.app);
      const { token } = linkIn(smtp.to(user.email)[0]!);
      assert.equal((await ctx.app.inject({ method: 'POST', url: '/user/verify', payload: { token } })).statusCode, 200);
      await login(ctx.app, user.username, user.password);
    });
  });

  describe(`without SMTP_URL or REQUIRE_VERIFIED_EMAIL (the defaults) on ${kind}`, () => {
    let ctx: TestApp & { close(): Promise<void> };
    before(async () => {
      ctx = await buildTestApp(kind);
    });
    after(() => ctx.close());

    test('registration mails nothing and an unverified account logs in', async () => {
      const user = await register(ctx.app);
      await login(ctx.app, user.username, user.password);
      await ctx.app.deps.deferred.settled();
      assert.deepEqual(await selectRows(ctx.database.handle.db, sql`select count(*)::int as n from mail_outbox`), [{ n: 0 }]);
    });
  });
}
