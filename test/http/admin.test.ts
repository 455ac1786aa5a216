import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sql } from 'drizzle-orm';
import { decodeJwt } from 'jose';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { databaseKinds, selectRows } from '../helpers/databases.js';
import { bearer, form, login, register, uniqueName } from '../helpers/requests.js';
import { changeUserRole } from '../../src/services/admin/roles.js';

const INTROSPECTION_SECRET = 'introspection-secret-for-tests';

for (const kind of await databaseKinds()) {
  describe(`admin API and roles on ${kind}`, () => {
    let ctx: TestApp & { close(): Promise<void> };
    before(async () => {
      ctx = await buildTestApp(kind, { INTROSPECTION_SECRET });
    });
    after(() => ctx.close());

    /** A fresh user with the given roles (granted as the CLI does), logged in. */
    async function userWith(roles: string[] = []) {
      const user = await register(ctx.app);
      for (const role of roles) await changeUserRole(ctx.app.deps, user.username, role, 'add');
      const tokens = await login(ctx.app, user.username, user.password);
      return { ...user, token: tokens.access_token, refresh: tokens.refresh_token };
    }
    const call = (method: 'GET' | 'PATCH' | 'DELETE', url: string, token?: string, payload?: object) =>
      ctx.app.inject({ method, url, headers: token ? bearer(token) : {}, ...(payload && { payload }) });
    const patch = (id: number, token: string, payload: object) => call('PATCH', `/admin/users/${id}`, token, payload);
    const profileStatus = async (token: string) => (await call('GET', '/user/user', token)).statusCode;
    const passwordLogin = (username: string, password: string) => ctx.app.inject({ method: 'POST', url: '/user/token', ...form({ username, password }) });
    const introspect = (token: string) =>
      ctx.app.inject({ method: 'POST', url: '/oauth/introspect', ...form({ token }), headers: { ...form({}).headers, ...bearer(INTROSPECTION_SECRET) } });
    const eventsOf = (userId: number, type: string) =>
      selectRows<{ details: Record<string, unknown> }>(
        ctx.database.handle.db,
        sql`select details from audit_events where user_id = ${userId} and type = ${type} order by id`,
      );
    /** Leaves exactly the given users as active admins, so each last-admin test starts from a known state. */
    const onlyAdmins = async (...ids: number[]) =>
      ctx.database.handle.db.execute(
        sql`update users set roles = array_remove(roles, 'admin') where 'admin' = any(roles) and not (id = any(${`{${ids.join(',')}}`}::int[]))`,
      );

    test('every admin route: 401 without a token, 403 without the admin role (own id or another), 200 with it', async () => {
      const admin = await userWith(['admin']);
      const plain = await userWith();
      const other = await userWith();
      const routes: ['GET' | 'PATCH' | 'DELETE', string, object?][] = [
        ['GET', '/admin/users'],
        ['GET', `/admin/users/${other.id}`],
        ['PATCH', `/admin/users/${other.id}`, { email_verified: true }],
        ['GET', `/admin/users/${other.id}/sessions`],
        ['DELETE', `/admin/users/${other.id}/sessions`],
        ['GET', `/admin/users/${other.id}/events`],
        ['GET', `/admin/users/${plain.id}`],
      ];
      for (const [method, url, payload] of routes) {
        const anonymous = await call(method, url, undefined, payload);
        assert.equal(anonymous.statusCode, 401, `${method} ${url}`);
        assert.equal(anonymous.headers['www-authenticate'], 'Bearer');
        const forbidden = await call(method, url, plain.token, payload);
        assert.equal(forbidden.statusCode, 403, `${method} ${url}`);
        assert.deepEqual(forbidden.json(), { detail: 'The admin role is required' });
        assert.equal((await call(method, url, `${admin.token}x`, payload)).statusCode, 401);
        assert.equal((await call(method, url, admin.token, payload)).statusCode, 200, `${method} ${url}`);
      }
      // Every admin call, reads included, is a security event naming the acting admin.
      const recorded = await selectRows<{ type: string }>(
        ctx.database.handle.db,
        sql`select type from audit_events where details->>'actorId' = ${String(admin.id)} order by id`,
      );
      assert.deepEqual(recorded.map((e) => e.type), [
        'admin_users_listed',
        'admin_user_viewed',
        'admin_user_updated',
        'admin_sessions_viewed',
        'admin_sessions_ended',
        'admin_events_viewed',
        'admin_user_viewed',
      ]);
      // Refused before the input is read: a stranger learns nothing about what the route accepts.
      assert.equal((await call('PATCH', `/admin/users/${other.id}`, plain.token, { password: 'x' })).statusCode, 403);
      assert.equal((await call('GET', '/admin/users?limit=0', undefined)).statusCode, 401);
    });

    test('roles: none for new users and no claim; a change is seen at once, and by new tokens and introspection', async () => {
      const admin = await userWith(['admin']);
      const user = await userWith();
      assert.equal(decodeJwt(user.token)['roles'], undefined, 'no roles claim when there are none');
      assert.equal((await introspect(user.token)).json().roles, undefined);
      assert.deepEqual((await call('GET', `/admin/users/${user.id}`, admin.token)).json().roles, []);
      assert.deepEqual(decodeJwt(admin.token)['roles'], ['admin']);

      // Granted: the user's existing token (no roles claim) works on the admin API at once.
      const granted = await patch(user.id, admin.token, { roles: ['support', 'admin', 'support'] });
      assert.equal(granted.statusCode, 200);
      assert.deepEqual(granted.json().roles, ['support', 'admin']);
      assert.equal((await call('GET', '/admin/users', user.token)).statusCode, 200);
      assert.deepEqual((await introspect(user.token)).json().roles, ['support', 'admin'], 'introspection reads the row');
      const fresh = await login(ctx.app, user.username, user.password);
      assert.deepEqual(decodeJwt(fresh.access_token)['roles'], ['support', 'admin']);
      const refreshed = await ctx.app.inject({ method: 'POST', url: '/user/token/refresh', ...form({ refresh_token: fresh.refresh_token }) });
      assert.deepEqual(decodeJwt(refreshed.json().access_token)['roles'], ['support', 'admin']);

      // Revoked: the token still claims `admin`, but the row decides.
      assert.equal((await patch(user.id, admin.token, { roles: ['support'] })).statusCode, 200);
      assert.equal((await call('GET', '/admin/users', fresh.access_token)).statusCode, 403);
      assert.deepEqual((await introspect(fresh.access_token)).json().roles, ['support']);
      assert.deepEqual((await introspect(refreshed.json().refresh_token)).json().roles, ['support']);
      const [changed] = (await eventsOf(user.id, 'roles_changed')).slice(-1);
      assert.deepEqual(changed!.details, { actorId: admin.id, before: ['support', 'admin'], after: ['support'] });
    });

    test('disabling ends every session and token at once; the right password gets 403, a wrong one 401', async () => {
      const admin = await userWith(['admin']);
      const user = await userWith();
      const second = await login(ctx.app, user.username, user.password);
      assert.equal(await profileStatus(user.token), 200);

      const disabled = await patch(user.id, admin.token, { is_active: false });
      assert.equal(disabled.statusCode, 200);
      assert.equal(disabled.json().status, 'disabled');
      assert.equal(disabled.json().active_sessions, 0);
      assert.equal(await profileStatus(user.token), 401, 'the old access token is refused on its next use');
      assert.equal(await profileStatus(second.access_token), 401);
      assert.equal((await ctx.app.inject({ method: 'POST', url: '/user/token/refresh', ...form({ refresh_token: user.refresh }) })).statusCode, 401);
      assert.deepEqual((await introspect(second.access_token)).json(), { active: false });

      const right = await passwordLogin(user.username, user.password);
      assert.equal(right.statusCode, 403);
      assert.deepEqual(right.json(), { detail: 'Account disabled' });
      const wrong = await passwordLogin(user.username, 'not-the-password');
      assert.equal(wrong.statusCode, 401);
      assert.deepEqual(wrong.json(), { detail: 'Incorrect username or password', error: 'invalid_grant' });
      assert.deepEqual((await eventsOf(user.id, 'login_refused')).map((e) => e.details), [{ reason: 'account_disabled' }]);
      const [event] = await eventsOf(user.id, 'account_disabled');
      assert.equal(event!.details['actorId'], admin.id);
      assert.equal(event!.details['sessions'], 2);

      const enabled = await patch(user.id, admin.token, { is_active: true });
      assert.equal(enabled.json().status, 'active');
      assert.equal(await profileStatus(user.token), 401, 'enabling does not bring ended sessions back');
      assert.equal((await passwordLogin(user.username, user.password)).statusCode, 200);
      assert.equal((await eventsOf(user.id, 'account_enabled')).length, 1);
    });

    test('a ban refuses login until it ends, and ends the sessions at once', async () => {
      const admin = await userWith(['admin']);
      const user = await userWith();
      const until = new Date(ctx.clock.now().getTime() + 3600_000).toISOString();
      const banned = await patch(user.id, admin.token, { banned_until: until });
      assert.equal(banned.statusCode, 200);
      assert.equal(banned.json().status, 'banned');
      assert.equal(banned.json().banned_until, until);
      assert.equal(await profileStatus(user.token), 401);
      assert.deepEqual((await passwordLogin(user.username, user.password)).json(), { detail: 'Account disabled' });
      const listed = (await call('GET', `/admin/users?status=banned&q=${user.username}`, admin.token)).json();
      assert.deepEqual(listed.users.map((u: { id: number }) => u.id), [user.id]);

      ctx.clock.advance(3601_000);
      const adminToken = (await login(ctx.app, admin.username, admin.password)).access_token;
      assert.equal((await call('GET', `/admin/users/${user.id}`, adminToken)).json().status, 'active');
      const after = await passwordLogin(user.username, user.password);
      assert.equal(after.statusCode, 200);
      assert.equal(await profileStatus(after.json().access_token), 200);
      assert.equal((await patch(user.id, adminToken, { banned_until: null })).json().banned_until, null);
    });

    test('the last active admin cannot demote, disable or ban themselves; with another admin they can', async () => {
      const first = await userWith(['admin']);
      await onlyAdmins(first.id);
      for (const change of [{ roles: [] }, { roles: ['support'] }, { is_active: false }, { banned_until: '2999-01-01T00:00:00Z' }]) {
        const refused = await patch(first.id, first.token, change);
        assert.equal(refused.statusCode, 409, JSON.stringify(change));
        assert.deepEqual(refused.json(), { detail: 'This would leave no active admin: make another admin first' });
      }
      assert.equal(await profileStatus(first.token), 200, 'a refused change changes nothing');
      assert.equal((await patch(first.id, first.token, { roles: ['admin', 'support'] })).statusCode, 200, 'keeping the role is fine');
      const past = new Date(ctx.clock.now().getTime() - 1000).toISOString();
      assert.equal((await patch(first.id, first.token, { banned_until: past })).statusCode, 200, 'a ban already over bans no one');

      const second = await userWith(['admin']);
      assert.equal((await patch(first.id, first.token, { roles: [] })).statusCode, 200);
      assert.equal((await call('GET', '/admin/users', first.token)).statusCode, 403);
      assert.equal((await patch(second.id, second.token, { is_active: false })).statusCode, 409, 'now the second is the last');
      assert.equal((await patch(first.id, second.token, { roles: ['admin'] })).statusCode, 200);
      assert.equal((await patch(second.id, second.token, { is_active: false })).statusCode, 200, 'an admin may disable themselves when not the last');
      assert.equal(await profileStatus(second.token), 401);
    });

    test('two last admins demoting themselves at the same moment: exactly one succeeds', async () => {
      const a = await userWith(['admin']);
      const b = await userWith(['admin']);
      await onlyAdmins(a.id, b.id);
      for (let round = 0; round < 3; round++) {
        const results = await Promise.all([patch(a.id, a.token, { roles: [] }), patch(b.id, b.token, { roles: [] })]);
        assert.deepEqual(results.map((r) => r.statusCode).sort(), [200, 409]);
        const [row] = await selectRows<{ n: number }>(ctx.database.handle.db, sql`select count(*)::int as n from users where 'admin' = any(roles)`);
        assert.equal(row!.n, 1);
        const demoted = results[0]!.statusCode === 200 ? a : b;
        const remaining = demoted === a ? b : a;
        assert.equal((await patch(demoted.id, remaining.token, { roles: ['admin'] })).statusCode, 200);
      }
    });

    test('pagination is keyset by id: walking the pages while users register repeats and skips no one', async () => {
      const admin = await userWith(['admin']);
      const prefix = uniqueName('page');
      const ids: number[] = [];
      for (let i = 0; i < 7; i++) ids.push((await register(ctx.app, `${prefix}_${i}`)).id);
      const page = async (after?: number) =>
        (await call('GET', `/admin/users?q=${prefix}&limit=3${after ? `&after=${after}` : ''}`, admin.token)).json() as {
          users: { id: number; username: string }[];
          next_after: number | null;
        };
      const seen: number[] = [];
      let current = await page();
      seen.push(...current.users.map((u) => u.id));
      // Users registering between pages (and one disabled) must not shift what the next page shows.
      for (let i = 7; i < 9; i++) ids.push((await register(ctx.app, `${prefix}_${i}`)).id);
      while (current.next_after !== null) {
        current = await page(current.next_after);
        seen.push(...current.users.map((u) => u.id));
        if (seen.length === 6) ids.push((await register(ctx.app, `${prefix}_9`)).id);
      }
      assert.deepEqual(seen, ids);
      assert.equal(current.users.length, 1, 'the last page is a partial one with no cursor');
      const empty = await page(ids.at(-1));
      assert.deepEqual(empty, { users: [], next_after: null });
    });

    test('search by username or e-mail prefix, any case, wildcards literal; filters by status and role', async () => {
      const admin = await userWith(['admin']);
      const stem = uniqueName('Find');
      const alice = await register(ctx.app, `${stem}_alice`);
      const bob = await register(ctx.app, `${stem}_bob`);
      const search = async (query: string) =>
        ((await call('GET', `/admin/users?${query}`, admin.token)).json().users as { id: number; email: string }[]).map((u) => u.id);
      assert.deepEqual(await search(`q=${stem.toUpperCase()}`), [alice.id, bob.id]);
      assert.deepEqual(await search(`q=${encodeURIComponent(`${stem}_B`)}`), [bob.id]);
      assert.deepEqual(await search(`q=${encodeURIComponent(alice.email.toUpperCase())}`), [alice.id], 'by e-mail');
      assert.deepEqual(await search(`q=${encodeURIComponent(`${stem.slice(0, 4)}%_alice`)}`), [], '% and _ match only themselves');
      assert.deepEqual(await search(`q=nobody-has-this-${stem}`), []);

      await patch(bob.id, admin.token, { is_active: false, roles: ['support'] });
      assert.deepEqual(await search(`q=${stem}&status=disabled`), [bob.id]);
      assert.deepEqual(await search(`q=${stem}&status=active`), [alice.id]);
      assert.deepEqual(await search(`q=${stem}&role=support`), [bob.id]);
      const listed = (await call('GET', `/admin/users?q=${alice.username}`, admin.token)).json().users[0];
      assert.deepEqual(Object.keys(listed).sort(), [
        'banned_until', 'created_at', 'email', 'email_verified', 'id', 'is_active', 'last_login_at', 'roles', 'status', 'updated_at', 'username',
      ]);
      for (const bad of ['limit=0', 'limit=201', 'limit=ten', 'status=gone', 'after=-1', 'after=99999999999', 'role=a%20b', 'q=']) {
        const res = await call('GET', `/admin/users?${bad}`, admin.token);
        assert.equal(res.statusCode, 422, bad);
        assert.ok(Array.isArray(res.json().detail));
      }
    });

    test('one user: profile, roles, status, times and active sessions; PATCH of the profile fields', async () => {
      const admin = await userWith(['admin']);
      const user = await userWith();
      await login(ctx.app, user.username, user.password);
      const detail = (await call('GET', `/admin/users/${user.id}`, admin.token)).json();
      assert.equal(detail.active_sessions, 2);
      assert.equal(detail.last_login_at, ctx.clock.now().toISOString());
      assert.equal(detail.email_verified, false);
      assert.equal(detail.status, 'active');
      assert.ok(!('hash_password' in detail) && !JSON.stringify(detail).includes('$2'));

      const verified = await patch(user.id, admin.token, { email_verified: true });
      assert.equal(verified.json().email_verified, true);
      const renamed = await patch(user.id, admin.token, { username: `${user.username}_2`, email: `new_${user.email}` });
      assert.equal(renamed.statusCode, 200);
      assert.equal(renamed.json().username, `${user.username}_2`);
      assert.equal(renamed.json().email_verified, false, 'a new address is not verified');
      assert.equal(await profileStatus(user.token), 200, 'a rename keeps the sessions');
      assert.deepEqual((await eventsOf(user.id, 'admin_user_updated')).at(-1)!.details, {
        actorId: admin.id,
        changes: { username: `${user.username}_2`, email: `new_${user.email}`, emailVerified: false },
      });

      assert.equal((await patch(user.id, admin.token, { username: admin.username.toUpperCase() })).statusCode, 409);
      const extra = await patch(user.id, admin.token, { password: 'new-password-1' });
      assert.equal(extra.statusCode, 422, 'never dropped in silence');
      assert.deepEqual(extra.json().detail, [{ loc: ['body', 'password'], msg: 'Extra inputs are not permitted', type: 'extra_forbidden' }]);
      assert.equal((await patch(user.id, admin.token, {})).statusCode, 422);
      assert.equal((await patch(user.id, admin.token, { roles: ['bad role'] })).statusCode, 422);
      assert.equal((await patch(user.id, admin.token, { banned_until: 'tomorrow' })).statusCode, 422);
      // Valid ISO 8601 that PostgreSQL cannot store: refused as input, never a 500.
      assert.equal((await patch(user.id, admin.token, { banned_until: '0000-01-01T00:00:00Z' })).statusCode, 422);
      assert.equal((await patch(user.id, admin.token, { banned_until: '9999-12-31T23:59:59-14:00' })).statusCode, 422, 'year 10000 in UTC');
      assert.equal((await patch(user.id, admin.token, { banned_until: '9999-12-31T23:59:59Z' })).json().status, 'banned');
      assert.equal((await patch(2147483647, admin.token, { is_active: true })).statusCode, 404);
      assert.equal((await call('GET', '/admin/users/9999999999', admin.token)).statusCode, 404);
      assert.equal((await call('GET', '/admin/users/abc', admin.token)).statusCode, 422);
    });

    test('a user’s sessions: listed, then all ended with their access tokens', async () => {
      const admin = await userWith(['admin']);
      const user = await userWith();
      await login(ctx.app, user.username, user.password);
      const sessions = (await call('GET', `/admin/users/${user.id}/sessions`, admin.token)).json();
      assert.equal(sessions.length, 2);
      assert.ok(sessions.every((s: { current: boolean }) => s.current === false));
      const ended = await call('DELETE', `/admin/users/${user.id}/sessions`, admin.token);
      assert.deepEqual(ended.json(), { ended: 2 });
      assert.equal(await profileStatus(user.token), 401);
      assert.deepEqual((await call('GET', `/admin/users/${user.id}/sessions`, admin.token)).json(), []);
      assert.equal(await profileStatus(admin.token), 200, 'the admin’s own sessions are untouched');
      assert.equal((await eventsOf(user.id, 'admin_sessions_ended'))[0]!.details['actorId'], admin.id);
      assert.equal((await call('DELETE', '/admin/users/2147483647/sessions', admin.token)).statusCode, 404);
    });

    test('a user’s security events: newest first, by type and time, keyset-paginated; admin actions name the admin', async () => {
      const admin = await userWith(['admin']);
      const user = await userWith();
      for (let i = 0; i < 3; i++) await passwordLogin(user.username, 'wrong-password');
      const url = `/admin/users/${user.id}/events`;
      const first = (await call('GET', `${url}?type=login_failed&limit=2`, admin.token)).json();
      assert.equal(first.events.length, 2);
      assert.ok(first.events.every((e: { type: string }) => e.type === 'login_failed'));
      const rest = (await call('GET', `${url}?type=login_failed&limit=2&before=${first.next_before}`, admin.token)).json();
      assert.equal(rest.events.length, 1);
      assert.equal(rest.next_before, null);
      assert.ok(first.events[0].id > first.events[1].id && first.events[1].id > rest.events[0].id);

      const all = (await call('GET', url, admin.token)).json().events as { type: string; details: Record<string, unknown> }[];
      assert.deepEqual(all.map((e) => e.type).slice(-1), ['login_succeeded']);
      assert.equal(all.find((e) => e.type === 'admin_events_viewed')?.details['actorId'], admin.id);
      const future = new Date(ctx.clock.now().getTime() + 1000).toISOString();
      assert.deepEqual((await call('GET', `${url}?since=${future}`, admin.token)).json().events, []);
      assert.equal((await call('GET', `${url}?until=${future}&type=login_succeeded`, admin.token)).json().events.length, 1);
      assert.equal((await call('GET', `${url}?since=yesterday`, admin.token)).statusCode, 422);
      assert.equal((await call('GET', `${url}?since=0000-01-01T00:00:00Z`, admin.token)).statusCode, 422);
      assert.equal((await call('GET', `${url}?until=9999-12-31T23:00:00-14:00`, admin.token)).statusCode, 422);
    });

    test('OpenAPI documents the admin routes under the admin tag with the bearer scheme', async () => {
      const spec = (await ctx.app.inject({ url: '/openapi.json' })).json();
      const operations = [
        spec.paths['/admin/users'].get,
        spec.paths['/admin/users/{id}'].get,
        spec.paths['/admin/users/{id}'].patch,
        spec.paths['/admin/users/{id}/sessions'].get,
        spec.paths['/admin/users/{id}/sessions'].delete,
        spec.paths['/admin/users/{id}/events'].get,
      ];
      for (const operation of operations) {
        assert.deepEqual(operation.tags, ['admin']);
        assert.deepEqual(operation.security, [{ OAuth2PasswordBearer: [] }]);
        assert.ok(operation.responses['401'] && operation.responses['403']);
      }
      assert.ok(spec.paths['/user/token'].post.responses['403'], 'the token endpoint documents Account disabled');
    });
  });
}
