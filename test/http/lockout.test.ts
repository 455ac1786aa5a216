import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sql } from 'drizzle-orm';
import { buildApp } from '../../src/app.js';
import { DomainError } from '../../src/errors.js';
import { buildTestApp, TEST_SECRET_KEY, type TestApp } from '../helpers/app.js';
import { databaseKinds, selectRows } from '../helpers/databases.js';
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
        assert.deepEqual(res.json(), { detail: 'Too many login attempts; try again later' });
      }
      ctx.clock.advance(61_000);
      assert.equal((await attempt(user.username, user.password)).statusCode, 200, 'the delay has run out');
      await fail(user.username, 4);
      assert.equal((await attempt(user.username, user.password)).statusCode, 200, 'a success reset the count');
    });

    test('the delay doubles with each further failure, capped at 20 minutes', async () => {
      const user = await register(ctx.app);
      await fail(user.username, 5);
      const delays: string[] = [];
      for (let i = 0; i < 7; i++) {
        const locked = await attempt(user.username, 'wrong-password');
        delays.push(String(locked.headers['retry-after']));
        ctx.clock.advance(Number(locked.headers['retry-after']) * 1000 + 1000);
        assert.equal((await attempt(user.username, 'wrong-password')).statusCode, 401);
      }
      assert.deepEqual(delays, ['60', '120', '240', '480', '960', '1200', '1200']);
    });

    test('each login name has its own counter: failures never show that a username and an e-mail name one account', async () => {
      const user = await register(ctx.app);
      const ghost = uniqueName('ghost');
      // A real account and a login nobody has go through the same steps with the same answers.
      for (const [name, email, password, expected] of [
        [user.username, user.email, user.password, 200],
        [ghost, `${ghost}@example.com`, 'anything-at-all', 401],
      ] as const) {
        await fail(name, 4);
        await fail(email, 4);
        await fail(name, 1);
        const locked = await attempt(name, 'anything-at-all');
        assert.equal(locked.statusCode, 429, name);
        assert.equal(locked.headers['retry-after'], '60');
        assert.equal((await attempt(email.toUpperCase(), password)).statusCode, expected, 'the e-mail is not locked');
      }
      assert.equal((await attempt(user.username, user.password)).statusCode, 429, 'a success under the e-mail does not unlock the username');
    });

    test('a burst of concurrent guesses gets no more tries than one at a time', async () => {
      const user = await register(ctx.app);
      const burst = await Promise.all(Array.from({ length: 20 }, (_, i) => attempt(user.username, `wrong-password-${i}`)));
      const codes = burst.map((res) => res.statusCode).sort();
      assert.deepEqual(codes, [...Array(5).fill(401), ...Array(15).fill(429)]);
      assert.equal((await attempt(user.username, user.password)).statusCode, 429, 'locked once the fifth failed');
      const rows = await selectRows(ctx.database.handle.db, sql`select failures from login_failures where key = ${`login:${user.username.toLowerCase()}`}`);
      assert.deepEqual(rows, [{ failures: 5 }], 'refused attempts are not counted');
    });

    test('an attempt that ends without a verdict (503) is taken back, with the delay it had set', async (t) => {
      const strict = await buildTestApp(kind, { LOCKOUT_THRESHOLD: '1' });
      t.after(() => strict.close());
      const user = await register(strict.app);
      const busy = t.mock.method(strict.app.deps.hasher, 'check', async () => {
        throw new DomainError('SERVICE_BUSY', { retryAfterSeconds: 1 });
      });
      assert.equal((await attempt(user.username, user.password, strict.app)).statusCode, 503);
      busy.mock.restore();
      const rows = await selectRows(strict.database.handle.db, sql`select failures, locked_until from login_failures`);
      assert.deepEqual(rows, [{ failures: 0, locked_until: null }], 'neither counted nor locked');
      assert.equal((await attempt(user.username, user.password, strict.app)).statusCode, 200);
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
      const result = await selectRows(
        ctx.database.handle.db,
        sql`select type, count(*)::int as n from audit_events where user_id = ${user.id} group by type order by type`,
      );
      assert.deepEqual(result, [
        { type: 'login_failed', n: 5 },
        { type: 'login_locked', n: 1 },
      ]);
      const ghost = uniqueName('ghost');
      await fail(ghost, 1);
      const failed = await selectRows(ctx.database.handle.db, sql`select user_id from audit_events where type = 'login_failed' and details->>'login' = ${ghost}`);
      assert.deepEqual(failed, [{ user_id: null }]);
    });
  });
}
