import assert from 'node:assert/strict';
import { describe, test, type TestContext } from 'node:test';
import { sql } from 'drizzle-orm';
import { useTestApp, type TestApp } from '../helpers/app.js';
import { databaseKinds, selectRows } from '../helpers/databases.js';
import { bearer, form, login, register, uniqueName } from '../helpers/requests.js';

/**
 * Starts a login and holds it right after its password check, until `interleave` has run: the login then
 * opens its session after whatever `interleave` committed.
 */
async function loginAround(t: TestContext, ctx: TestApp, username: string, password: string, interleave: () => Promise<void>) {
  const { hasher } = ctx.app.deps;
  const check = hasher.check.bind(hasher);
  let checked!: () => void;
  const inCheck = new Promise<void>((resolve) => (checked = resolve));
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const held = t.mock.method(hasher, 'check', async (p: string, h: string) => {
    const verdict = await check(p, h);
    checked();
    await gate;
    return verdict;
  });
  const racing = ctx.app.inject({ method: 'POST', url: '/user/token', ...form({ username, password }) });
  await inCheck;
  held.mock.restore();
  await interleave();
  release();
  return racing;
}

const openSessions = (ctx: TestApp, userId: number) =>
  selectRows(ctx.database.handle.db, sql`select id from sessions where user_id = ${userId} and revoked_at is null`);

for (const kind of await databaseKinds()) {
  describe(`logins racing revocations on ${kind} (issue 12, point 2)`, () => {
    test('a login whose password is changed while it is checked opens no session', async (t) => {
      const ctx = await useTestApp(t, kind);
      const user = await register(ctx.app);
      const { access_token } = await login(ctx.app, user.username, user.password);
      const res = await loginAround(t, ctx, user.username, user.password, async () => {
        const changed = await ctx.app.inject({
          method: 'PUT',
          url: '/user/update_password',
          payload: form({ current_password: user.password, new_password: 'a-brand-new-pass-9' }).payload,
          headers: { ...form({}).headers, ...bearer(access_token) },
        });
        assert.equal(changed.statusCode, 200, changed.body);
      });
      assert.equal(res.statusCode, 401, res.body);
      assert.deepEqual(await openSessions(ctx, user.id), []);
      assert.equal((await ctx.app.inject({ method: 'POST', url: '/user/token', ...form({ username: user.username, password: 'a-brand-new-pass-9' }) })).statusCode, 200);
    });

    test('a login checked before a logout-all opens no session after it', async (t) => {
      const ctx = await useTestApp(t, kind);
      const user = await register(ctx.app);
      const { access_token } = await login(ctx.app, user.username, user.password);
      const res = await loginAround(t, ctx, user.username, user.password, async () => {
        assert.equal((await ctx.app.inject({ method: 'POST', url: '/user/logout-all', headers: bearer(access_token) })).statusCode, 204);
      });
      assert.equal(res.statusCode, 401, res.body);
      assert.deepEqual(await openSessions(ctx, user.id), []);
      await login(ctx.app, user.username, user.password);
    });

    test('simultaneous logins of an account whose hash is being upgraded all succeed (an upgrade is not a change)', async (t) => {
      const ctx = await useTestApp(t, kind, { PASSWORD_HASH: 'argon2id', ARGON2_MEMORY_KIB: '1024', ARGON2_TIME_COST: '1' });
      const username = uniqueName('legacy');
      // passlib's bcrypt hash of "secret123": every login wants to re-make it as argon2id, and one wins.
      await ctx.database.handle.db.execute(
        sql`insert into users (username, email, hash_password) values (${username}, ${`${username}@example.com`}, '$2b$12$BilYj29VSKT3TnuOe.D0RuRg39HVTn1SkBTjrZfP4T58BTl9SpOgq')`,
      );
      const burst = await Promise.all(
        Array.from({ length: 4 }, () => ctx.app.inject({ method: 'POST', url: '/user/token', ...form({ username, password: 'secret123' }) })),
      );
      assert.deepEqual(
        burst.map((res) => res.statusCode),
        [200, 200, 200, 200],
      );
    });
  });
}
