import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sql } from 'drizzle-orm';
import { SignJWT, UnsecuredJWT } from 'jose';
import { buildTestApp, TEST_SECRET_KEY, type TestApp } from '../helpers/app.js';
import { databaseKinds } from '../helpers/databases.js';
import { insertLegacyUser } from '../helpers/legacy.js';
import { bearer, login, register } from '../helpers/requests.js';

const key = new TextEncoder().encode(TEST_SECRET_KEY);

/** A token made the way the Python service makes them: python-jose, HS256, only `sub` and `exp`. */
function seedStyleToken(now: Date, sub: string, expiresInSeconds = 1800, secret = key): Promise<string> {
  return new SignJWT({ sub, exp: Math.floor(now.getTime() / 1000) + expiresInSeconds })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .sign(secret);
}

for (const kind of await databaseKinds()) {
  describe(`GET /user/user on ${kind}`, () => {
    let ctx: TestApp & { close(): Promise<void> };
    before(async () => {
      ctx = await buildTestApp(kind);
    });
    after(() => ctx.close());

    const profile = (headers: Record<string, string> = {}) => ctx.app.inject({ url: '/user/user', headers });

    async function assertRejected(headers: Record<string, string>, challenge = 'Bearer error="invalid_token"') {
      const res = await profile(headers);
      assert.equal(res.statusCode, 401, res.body);
      assert.deepEqual(res.json(), { detail: 'Could not validate credentials' });
      assert.equal(res.headers['www-authenticate'], challenge);
    }

    test('the bearer scheme is case-insensitive', async () => {
      const user = await register(ctx.app);
      const { access_token } = await login(ctx.app, user.username, user.password);
      for (const scheme of ['Bearer', 'bearer', 'BEARER']) {
        const res = await profile({ authorization: `${scheme} ${access_token}` });
        assert.equal(res.statusCode, 200);
        assert.deepEqual(res.json(), { username: user.username, email: user.email, id: user.id, email_verified: false, mfa_enabled: false });
      }
    });

    test('our tokens carry sub, uid, sid, iat, exp and jti', async () => {
      const user = await register(ctx.app);
      const { access_token } = await login(ctx.app, user.username, user.password);
      const claims = JSON.parse(Buffer.from(access_token.split('.')[1]!, 'base64url').toString());
      assert.deepEqual(Object.keys(claims).sort(), ['exp', 'iat', 'jti', 'sid', 'sub', 'uid']);
      assert.equal(claims.sub, user.username);
      assert.equal(claims.uid, user.id);
      assert.equal(claims.exp - claims.iat, 1800);
    });

    test('a token made like the Python service’s is accepted (for an account it made)', async () => {
      const user = await insertLegacyUser(ctx.database.handle.db);
      const res = await profile(bearer(await seedStyleToken(ctx.clock.now(), user.username)));
      assert.equal(res.statusCode, 200);
      assert.equal(res.json().id, user.id);
    });

    test('no token: 401 with a bare Bearer challenge', async () => {
      await assertRejected({}, 'Bearer');
    });

    test('malformed header, tampered, expired, alg none and wrong-key tokens are rejected', async () => {
      const user = await register(ctx.app);
      const { access_token } = await login(ctx.app, user.username, user.password);
      const [header, payload, signature] = access_token.split('.') as [string, string, string];
      const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
      const forged = Buffer.from(JSON.stringify({ ...claims, sub: 'admin', uid: 1 })).toString('base64url');
      await assertRejected({ authorization: 'Basic dXNlcjpwYXNz' });
      await assertRejected({ authorization: 'Bearer' });
      await assertRejected({ authorization: `Bearer ${header}.${forged}.${signature}` });
      await assertRejected(bearer(`${access_token.slice(0, -2)}xx`));
      await assertRejected(bearer(await seedStyleToken(ctx.clock.now(), user.username, -10)));
      await assertRejected(bearer(new UnsecuredJWT({ sub: user.username, uid: user.id }).setExpirationTime('1h').encode()));
      await assertRejected(bearer(await seedStyleToken(ctx.clock.now(), user.username, 1800, new TextEncoder().encode('another-key-entirely-0123456789'))));
      const hs512 = await new SignJWT({ sub: user.username }).setProtectedHeader({ alg: 'HS512' }).setExpirationTime('1h').sign(key);
      await assertRejected(bearer(hs512));
      const noExp = await new SignJWT({ sub: user.username }).setProtectedHeader({ alg: 'HS256' }).sign(key);
      await assertRejected(bearer(noExp));
    });

    test('an access token stops working when it expires (fake clock)', async () => {
      const user = await register(ctx.app);
      const { access_token } = await login(ctx.app, user.username, user.password);
      ctx.clock.advance(29 * 60 * 1000);
      assert.equal((await profile(bearer(access_token))).statusCode, 200);
      ctx.clock.advance(2 * 60 * 1000);
      await assertRejected(bearer(access_token));
    });

    test('a refresh token, or a JWT declaring itself one, is not an access token', async () => {
      const user = await register(ctx.app);
      const { refresh_token } = await login(ctx.app, user.username, user.password);
      await assertRejected(bearer(refresh_token));
      const refreshJwt = await new SignJWT({ sub: user.username, type: 'refresh' })
        .setProtectedHeader({ alg: 'HS256' })
        .setExpirationTime('1h')
        .sign(key);
      await assertRejected(bearer(refreshJwt));
    });

    test('a valid token whose user no longer exists is 404 "User not found"', async () => {
      const user = await register(ctx.app);
      const { access_token } = await login(ctx.app, user.username, user.password);
      await ctx.database.handle.db.execute(sql`delete from users where id = ${user.id}`);
      const res = await profile(bearer(access_token));
      assert.equal(res.statusCode, 404, res.body);
      assert.deepEqual(res.json(), { detail: 'User not found' });
      const seedRes = await profile(bearer(await seedStyleToken(ctx.clock.now(), user.username)));
      assert.equal(seedRes.statusCode, 404, seedRes.body);
    });
  });
}
