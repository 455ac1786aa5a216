import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import bcrypt from 'bcrypt';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { databaseKinds } from '../helpers/databases.js';
import { bearer, form, login, register, uniqueName } from '../helpers/requests.js';

for (const kind of await databaseKinds()) {
  describe(`POST /user/token and /user/token/refresh on ${kind}`, () => {
    let ctx: TestApp & { close(): Promise<void> };
    before(async () => {
      ctx = await buildTestApp(kind);
    });
    after(() => ctx.close());

    const token = (fields: Record<string, string>) => ctx.app.inject({ method: 'POST', url: '/user/token', ...form(fields) });

    test('password grant by username returns a bearer token pair, uncacheable', async () => {
      const user = await register(ctx.app);
      const res = await token({ username: user.username, password: user.password });
      assert.equal(res.statusCode, 200);
      assert.equal(res.headers['cache-control'], 'no-store');
      const body = res.json();
      assert.equal(body.token_type, 'bearer');
      assert.equal(body.expires_in, 30 * 60);
      assert.equal(typeof body.access_token, 'string');
      assert.match(body.refresh_token, /^[A-Za-z0-9_-]{43}$/);
      const profile = await ctx.app.inject({ url: '/user/user', headers: bearer(body.access_token) });
      assert.deepEqual(profile.json(), { username: user.username, email: user.email, id: user.id, email_verified: false, mfa_enabled: false });
    });

    test('grant_type=password and an e-mail in any case as the username work too', async () => {
      const user = await register(ctx.app);
      const res = await token({ grant_type: 'password', username: user.email.toUpperCase(), password: user.password, scope: '' });
      assert.equal(res.statusCode, 200);
    });

    test('empty OAuth fields count as absent, as FastAPI reads forms (grant_type= logs in)', async () => {
      const user = await register(ctx.app);
      const res = await token({ grant_type: '', username: user.username, password: user.password, scope: '', client_id: '', client_secret: '' });
      assert.equal(res.statusCode, 200);
    });

    test('control characters in OAuth fields are a 422 naming the field', async () => {
      for (const field of ['grant_type', 'scope', 'client_id', 'client_secret']) {
        const res = await token({ username: 'someone', password: 'whatever-1', [field]: 'a\u0000b' });
        assert.equal(res.statusCode, 422, field);
        assert.deepEqual(res.json().detail, [{ loc: ['body', field], msg: 'String should contain only printable ASCII characters', type: 'string_pattern_mismatch' }]);
      }
    });

    test('wrong password and unknown user get the same 401 body and challenge', async () => {
      const user = await register(ctx.app);
      const wrong = await token({ username: user.username, password: 'not-the-password' });
      const unknown = await token({ username: uniqueName('ghost'), password: 'not-the-password' });
      for (const res of [wrong, unknown]) {
        assert.equal(res.statusCode, 401);
        assert.equal(res.headers['www-authenticate'], 'Bearer');
        assert.deepEqual(res.json(), { detail: 'Incorrect username or password', error: 'invalid_grant' });
      }
    });

    test('an unknown user costs the same bcrypt comparison as a wrong password (no timing oracle)', async (t) => {
      const user = await register(ctx.app);
      // The dummy hash is made at the first unknown login; after that an unknown login hashes nothing.
      await token({ username: uniqueName('ghost'), password: 'warm-up-password' });
      const compare = t.mock.method(bcrypt, 'compare');
      const hash = t.mock.method(bcrypt, 'hash');
      assert.equal((await token({ username: user.username, password: 'not-the-password' })).statusCode, 401);
      assert.equal((await token({ username: uniqueName('ghost'), password: 'not-the-password' })).statusCode, 401);
      const compared = compare.mock.calls.map((call) => [call.arguments[0], String(call.arguments[1]).slice(0, 7)]);
      assert.deepEqual(compared, [
        ['not-the-password', '$2b$04$'],
        ['not-the-password', '$2b$04$'],
      ]);
      assert.equal(hash.mock.callCount(), 0);
    });

    test('passwords that share their first 72 bytes (all bcrypt reads) are different passwords', async () => {
      const password = 'p'.repeat(72);
      const user = await register(ctx.app, uniqueName(), password);
      assert.equal((await token({ username: user.username, password })).statusCode, 200);
      assert.equal((await token({ username: user.username, password: `${password}extra` })).statusCode, 401);
      const longer = await register(ctx.app, uniqueName(), `${password}-one`);
      assert.equal((await token({ username: longer.username, password: `${password}-one` })).statusCode, 200);
      assert.equal((await token({ username: longer.username, password: `${password}-two` })).statusCode, 401);
      assert.equal((await token({ username: longer.username, password })).statusCode, 401);
    });

    test('unknown grant_type is 400 unsupported_grant_type', async () => {
      const res = await token({ grant_type: 'client_credentials' });
      assert.equal(res.statusCode, 400);
      assert.equal(res.json().error, 'unsupported_grant_type');
    });

    test('missing fields are 422 for each grant', async () => {
      const pw = await token({ username: 'someone' });
      assert.equal(pw.statusCode, 422);
      assert.deepEqual(pw.json().detail, [{ loc: ['body', 'password'], msg: 'Field required', type: 'missing' }]);
      const rt = await token({ grant_type: 'refresh_token' });
      assert.equal(rt.statusCode, 422);
      assert.deepEqual(rt.json().detail[0].loc, ['body', 'refresh_token']);
    });

    test('refresh tokens are single use, on both endpoints', async () => {
      const user = await register(ctx.app);
      const first = await login(ctx.app, user.username, user.password);
      const viaGrant = await token({ grant_type: 'refresh_token', refresh_token: first.refresh_token });
      assert.equal(viaGrant.statusCode, 200);
      assert.equal(viaGrant.headers['cache-control'], 'no-store');
      const second = viaGrant.json();
      assert.notEqual(second.refresh_token, first.refresh_token);

      const viaRefresh = await ctx.app.inject({
        method: 'POST',
        url: '/user/token/refresh',
        payload: { refresh_token: second.refresh_token },
      });
      assert.equal(viaRefresh.statusCode, 200);
      const profile = await ctx.app.inject({ url: '/user/user', headers: bearer(viaRefresh.json().access_token) });
      assert.equal(profile.json().username, user.username);
      ctx.clock.advance(11_000);
      const again = await ctx.app.inject({ method: 'POST', url: '/user/token/refresh', ...form({ refresh_token: second.refresh_token }) });
      assert.equal(again.statusCode, 401);
      assert.equal(again.json().error, 'invalid_grant');
    });

    test('an expired refresh token is refused', async () => {
      const user = await register(ctx.app);
      const pair = await login(ctx.app, user.username, user.password);
      ctx.clock.advance(7 * 86400 * 1000 + 1000);
      const res = await ctx.app.inject({ method: 'POST', url: '/user/token/refresh', ...form({ refresh_token: pair.refresh_token }) });
      assert.equal(res.statusCode, 401);
    });

    test('10 concurrent refreshes of one token: no 5xx, and all get the one successor (reuse interval)', async () => {
      const user = await register(ctx.app);
      const pair = await login(ctx.app, user.username, user.password);
      const responses = await Promise.all(
        Array.from({ length: 10 }, () =>
          ctx.app.inject({ method: 'POST', url: '/user/token/refresh', ...form({ refresh_token: pair.refresh_token }) }),
        ),
      );
      assert.deepEqual(responses.map((r) => r.statusCode), Array(10).fill(200));
      const successors = new Set(responses.map((r) => r.json().refresh_token));
      assert.equal(successors.size, 1);
      assert.ok(!successors.has(pair.refresh_token));
    });

    test('an access token is not a refresh token', async () => {
      const user = await register(ctx.app);
      const pair = await login(ctx.app, user.username, user.password);
      const res = await ctx.app.inject({ method: 'POST', url: '/user/token/refresh', ...form({ refresh_token: pair.access_token }) });
      assert.equal(res.statusCode, 401);
    });
  });
}
