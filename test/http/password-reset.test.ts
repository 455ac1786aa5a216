import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sql } from 'drizzle-orm';
import { buildMailTestApp, deliverMail, type MailTestApp } from '../helpers/app.js';
import { databaseKinds, selectRows } from '../helpers/databases.js';
import { bearer, form, login, register, uniqueName } from '../helpers/requests.js';
import { linkIn, type TestSmtpServer } from '../helpers/smtp.js';

const PUBLIC_URL = 'https://auth.example.com';

for (const kind of await databaseKinds()) {
  describe(`password reset by e-mail on ${kind}`, () => {
    let ctx: MailTestApp;
    let smtp: TestSmtpServer;
    before(async () => {
      ctx = await buildMailTestApp(kind, { PUBLIC_URL });
      smtp = ctx.smtp;
    });
    after(() => ctx.close());

    const forgot = (email: string, headers: Record<string, string> = {}) =>
      ctx.app.inject({ method: 'POST', url: '/user/forgot-password', ...form({ email }), headers: { ...form({ email }).headers, ...headers } });
    const reset = (token: string, password: string) => ctx.app.inject({ method: 'POST', url: '/user/reset-password', payload: { token, password } });

    /** Asks for a reset of `email` and returns the link of the mail that arrives. */
    async function resetLink(email: string, headers: Record<string, string> = {}) {
      await deliverMail(ctx.app);
      const before = smtp.to(email).length;
      assert.equal((await forgot(email, headers)).statusCode, 202);
      await deliverMail(ctx.app);
      const mails = smtp.to(email);
      assert.equal(mails.length, before + 1, 'one mail arrived');
      return { ...linkIn(mails.at(-1)!), mail: mails.at(-1)! };
    }

    test('known and unknown addresses get the same answer; only the known one gets a mail', async () => {
      const user = await register(ctx.app);
      await deliverMail(ctx.app);
      const known = await forgot(user.email);
      const unknown = await forgot(`${uniqueName('nobody')}@example.com`);
      assert.equal(known.statusCode, 202);
      assert.equal(unknown.statusCode, known.statusCode);
      assert.equal(unknown.body, known.body);
      const comparable = (headers: Record<string, unknown>) => {
        const { 'x-request-id': _id, date: _date, ...rest } = headers;
        return rest;
      };
      assert.deepEqual(comparable(unknown.headers), comparable(known.headers));
      const before = smtp.messages.length;
      await deliverMail(ctx.app);
      assert.equal(smtp.messages.length, before + 1);
      assert.deepEqual(smtp.messages.at(-1)!.to, [user.email]);
    });

    test('the link points at PUBLIC_URL whatever Host or X-Forwarded-Host the request names; the mail also has the bare token', async () => {
      const user = await register(ctx.app);
      const { url, token, mail } = await resetLink(user.email, { host: 'evil.example', 'x-forwarded-host': 'evil.example' });
      assert.ok(url.startsWith(`${PUBLIC_URL}/account/reset-password?token=`), url);
      assert.doesNotMatch(mail.decoded, /evil\.example/);
      assert.ok(token.length >= 43, '256 bits, base64url');
      assert.match(mail.decoded, new RegExp(`code to the app: ${token}`));
      assert.match(mail.decoded, /Content-Type: text\/html/);
      assert.match(mail.decoded, /Content-Type: text\/plain/);
      const stored = await selectRows<{ token_hash: string; purpose: string }>(
        ctx.database.handle.db,
        sql`select token_hash, purpose from account_tokens where user_id = ${user.id} and purpose = 'reset_password'`,
      );
      assert.deepEqual(stored.map((r) => r.purpose), ['reset_password']);
      assert.notEqual(stored[0]!.token_hash, token, 'only a hash is stored');
    });

    test('reset: new password works, every session and access token ends, a notice is mailed', async () => {
      const user = await register(ctx.app);
      const pair = await login(ctx.app, user.username, user.password);
      const { token } = await resetLink(user.email);
      const res = await reset(token, 'a-brand-new-secret');
      assert.equal(res.statusCode, 200, res.body);
      assert.equal((await ctx.app.inject({ url: '/user/user', headers: bearer(pair.access_token) })).statusCode, 401);
      const refreshed = await ctx.app.inject({ method: 'POST', url: '/user/token/refresh', ...form({ refresh_token: pair.refresh_token }) });
      assert.equal(refreshed.statusCode, 401);
      const old = await ctx.app.inject({ method: 'POST', url: '/user/token', ...form({ username: user.username, password: user.password }) });
      assert.equal(old.statusCode, 401);
      await login(ctx.app, user.username, 'a-brand-new-secret');
      await deliverMail(ctx.app);
      assert.match(smtp.to(user.email).at(-1)!.subject, /your password was changed/);
      const events = await selectRows<{ type: string }>(ctx.database.handle.db, sql`select type from audit_events where user_id = ${user.id} and type like 'password_reset%' order by id`);
      assert.deepEqual(events.map((e) => e.type), ['password_reset_requested', 'password_reset']);
    });

    test('reset clears the login lockout of the account', async () => {
      const user = await register(ctx.app);
      for (let i = 0; i < 5; i++) {
        await ctx.app.inject({ method: 'POST', url: '/user/token', ...form({ username: user.username, password: `wrong-${i}-password` }) });
      }
      const locked = await ctx.app.inject({ method: 'POST', url: '/user/token', ...form({ username: user.username, password: user.password }) });
      assert.equal(locked.statusCode, 429);
      const { token } = await resetLink(user.email);
      assert.equal((await reset(token, 'a-brand-new-secret')).statusCode, 200);
      await login(ctx.app, user.username, 'a-brand-new-secret');
    });

    test('a token is spent once: 10 parallel redemptions give exactly one success', async () => {
      const user = await register(ctx.app);
      const { token } = await resetLink(user.email);
      const results = await Promise.all(Array.from({ length: 10 }, (_, i) => reset(token, `parallel-secret-${i}`)));
      const statuses = results.map((r) => r.statusCode).sort();
      assert.deepEqual(statuses, [200, 400, 400, 400, 400, 400, 400, 400, 400, 400]);
      const winner = results.findIndex((r) => r.statusCode === 200);
      await login(ctx.app, user.username, `parallel-secret-${winner}`);
      assert.deepEqual(results.find((r) => r.statusCode === 400)!.json(), { detail: 'Invalid or expired token' });
    });

    test('used, expired, unknown and malformed tokens are 400; a new token voids the older one', async () => {
      const user = await register(ctx.app);
      const first = await resetLink(user.email);
      const second = await resetLink(user.email);
      assert.equal((await reset(first.token, 'a-brand-new-secret')).statusCode, 400, 'voided by the newer one');
      assert.equal((await reset(second.token, 'a-brand-new-secret')).statusCode, 200);
      assert.equal((await reset(second.token, 'another-new-secret')).statusCode, 400, 'used');
      for (const bad of ['', 'x', 'not a token at all!', 'A'.repeat(43), '%00']) {
        const res = await reset(bad, 'another-new-secret');
        assert.equal(res.statusCode, 400, bad);
        assert.deepEqual(res.json(), { detail: 'Invalid or expired token' });
      }
      const third = await resetLink(user.email);
      ctx.clock.advance(30 * 60_000 + 1000);
      assert.equal((await reset(third.token, 'another-new-secret')).statusCode, 400, 'expired after 30 minutes');
    });

    test('a refused new password leaves the token usable', async () => {
      const user = await register(ctx.app);
      const { token } = await resetLink(user.email);
      const weak = await reset(token, 'password123');
      assert.equal(weak.statusCode, 422);
      assert.deepEqual(weak.json().detail[0].loc, ['body', 'password']);
      assert.equal((await reset(token, 'a-brand-new-secret')).statusCode, 200);
    });

    test('purpose binding: a verification token cannot reset a password, nor a reset token verify', async () => {
      const user = await register(ctx.app);
      await deliverMail(ctx.app);
      const verification = linkIn(smtp.to(user.email).find((m) => /confirm your e-mail/.test(m.subject))!);
      assert.equal((await reset(verification.token, 'a-brand-new-secret')).statusCode, 400);
      const { token } = await resetLink(user.email);
      const verify = await ctx.app.inject({ method: 'POST', url: '/user/verify', payload: { token } });
      assert.equal(verify.statusCode, 400);
      assert.equal((await reset(token, 'a-brand-new-secret')).statusCode, 200, 'the reset token was not spent by the attempt');
    });

    test('opening the link (a scanner) spends nothing; the page’s form does, as a plain form post', async () => {
      const user = await register(ctx.app);
      const { url, token } = await resetLink(user.email);
      const path = url.slice(PUBLIC_URL.length);
      for (let i = 0; i < 3; i++) {
        const page = await ctx.app.inject({ url: path });
        assert.equal(page.statusCode, 200);
        assert.match(page.headers['content-type'] as string, /^text\/html/);
        assert.match(page.body, /<form method="post" action="\/account\/reset-password"/);
        assert.doesNotMatch(page.body, /<script|style=/i);
        assert.match(page.headers['content-security-policy'] as string, /script-src 'self'/);
        assert.equal(page.headers['cache-control'], 'no-store');
      }
      const old = await ctx.app.inject({ url: `/user/reset-password/confirm?token=${token}` });
      assert.match(old.body, /<form method="post" action="confirm">/, 'a link mailed before the pages moved still opens its page');
      const weak = await ctx.app.inject({ method: 'POST', url: '/user/reset-password/confirm', ...form({ token, password: 'short' }) });
      assert.equal(weak.statusCode, 422);
      assert.match(weak.body, /at least 8 characters/);
      assert.match(weak.body, /name="token"/, 'the form is shown again');
      const done = await ctx.app.inject({ method: 'POST', url: '/user/reset-password/confirm', ...form({ token, password: 'a-brand-new-secret' }) });
      assert.equal(done.statusCode, 200);
      assert.match(done.body, /Your password has been changed/);
      const again = await ctx.app.inject({ method: 'POST', url: '/user/reset-password/confirm', ...form({ token, password: 'a-brand-new-secret' }) });
      assert.equal(again.statusCode, 400);
      assert.match(again.body, /invalid, used or expired/);
      await login(ctx.app, user.username, 'a-brand-new-secret');
    });

    test('past 5 mails an hour to one address, the answer is still 202 and nothing is sent', async () => {
      const user = await register(ctx.app);
      await deliverMail(ctx.app);
      const before = smtp.to(user.email).length;
      for (let i = 0; i < 7; i++) assert.equal((await forgot(user.email)).statusCode, 202);
      await deliverMail(ctx.app);
      // Registration's verification mail counts too: 1 + 4 resets.
      assert.equal(smtp.to(user.email).length - before, 4);
      ctx.clock.advance(3600_000 + 1000);
      assert.equal((await forgot(user.email)).statusCode, 202);
      await deliverMail(ctx.app);
      assert.equal(smtp.to(user.email).length - before, 5, 'an hour later mail flows again');
    });

    test('the mailed token never appears in the outbox once delivered', async () => {
      const user = await register(ctx.app);
      const { token } = await resetLink(user.email);
      const rows = await selectRows<{ body: string | null }>(
        ctx.database.handle.db,
        sql`select coalesce(text_body, '') || coalesce(html_body, '') as body from mail_outbox where user_id = ${user.id}`,
      );
      assert.ok(rows.length > 0);
      for (const row of rows) assert.equal(row.body?.includes(token), false);
    });
  });
}
