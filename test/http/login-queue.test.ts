import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { useTestApp } from '../helpers/app.js';
import { databaseKinds } from '../helpers/databases.js';
import { form, register } from '../helpers/requests.js';

for (const kind of await databaseKinds()) {
  describe(`simultaneous logins of one account on ${kind} (issue 12, point 7)`, () => {
    test('8 parallel correct logins all succeed: the surplus waits instead of getting 429', async (t) => {
      const ctx = await useTestApp(t, kind);
      const user = await register(ctx.app);
      const burst = await Promise.all(
        Array.from({ length: 8 }, () => ctx.app.inject({ method: 'POST', url: '/user/token', ...form({ username: user.username, password: user.password }) })),
      );
      assert.deepEqual(
        burst.map((res) => res.statusCode),
        Array(8).fill(200),
      );
    });

    test('20 parallel wrong guesses get no more password checks than 5 sequential ones', async (t) => {
      const ctx = await useTestApp(t, kind);
      const user = await register(ctx.app);
      const { hasher } = ctx.app.deps;
      const counted = t.mock.method(hasher, 'check', hasher.check.bind(hasher));
      const burst = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          ctx.app.inject({ method: 'POST', url: '/user/token', ...form({ username: user.username, password: `wrong-password-${i}` }) }),
        ),
      );
      assert.equal(counted.mock.callCount(), 5);
      assert.deepEqual(
        burst.map((res) => res.statusCode).sort(),
        [...Array(5).fill(401), ...Array(15).fill(429)],
      );
    });
  });
}
