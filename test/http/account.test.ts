import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sql } from 'drizzle-orm';
import { buildMailTestApp, deliverMail, type MailTestApp } from '../helpers/app.js';
import { databaseKinds, selectRows } from '../helpers/databases.js';
import { bearer, form, login, register, uniqueName } from '../helpers/requests.js';
import { linkIn, type TestSmtpServer } from '../helpers/smtp.js';
import { deleteAccount } from '../../src/services/account/profile.js';

for (const kind of await databaseKinds()) {
  describe(`profile update and account deletion on ${kind}`, () => {
    let smtp: TestSmtpServer;
    let ctx: MailTestApp;
    before(async () => {
      ctx = await buildMailTestApp(kind);
      smtp = ctx.smtp;
    });
    after(() => ctx.close());

    const patch = (token: string, payload: Record<string, string>) => ctx.app.inject({ method: 'PATCH', url: '/user/user', headers: bearer(token), payload });
    const remove = (token: string, currentPassword: string) =>
      ctx.app.inject({ method: 'DELETE', url: '/user/user', headers: bearer(token), payload: { current_password: currentPassword } });

    test('PATCH /user/user renames; tokens keep working; a taken name is 409; form bodies work too', async () => {
      const user = await register(ctx.app);
      const other = await register(ctx.app);
      const pair = await login(ctx.app, user.username, user.password);
      const renamed = uniqueName('renamed');
      const res = await patch(pair.access_token, { username: renamed });
      assert.equal(res.statusCode, 200, res.body);
      assert.deepEqual(res.json(), { id: user.id, username: renamed, email: user.email, email_verified: false, mfa_enabled: false });
      assert.equal((await ctx.app.inject({ url: '/user/user', headers: bearer(pair.access_token) })).json().username, renamed);
      const refreshed = await ctx.app.inject({ method: 'POST', url: '/user/token/refresh', ...form({ refresh_token: pair.refresh_token }) });
      assert.equal(refreshed.statusCode, 200);
      await login(ctx.app, renamed, user.password);
      await deliverMail(ctx.app);
      assert.match(smtp.to(user.email).at(-1)!.subject, /your username was changed/);
      const taken = await patch(pair.access_token, { username: other.username.toUpperCase() });
      assert.equal(taken.statusCode, 409);
      assert.deepEqual(taken.json(), { detail: 'User already exists' });
      const invalid = await patch(pair.access_token, { username: 'a b' });
      assert.equal(invalid.statusCode, 422);
      const viaForm = await ctx.app.inject({ method: 'PATCH', url: '/user/user', ...form({ username: `${renamed}x` }), headers: { ...form({}).headers, ...bearer(pair.access_token) } });
      assert.equal(viaForm.json().username, `${renamed}x`);
      assert.equal((await ctx.app.inject({ method: 'PATCH', url: '/user/user', payload: { username: 'abc' } })).statusCode, 401);
    });

    test('DELETE /user/user: wrong password 400 and nothing goes; right password 204 and everything goes at once', async () => {
      const user = await register(ctx.app);
      const pair = await login(ctx.app, user.username, user.password);
      const other = await login(ctx.app, user.email, user.password);
      await ctx.app.inject({ method: 'POST', url: '/user/token', ...form({ username: user.username, password: 'a-wrong-password' }) });
      await ctx.app.inject({ method: 'POST', url: '/user/forgot-password', payload: { email: user.email } });
      await deliverMail(ctx.app);
      const reset = linkIn(smtp.to(user.email).find((m) => /reset your password/.test(m.subject))!);
      const verification = linkIn(smtp.to(user.email).find((m) => /confirm your e-mail/.test(m.subject))!);

      const wrong = await remove(pair.access_token, 'not-the-password');
      assert.equal(wrong.statusCode, 400);
      assert.equal((await ctx.app.inject({ url: '/user/user', headers: bearer(pair.access_token) })).statusCode, 200);

      const res = await remove(pair.access_token, user.password);
      assert.equal(res.statusCode, 204);
      assert.equal(res.body, '');
      for (const access of [pair.access_token, other.access_token]) {
        assert.equal((await ctx.app.inject({ url: '/user/user', headers: bearer(access) })).statusCode, 404);
      }
      for (const refresh of [pair.refresh_token, other.refresh_token]) {
        assert.equal((await ctx.app.inject({ method: 'POST', url: '/user/token/refresh', ...form({ refresh_token: refresh }) })).statusCode, 401);
      }
      assert.equal((await ctx.app.inject({ method: 'POST', url: '/user/reset-password', payload: { token: reset.token, password: 'a-brand-new-secret' } })).statusCode, 400);
      assert.equal((await ctx.app.inject({ method: 'POST', url: '/user/verify', payload: { token: verification.token } })).statusCode, 400);
      const { db } = ctx.database.handle;
      for (const table of ['users', 'sessions', 'account_tokens']) {
        const column = table === 'users' ? 'id' : 'user_id';
        assert.deepEqual(await selectRows(db, sql`select count(*)::int as n from ${sql.identifier(table)} where ${sql.identifier(column)} = ${user.id}`), [{ n: 0 }], table);
      }
      assert.deepEqual(await selectRows(db, sql`select count(*)::int as n from login_failures where key like ${`%${user.username.toLowerCase()}%`}`), [{ n: 0 }]);

      // The security events stay, under the id alone.
      const events = await selectRows<{ type: string; details: Record<string, unknown> | null }>(db, sql`select type, details from audit_events where user_id = ${user.id} order by id`);
      assert.ok(events.some((e) => e.type === 'login_failed'));
      assert.equal(events.at(-1)!.type, 'account_deleted');
      assert.equal(JSON.stringify(events).includes(user.username), false, 'no event names the account');

      // A notice goes to the address; the name and the address can be registered again at once.
      await deliverMail(ctx.app);
      assert.match(smtp.to(user.email).at(-1)!.subject, /your account was deleted/);
      const again = await register(ctx.app, user.username, 'another-password-1');
      assert.notEqual(again.id, user.id);
      assert.equal((await ctx.app.inject({ url: '/user/user', headers: bearer(pair.access_token) })).statusCode, 404, 'the old token does not name the new account');
    });

    test('the OpenAPI document describes the new routes (tagged, with bodies and answers); the link pages are not in it', async () => {
      const spec = (await ctx.app.inject({ url: '/openapi.json' })).json() as {
        paths: Record<string, Record<string, { tags?: string[]; requestBody?: unknown; responses: Record<string, unknown> }>>;
      };
      const expected: [string, string, string][] = [
        ['/user/forgot-password', 'post', '202'],
        ['/user/reset-password', 'post', '200'],
        ['/user/request-verify-token', 'post', '202'],
        ['/user/verify', 'post', '200'],
        ['/user/change-email', 'post', '202'],
        ['/user/change-email/verify', 'post', '200'],
        ['/user/user', 'patch', '200'],
        ['/user/user', 'delete', '204'],
      ];
      for (const [path, method, status] of expected) {
        const operation = spec.paths[path]?.[method];
        assert.ok(operation, `${method} ${path}`);
        assert.deepEqual(operation.tags, ['account']);
        assert.ok(operation.requestBody, `${method} ${path} has a body schema`);
        assert.ok(operation.responses[status], `${method} ${path} documents ${status}`);
      }
      assert.equal(spec.paths['/user/reset-password/confirm'], undefined);
    });

    test('deleteAccount (for administrators) deletes by id without a password; an unknown id is false', async () => {
      const user = await register(ctx.app);
      const pair = await login(ctx.app, user.username, user.password);
      assert.equal(await deleteAccount(ctx.app.deps, user.id, { by: 'admin', adminId: 1 }), true);
      assert.equal((await ctx.app.inject({ url: '/user/user', headers: bearer(pair.access_token) })).statusCode, 404);
      assert.equal(await deleteAccount(ctx.app.deps, user.id, { by: 'admin', adminId: 1 }), false);
      const [event] = await selectRows<{ details: unknown }>(ctx.database.handle.db, sql`select details from audit_events where user_id = ${user.id} and type = 'account_deleted'`);
      assert.deepEqual(event!.details, { by: 'admin', adminId: 1 });
    });
  });
}
