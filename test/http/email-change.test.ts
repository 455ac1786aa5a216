import assert from 'node:assert/strict';
import { updateUserProfile } from '../../src/repositories/users.js';
import { after, before, describe, test } from 'node:test';
import { buildMailTestApp, deliverMail, type MailTestApp } from '../helpers/app.js';
import { databaseKinds } from '../helpers/databases.js';
import { bearer, form, login, register, uniqueName } from '../helpers/requests.js';
import { linkIn, type TestSmtpServer } from '../helpers/smtp.js';

for (const kind of await databaseKinds()) {
  describe(`e-mail change on ${kind}`, () => {
    let smtp: TestSmtpServer;
    let ctx: MailTestApp;
    before(async () => {
      ctx = await buildMailTestApp(kind);
      smtp = ctx.smtp;
    });
    after(() => ctx.close());

    const change = (token: string, fields: Record<string, string>) =>
      ctx.app.inject({ method: 'POST', url: '/user/change-email', headers: bearer(token), payload: fields });
    const profile = async (token: string) => (await ctx.app.inject({ url: '/user/user', headers: bearer(token) })).json();

    test('the new address gets a link, the old one a notice; the address moves only when the link is used', async () => {
      const user = await register(ctx.app);
      // A verified address gets every notice (an unverified one only the first of the hour: issue 21).
      await updateUserProfile(ctx.app.deps.db, user.id, { emailVerified: true }, ctx.clock.now());
      const { access_token } = await login(ctx.app, user.username, user.password);
      await deliverMail(ctx.app);
      const newEmail = `${uniqueName('moved')}@example.org`;
      const res = await change(access_token, { new_email: newEmail, current_password: user.password });
      assert.equal(res.statusCode, 202, res.body);
      await deliverMail(ctx.app);
      const notice = smtp.to(user.email).at(-1)!;
      assert.match(notice.subject, /a change of e-mail address was requested/);
      assert.doesNotMatch(notice.decoded, /token=/, 'the notice carries no token');
      const confirmation = smtp.to(newEmail);
      assert.equal(confirmation.length, 1);
      assert.match(confirmation[0]!.subject, /confirm your new e-mail address/);
      assert.equal((await profile(access_token)).email, user.email, 'nothing changed yet');

      const { token } = linkIn(confirmation[0]!);
      const confirmed = await ctx.app.inject({ method: 'POST', url: '/user/change-email/verify', payload: { token } });
      assert.equal(confirmed.statusCode, 200, confirmed.body);
      assert.deepEqual(await profile(access_token), { id: user.id, username: user.username, email: newEmail, email_verified: true, mfa_enabled: false });
      await login(ctx.app, newEmail, user.password);
      assert.equal((await ctx.app.inject({ method: 'POST', url: '/user/token', ...form({ username: user.email, password: user.password }) })).statusCode, 401);
      await deliverMail(ctx.app);
      assert.match(smtp.to(user.email).at(-1)!.subject, /your e-mail address was changed/);
      assert.equal((await ctx.app.inject({ method: 'POST', url: '/user/change-email/verify', payload: { token } })).statusCode, 400, 'single use');
    });

    test('a reset link mailed to the old address dies with the change', async () => {
      const user = await register(ctx.app);
      const { access_token } = await login(ctx.app, user.username, user.password);
      await ctx.app.inject({ method: 'POST', url: '/user/forgot-password', payload: { email: user.email } });
      await deliverMail(ctx.app);
      const reset = linkIn(smtp.to(user.email).find((m) => /reset your password/.test(m.subject))!);
      const newEmail = `${uniqueName('moved')}@example.org`;
      assert.equal((await change(access_token, { new_email: newEmail, current_password: user.password })).statusCode, 202);
      await deliverMail(ctx.app);
      const { token } = linkIn(smtp.to(newEmail)[0]!);
      const page = await ctx.app.inject({ method: 'POST', url: '/user/change-email/confirm', ...form({ token }) });
      assert.equal(page.statusCode, 200);
      assert.match(page.body, /now uses this e-mail address/);
      const res = await ctx.app.inject({ method: 'POST', url: '/user/reset-password', payload: { token: reset.token, password: 'a-brand-new-secret' } });
      assert.equal(res.statusCode, 400);
    });

    test('wrong password 400, a taken address 409 as at registration, the same address 422; nothing is mailed', async () => {
      const user = await register(ctx.app);
      const other = await register(ctx.app);
      const { access_token } = await login(ctx.app, user.username, user.password);
      await deliverMail(ctx.app);
      const count = smtp.messages.length;
      const wrong = await change(access_token, { new_email: `${uniqueName('x')}@example.org`, current_password: 'not-the-password' });
      assert.equal(wrong.statusCode, 400);
      assert.deepEqual(wrong.json(), { detail: 'Incorrect password' });
      const taken = await change(access_token, { new_email: other.email.toUpperCase(), current_password: user.password });
      assert.equal(taken.statusCode, 409);
      assert.deepEqual(taken.json(), { detail: 'User already exists' });
      const same = await change(access_token, { new_email: user.email, current_password: user.password });
      assert.equal(same.statusCode, 422);
      const anonymous = await ctx.app.inject({ method: 'POST', url: '/user/change-email', payload: { new_email: 'a@example.org', current_password: 'x' } });
      assert.equal(anonymous.statusCode, 401);
      await deliverMail(ctx.app);
      assert.equal(smtp.messages.length, count);
    });

    test('an address taken between request and confirmation: 409 and the account keeps its address', async () => {
      const user = await register(ctx.app);
      const { access_token } = await login(ctx.app, user.username, user.password);
      const newEmail = `${uniqueName('race')}@example.org`;
      assert.equal((await change(access_token, { new_email: newEmail, current_password: user.password })).statusCode, 202);
      await deliverMail(ctx.app);
      const { token } = linkIn(smtp.to(newEmail)[0]!);
      await ctx.app.inject({ method: 'POST', url: '/user/register', ...form({ username: uniqueName('thief'), email: newEmail, password: 'correct-horse-1' }) });
      const res = await ctx.app.inject({ method: 'POST', url: '/user/change-email/verify', payload: { token } });
      assert.equal(res.statusCode, 409);
      assert.equal((await profile(access_token)).email, user.email);
    });
  });
}
