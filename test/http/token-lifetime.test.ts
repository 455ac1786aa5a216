import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { SignJWT } from 'jose';
import { buildTestApp, TEST_SECRET_KEY, type TestApp } from '../helpers/app.js';
import { databaseKinds } from '../helpers/databases.js';
import { insertLegacyUser } from '../helpers/legacy.js';
import { bearer, register } from '../helpers/requests.js';

const key = new TextEncoder().encode(TEST_SECRET_KEY);
const seconds = (date: Date) => Math.floor(date.getTime() / 1000);

/** An HS256 token with exactly the claims given (the Python service's carry only `sub` and `exp`). */
const token = (claims: Record<string, unknown>) => new SignJWT(claims).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).sign(key);

for (const kind of await databaseKinds()) {
  describe(`access-token lifetime on ${kind} (issue 12, point 9)`, () => {
    let ctx: TestApp & { close(): Promise<void> };
    before(async () => {
      ctx = await buildTestApp(kind);
    });
    after(() => ctx.close());
    const status = async (jwt: string) => (await ctx.app.inject({ url: '/user/user', headers: bearer(jwt) })).statusCode;

    test('a token whose exp lies further ahead than ACCESS_TOKEN_EXPIRE_MINUTES plus a minute is refused', async () => {
      const user = await register(ctx.app);
      const now = seconds(ctx.clock.now());
      assert.equal(await status(await token({ sub: user.username, exp: now + 1000 * 365 * 86400 })), 401, 'a thousand years');
      assert.equal(await status(await token({ sub: user.username, uid: user.id, iat: now, exp: now + 1800 + 120 })), 401, 'two minutes too long');
      assert.equal(await status(await token({ sub: user.username, uid: user.id, iat: now, exp: now + 1800 + 30 })), 200, 'within the leeway');
    });

    test('a token issued in the future is refused', async () => {
      const user = await register(ctx.app);
      const now = seconds(ctx.clock.now());
      assert.equal(await status(await token({ sub: user.username, uid: user.id, iat: now + 3600, exp: now + 600 })), 401);
      assert.equal(await status(await token({ sub: user.username, uid: user.id, iat: now + 30, exp: now + 600 })), 200, 'clock skew within the leeway');
    });

    test('the Python service’s tokens (10 to 30 minutes, no iat) still pass', async () => {
      const user = await insertLegacyUser(ctx.database.handle.db);
      const now = seconds(ctx.clock.now());
      for (const minutes of [10, 15, 30]) assert.equal(await status(await token({ sub: user.username, exp: now + minutes * 60 })), 200, `${minutes} minutes`);
    });
  });
}
