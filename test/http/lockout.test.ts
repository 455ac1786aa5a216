import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sql } from 'drizzle-orm';
import { buildApp } from '../../src/app.js';
import { buildTestApp, TEST_SECRET_KEY, type TestApp } from '../helpers/app.js';
import { databaseKinds } from '../helpers/databases.js';
import { form, register, uniqueName } from '../helpers/requests.js';

for (const kind of await databaseKinds()) {
  describe(`account lockout on ${kind}`, () => {
    let ctx: TestApp & { close(): Promise<void> };
    before(async () => {
      ctx = await buildTestApp(kind);
    });
    after(() => ctx.close());

    const attempt = (username: string, password: string, app = ctx.app) =>
      app.inject({ method: 'POST', url: '/user/token', ...form({ username, password }) });
    const fail = async (username: string, times: number) => {
      for (let i = 0; i < times; i++) assert.equal((await attempt(username, 'wrong-password')).statusCode, 401);
    };

    test('after 5 failures even the right password gets 429 with Retry-After, and no hint', async () => {
      const user = await register(ctx.app);
      await fail(user.username, 5);
      const right = await attempt(user.username, user.password);
      const wrong = await attempt(user.username, 'wrong-password');
      for (const res of [right, wrong]) {
        assert.equal(res.statusCode, 429);
        assert.equal(res.headers['retry-after'], '60');
        assert.deepEqual(res.json(), { detail: 'Too many failed login attempts; try again later' });
      }
      ctx.clock.advance(61_000);
      assert.equal((await attempt(user.username, user.password)).statusCode, 200, 'the delay has run out');
      await fail(user.username, 4);
      assert.equal((await attempt(user.username, user.password)).statusCode, 200, 'a success reset the count');
    });

    test('the delay doubles with each further failure, capped at 15 minutes', async () => {
      const user = await register(ctx.app);
      await fail(user.username, 5);
      const delays: string[] = [];
      for (let i = 0; i < 6; i++) {
        const locked = await attempt(user.username, 'wrong-password');
        delays.push(String(locked.headers['retry-after']));
        ctx.clock.advance(Number(locked.headers['retry-after']) * 1000 + 1000);
        assert.equal((await attempt(user.username, 'wrong-password')).statusCode, 401);
      }
      assert.deepEqual(delays, ['60', '120', '240', '480', '900', '900']);
    });

    test('username and e-mail share one counter; an unknown login is throttled the same way', async () => {
      const user = await register(ctx.app);
      await fail(user.username, 3);
      await fail(user.email.toUpperCase(), 2);
      assert.equal((await attempt(user.username, user.password)).statusCode, 429);
      const ghost = uniqueName('ghost');
      await fail(ghost, 5);
      const res = await attempt(ghost, 'anything-at-all');
      assert.equal(res.statusCode, 429);
      assert.equal(res.headers['retry-after'], '60');
    });

    test('failures older than 12 hours are forgotten', async () => {
      const user = await register(ctx.app);
      await fail(user.username, 4);
      ctx.clock.advance(12 * 3600 * 1000 + 1000);
      await fail(user.username, 4);
      assert.equal((await attempt(user.username, user.password)).statusCode, 200);
    });

    test('counts are durable: a restarted service still enforces the delay; events are audited', async () => {
      const user = await register(ctx.app);
      await fail(user.username, 5);
      const restarted = await buildApp({ config: ctx.config, db: ctx.database.handle.db, secretKey: TEST_SECRET_KEY, clock: ctx.clock });
      try {
        assert.equal((await attempt(user.username, user.password, restarted)).statusCode, 429);
      } finally {
        await restarted.close();
      }
      const result = (await ctx.database.handle.db.execute(
        sql`select type, count(*)::int as n from audit_events where user_id = ${user.id} group by type order by type`,
      )) as unknown as { rows: { type: string; n: number }[] };
      assert.deepEqual(result.rows, [{ type: 'login_locked', n: 1 }]);
      const failed = (await ctx.database.handle.db.execute(
        sql`select count(*)::int as n from audit_events where type = 'login_failed' and details->>'login' = ${user.username}`,
      )) as unknown as { rows: { n: number }[] };
      assert.equal(failed.rows[0]!.n, 5);
    });
  });
}
