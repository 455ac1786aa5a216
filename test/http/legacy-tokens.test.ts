import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sql } from 'drizzle-orm';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { databaseKinds } from '../helpers/databases.js';
import { insertLegacyUser, pythonStyleToken } from '../helpers/legacy.js';
import { bearer, login, register, uniqueName } from '../helpers/requests.js';

for (const kind of await databaseKinds()) {
  describe(`tokens of the Python service (sub only) on ${kind} (issue 12, point 3)`, () => {
    let ctx: TestApp & { close(): Promise<void> };
    before(async () => {
      ctx = await buildTestApp(kind);
    });
    after(() => ctx.close());
    const profile = (token: string) => ctx.app.inject({ url: '/user/user', headers: bearer(token) });

    test('an old token never speaks for the next owner of its name, whatever the case', async () => {
      const name = uniqueName('reused');
      const { id } = await insertLegacyUser(ctx.database.handle.db, name);
      const old = await pythonStyleToken(ctx.clock.now(), name);
      assert.equal((await profile(old)).statusCode, 200, 'valid for the account it was issued for');
      await ctx.database.handle.db.execute(sql`delete from users where id = ${id}`);
      ctx.clock.advance(5000);
      const newcomer = await register(ctx.app, name.toUpperCase());
      const res = await profile(old);
      assert.equal(res.statusCode, 401, res.body);
      const { access_token } = await login(ctx.app, newcomer.username, newcomer.password);
      assert.equal((await profile(access_token)).statusCode, 200, 'the newcomer’s own tokens work');
    });

    test('an account made here accepts no token without iat (nothing ties it to this account)', async () => {
      const user = await register(ctx.app);
      ctx.clock.advance(5000);
      assert.equal((await profile(await pythonStyleToken(ctx.clock.now(), user.username))).statusCode, 401);
    });

    test('accounts the Python service made keep accepting its tokens', async () => {
      const legacy = await insertLegacyUser(ctx.database.handle.db);
      const res = await profile(await pythonStyleToken(ctx.clock.now(), legacy.username));
      assert.equal(res.statusCode, 200);
      assert.equal(res.json().id, legacy.id);
    });
  });
}
