import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { useTestApp } from '../helpers/app.js';
import { databaseKinds } from '../helpers/databases.js';
import { bearer, form, login, register } from '../helpers/requests.js';

for (const kind of await databaseKinds()) {
  describe(`access tokens die with their session's limits on ${kind} (issue 12, point 5)`, () => {
    test('an idle session’s access tokens are refused, although they have not expired', async (t) => {
      const ctx = await useTestApp(t, kind, { ACCESS_TOKEN_EXPIRE_MINUTES: '120', SESSION_IDLE_TIMEOUT_HOURS: '1', INTROSPECTION_SECRET: 'introspection-secret-for-tests' });
      const user = await register(ctx.app);
      const { access_token } = await login(ctx.app, user.username, user.password);
      ctx.clock.advance(59 * 60 * 1000);
      assert.equal((await ctx.app.inject({ url: '/user/user', headers: bearer(access_token) })).statusCode, 200);
      ctx.clock.advance(2 * 60 * 1000);
      assert.equal((await ctx.app.inject({ url: '/user/user', headers: bearer(access_token) })).statusCode, 401, 'idle for more than an hour');
      const introspected = await ctx.app.inject({
        method: 'POST',
        url: '/oauth/introspect',
        payload: form({ token: access_token }).payload,
        headers: { ...form({}).headers, authorization: 'Bearer introspection-secret-for-tests' },
      });
      assert.deepEqual(introspected.json(), { active: false });
    });

    test('a session past its absolute end refuses the access tokens it issued last', async (t) => {
      const ctx = await useTestApp(t, kind, { ACCESS_TOKEN_EXPIRE_MINUTES: '1440', SESSION_MAX_LIFETIME_DAYS: '1' });
      const user = await register(ctx.app);
      const first = await login(ctx.app, user.username, user.password);
      ctx.clock.advance(23 * 3600 * 1000);
      const refreshed = await ctx.app.inject({ method: 'POST', url: '/user/token/refresh', ...form({ refresh_token: first.refresh_token }) });
      assert.equal(refreshed.statusCode, 200);
      const { access_token } = refreshed.json();
      assert.equal((await ctx.app.inject({ url: '/user/user', headers: bearer(access_token) })).statusCode, 200);
      ctx.clock.advance(3600 * 1000 + 1000);
      assert.equal((await ctx.app.inject({ url: '/user/user', headers: bearer(access_token) })).statusCode, 401, 'the session ended a day after login');
    });
  });
}
