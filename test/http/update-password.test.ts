import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sql } from 'drizzle-orm';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { databaseKinds, selectRows } from '../helpers/databases.js';
import { bearer, form, login, register } from '../helpers/requests.js';

for (const kind of await databaseKinds()) {
  describe(`PUT /user/update_password on ${kind}`, () => {
    let ctx: TestApp & { close(): Promise<void> };
    before(async () => {
      ctx = await buildTestApp(kind);
    });
    after(() => ctx.close());

    const update = (token: string, fields: Record<string, string>) =>
      ctx.app.inject({ method: 'PUT', url: '/user/update_password', ...form(fields), headers: { ...form(fields).headers, ...bearer(token) } });

    test('wrong current password is 400 and changes nothing', async () => {
      const user = await register(ctx.app);
      const pair = await login(ctx.app, user.username, user.password);
      const res = await update(pair.access_token, { current_password: 'wrong-password', new_password: 'brand-new-pass' });
      assert.equal(res.statusCode, 400);
      assert.deepEqual(res.json(), { detail: 'Incorrect password' });
      await login(ctx.app, user.username, user.password);
    });

    test('wrong current passwords raise the lockout delay of the account, audited; logins are not affected', async () => {
      const user = await register(ctx.app);
      const pair = await login(ctx.app, user.username, user.password);
      for (let i = 0; i < 5; i++) {
        const res = await update(pair.access_token, { current_password: `wrong-password-${i}`, new_password: 'brand-new-pass' });
        assert.equal(res.statusCode, 400);
      }
      const locked = await update(pair.access_token, { current_password: user.password, new_password: 'brand-new-pass' });
      assert.equal(locked.statusCode, 429, 'even the right password waits');
      assert.equal(locked.headers['retry-after'], '60');
      assert.deepEqual(locked.json(), { detail: 'Too many incorrect passwords; try again later' });
      await login(ctx.app, user.username, user.password);
      ctx.clock.advance(61_000);
      const res = await update(pair.access_token, { current_password: user.password, new_password: 'brand-new-pass' });
      assert.equal(res.statusCode, 200);
      const events = await selectRows(
        ctx.database.handle.db,
        sql`select type, count(*)::int as n from audit_events where user_id = ${user.id} and type like 'password%' group by type order by type`,
      );
      assert.deepEqual(events, [
        { type: 'password_change_failed', n: 5 },
        { type: 'password_changed', n: 1 },
      ]);
    });

    test('success: new password works, old does not, earlier refresh tokens are revoked', async () => {
      const user = await register(ctx.app);
      const pair = await login(ctx.app, user.username, user.password);
      const other = await login(ctx.app, user.username, user.password);
      const res = await update(pair.access_token, { current_password: user.password, new_password: 'brand-new-pass' });
      assert.equal(res.statusCode, 200);
      assert.deepEqual(res.json(), { detail: 'Password updated successfully' });
      for (const rt of [pair.refresh_token, other.refresh_token]) {
        const refreshed = await ctx.app.inject({ method: 'POST', url: '/user/token/refresh', ...form({ refresh_token: rt }) });
        assert.equal(refreshed.statusCode, 401);
      }
      const old = await ctx.app.inject({ method: 'POST', url: '/user/token', ...form({ username: user.username, password: user.password }) });
      assert.equal(old.statusCode, 401);
      await login(ctx.app, user.username, 'brand-new-pass');
    });

    test('JSON body, validation and authentication', async () => {
      const user = await register(ctx.app);
      const pair = await login(ctx.app, user.username, user.password);
      const json = await ctx.app.inject({
        method: 'PUT',
        url: '/user/update_password',
        headers: bearer(pair.access_token),
        payload: { current_password: user.password, new_password: 'short' },
      });
      assert.equal(json.statusCode, 422);
      assert.deepEqual(json.json().detail[0].loc, ['body', 'new_password']);
      const anonymous = await ctx.app.inject({ method: 'PUT', url: '/user/update_password', payload: { current_password: 'a', new_password: 'b' } });
      assert.equal(anonymous.statusCode, 401);
    });
  });
}
