import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sql } from 'drizzle-orm';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { databaseKinds } from '../helpers/databases.js';
import { bearer, form, login, register } from '../helpers/requests.js';

const INTROSPECTION_SECRET = 'introspection-secret-for-tests';

for (const kind of await databaseKinds()) {
  describe(`sessions and token lifecycle on ${kind}`, () => {
    let ctx: TestApp & { close(): Promise<void> };
    before(async () => {
      ctx = await buildTestApp(kind, { INTROSPECTION_SECRET });
    });
    after(() => ctx.close());

    const refresh = (token: string) =>
      ctx.app.inject({ method: 'POST', url: '/user/token/refresh', ...form({ refresh_token: token }), headers: { ...form({}).headers, 'user-agent': 'tests' } });
    const profileStatus = async (accessToken: string) => (await ctx.app.inject({ url: '/user/user', headers: bearer(accessToken) })).statusCode;
    const events = async (type: string, userId: number) => {
      const result = (await ctx.database.handle.db.execute(
        sql`select count(*)::int as n from audit_events where type = ${type} and user_id = ${userId}`,
      )) as unknown as { rows: { n: number }[] };
      return result.rows[0]!.n;
    };

    test('rotation: every refresh returns a new refresh token and retires the old one', async () => {
      const user = await register(ctx.app);
      let current = await login(ctx.app, user.username, user.password);
      const seen = new Set([current.refresh_token]);
      for (let i = 0; i < 3; i++) {
        const res = await refresh(current.refresh_token);
        assert.equal(res.statusCode, 200);
        current = res.json();
        assert.ok(!seen.has(current.refresh_token));
        seen.add(current.refresh_token);
        ctx.clock.advance(1000);
      }
      assert.equal(await profileStatus(current.access_token), 200);
    });

    test('reuse of a retired token after the interval revokes the session: the newest tokens die too', async () => {
      const user = await register(ctx.app);
      const first = await login(ctx.app, user.username, user.password);
      const second = (await refresh(first.refresh_token)).json();
      ctx.clock.advance(11_000);
      const reused = await refresh(first.refresh_token);
      assert.equal(reused.statusCode, 401);
      assert.deepEqual(reused.json(), { detail: 'Invalid refresh token', error: 'invalid_grant' });
      assert.equal((await refresh(second.refresh_token)).statusCode, 401, 'the successor dies with the session');
      assert.equal(await profileStatus(second.access_token), 401, 'access tokens of the session die at once');
      assert.equal(await profileStatus(first.access_token), 401);
      assert.equal(await events('refresh_token_reused', user.id), 1);
      const other = await login(ctx.app, user.username, user.password);
      assert.equal(await profileStatus(other.access_token), 200, 'other sessions are untouched');
    });

    test('within the reuse interval a retired token gets the same successor, not a revocation', async () => {
      const user = await register(ctx.app);
      const first = await login(ctx.app, user.username, user.password);
      const a = (await refresh(first.refresh_token)).json();
      ctx.clock.advance(9_000);
      const b = await refresh(first.refresh_token);
      assert.equal(b.statusCode, 200);
      assert.equal(b.json().refresh_token, a.refresh_token);
      assert.equal(await profileStatus(b.json().access_token), 200);
      const next = await refresh(a.refresh_token);
      assert.equal(next.statusCode, 200, 'the shared successor is still live');
    });

    test('idle and absolute session limits end refreshing', async () => {
      const user = await register(ctx.app);
      const idle = await login(ctx.app, user.username, user.password);
      ctx.clock.advance(73 * 3600 * 1000);
      assert.equal((await refresh(idle.refresh_token)).statusCode, 401, 'idle for more than 72 h');

      let current = await login(ctx.app, user.username, user.password);
      for (let day = 0; day < 30; day++) {
        ctx.clock.advance(86400 * 1000);
        const res = await refresh(current.refresh_token);
        if (day < 29) {
          assert.equal(res.statusCode, 200, `day ${day + 1}`);
          current = res.json();
        } else {
          assert.equal(res.statusCode, 401, 'past the 30-day absolute lifetime');
        }
      }
    });

    test('logout ends the current session only; its access and refresh tokens stop working', async () => {
      const user = await register(ctx.app);
      const a = await login(ctx.app, user.username, user.password);
      const b = await login(ctx.app, user.username, user.password);
      const res = await ctx.app.inject({ method: 'POST', url: '/user/logout', headers: bearer(a.access_token) });
      assert.equal(res.statusCode, 204);
      assert.equal(await profileStatus(a.access_token), 401);
      assert.equal((await refresh(a.refresh_token)).statusCode, 401);
      assert.equal(await profileStatus(b.access_token), 200);
      assert.equal((await refresh(b.refresh_token)).statusCode, 200);
    });

    test('logout-all ends every session', async () => {
      const user = await register(ctx.app);
      const a = await login(ctx.app, user.username, user.password);
      const b = await login(ctx.app, user.username, user.password);
      const res = await ctx.app.inject({ method: 'POST', url: '/user/logout-all', headers: bearer(a.access_token) });
      assert.equal(res.statusCode, 204);
      for (const pair of [a, b]) {
        assert.equal(await profileStatus(pair.access_token), 401);
        assert.equal((await refresh(pair.refresh_token)).statusCode, 401);
      }
      ctx.clock.advance(1000);
      const fresh = await login(ctx.app, user.username, user.password);
      assert.equal(await profileStatus(fresh.access_token), 200, 'a later login works');
    });

    test('password change kills access and refresh tokens of every session', async () => {
      const user = await register(ctx.app);
      const a = await login(ctx.app, user.username, user.password);
      const b = await login(ctx.app, user.username, user.password);
      const res = await ctx.app.inject({
        method: 'PUT',
        url: '/user/update_password',
        headers: bearer(a.access_token),
        payload: { current_password: user.password, new_password: 'another-password-9' },
      });
      assert.equal(res.statusCode, 200);
      for (const pair of [a, b]) {
        assert.equal(await profileStatus(pair.access_token), 401);
        assert.equal((await refresh(pair.refresh_token)).statusCode, 401);
      }
      assert.equal(await events('password_changed', user.id), 1);
    });

    test('sessions: listed with the current one marked; a user ends their own, never someone else’s', async () => {
      const alice = await register(ctx.app);
      const bob = await register(ctx.app);
      const a1 = await login(ctx.app, alice.username, alice.password);
      const a2 = await login(ctx.app, alice.username, alice.password);
      const b1 = await login(ctx.app, bob.username, bob.password);
      const list = await ctx.app.inject({ url: '/user/sessions', headers: { ...bearer(a1.access_token), 'user-agent': 'x' } });
      assert.equal(list.statusCode, 200);
      const sessions = list.json() as { id: string; current: boolean; ip: string; user_agent: string | null }[];
      assert.equal(sessions.length, 2);
      assert.equal(sessions.filter((s) => s.current).length, 1);
      const a1Sid = JSON.parse(Buffer.from(a1.access_token.split('.')[1]!, 'base64url').toString()).sid;
      assert.equal(sessions.find((s) => s.current)!.id, a1Sid);
      const bobSid = JSON.parse(Buffer.from(b1.access_token.split('.')[1]!, 'base64url').toString()).sid;

      const foreign = await ctx.app.inject({ method: 'DELETE', url: `/user/sessions/${bobSid}`, headers: bearer(a1.access_token) });
      assert.equal(foreign.statusCode, 404);
      assert.equal(await profileStatus(b1.access_token), 200);

      const other = sessions.find((s) => !s.current)!;
      const del = await ctx.app.inject({ method: 'DELETE', url: `/user/sessions/${other.id}`, headers: bearer(a1.access_token) });
      assert.equal(del.statusCode, 204);
      assert.equal(await profileStatus(a2.access_token), 401);
      const again = await ctx.app.inject({ method: 'DELETE', url: `/user/sessions/${other.id}`, headers: bearer(a1.access_token) });
      assert.equal(again.statusCode, 404);
      const bad = await ctx.app.inject({ method: 'DELETE', url: '/user/sessions/not-a-uuid', headers: bearer(a1.access_token) });
      assert.equal(bad.statusCode, 422);
      assert.equal((await ctx.app.inject({ url: '/user/sessions' })).statusCode, 401);
    });

    test('RFC 7009 revoke: a refresh token ends its session; unknown tokens still get 200', async () => {
      const user = await register(ctx.app);
      const pair = await login(ctx.app, user.username, user.password);
      const res = await ctx.app.inject({ method: 'POST', url: '/oauth/revoke', ...form({ token: pair.refresh_token, token_type_hint: 'refresh_token' }) });
      assert.equal(res.statusCode, 200);
      assert.equal((await refresh(pair.refresh_token)).statusCode, 401);
      assert.equal(await profileStatus(pair.access_token), 401);
      for (const token of ['garbage', 'a.b.c', pair.refresh_token]) {
        const r = await ctx.app.inject({ method: 'POST', url: '/oauth/revoke', ...form({ token, token_type_hint: 'whatever' }) });
        assert.equal(r.statusCode, 200);
      }
      const other = await login(ctx.app, user.username, user.password);
      const byAccess = await ctx.app.inject({ method: 'POST', url: '/oauth/revoke', payload: { token: other.access_token } });
      assert.equal(byAccess.statusCode, 200);
      assert.equal((await refresh(other.refresh_token)).statusCode, 401);
      const missing = await ctx.app.inject({ method: 'POST', url: '/oauth/revoke', ...form({}) });
      assert.equal(missing.statusCode, 400);
      assert.equal(missing.json().error, 'invalid_request');
      for (const payload of [{ token: 42 }, { token: 'x'.repeat(4097) }, { token: 'x', token_type_hint: ['a'] }]) {
        const malformed = await ctx.app.inject({ method: 'POST', url: '/oauth/revoke', payload });
        assert.equal(malformed.statusCode, 400, JSON.stringify(payload).slice(0, 40));
        assert.equal(malformed.json().error, 'invalid_request');
        assert.match(malformed.json().detail, /^body\.(token|token_type_hint): /);
      }
    });

    test('RFC 7662 introspect: needs the secret; describes live tokens; anything else is inactive', async () => {
      const user = await register(ctx.app);
      const pair = await login(ctx.app, user.username, user.password);
      const basic = `Basic ${Buffer.from(`resource-server:${INTROSPECTION_SECRET}`).toString('base64')}`;
      const introspect = (token: string, authorization = basic) =>
        ctx.app.inject({ method: 'POST', url: '/oauth/introspect', ...form({ token }), headers: { ...form({}).headers, authorization } });

      for (const authorization of ['', 'Bearer wrong-secret-wrong-secret', `Basic ${Buffer.from('rs:nope').toString('base64')}`, 'Basic %%%']) {
        const denied = await introspect(pair.access_token, authorization);
        assert.equal(denied.statusCode, 401);
        assert.equal(denied.json().error, 'invalid_client');
      }

      const access = await introspect(pair.access_token);
      assert.equal(access.statusCode, 200);
      assert.equal(access.headers['cache-control'], 'no-store');
      const body = access.json();
      assert.equal(body.active, true);
      assert.equal(body.token_type, 'access_token');
      assert.equal(body.sub, user.username);
      assert.equal(body.uid, user.id);
      assert.match(body.sid, /^[0-9a-f-]{36}$/);
      assert.equal(typeof body.exp, 'number');
      assert.equal(typeof body.iat, 'number');
      assert.equal(body.scope, '');

      const viaBearer = await introspect(pair.refresh_token, `Bearer ${INTROSPECTION_SECRET}`);
      assert.equal(viaBearer.json().active, true);
      assert.equal(viaBearer.json().token_type, 'refresh_token');
      assert.equal(viaBearer.json().sid, body.sid);

      for (const token of ['garbage', `${pair.access_token}x`]) assert.deepEqual((await introspect(token)).json(), { active: false });
      const malformed = await ctx.app.inject({ method: 'POST', url: '/oauth/introspect', payload: { token: 42 }, headers: { authorization: basic } });
      assert.equal(malformed.statusCode, 400);
      assert.deepEqual(malformed.json(), { detail: 'body.token: Input should be a valid string', error: 'invalid_request' });
      await ctx.app.inject({ method: 'POST', url: '/user/logout', headers: bearer(pair.access_token) });
      assert.deepEqual((await introspect(pair.access_token)).json(), { active: false });
      assert.deepEqual((await introspect(pair.refresh_token)).json(), { active: false });
    });
  });

  describe(`a refresh token's own lifetime on ${kind}`, () => {
    test('REFRESH_TOKEN_EXPIRE_DAYS=1: a token unused for a day is refused before the session’s idle limit', async (t) => {
      const ctx = await buildTestApp(kind, { REFRESH_TOKEN_EXPIRE_DAYS: '1' });
      t.after(() => ctx.close());
      const refresh = (token: string) => ctx.app.inject({ method: 'POST', url: '/user/token/refresh', ...form({ refresh_token: token }) });
      const user = await register(ctx.app);
      const first = await login(ctx.app, user.username, user.password);
      ctx.clock.advance(23 * 3600 * 1000);
      const second = await refresh(first.refresh_token);
      assert.equal(second.statusCode, 200, 'within its day');
      ctx.clock.advance(25 * 3600 * 1000);
      assert.equal((await refresh(second.json().refresh_token)).statusCode, 401, 'a day has passed, the 72 h idle limit has not');
    });
  });

  describe(`introspection without a configured secret on ${kind}`, () => {
    test('is refused, so it is no oracle', async (t) => {
      const ctx = await buildTestApp(kind);
      t.after(() => ctx.close());
      const res = await ctx.app.inject({ method: 'POST', url: '/oauth/introspect', ...form({ token: 'x' }) });
      assert.equal(res.statusCode, 401);
      assert.equal(res.json().error, 'invalid_client');
    });
  });
}
