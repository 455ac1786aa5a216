import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sql } from 'drizzle-orm';
import { buildTestApp, useTestApp, type TestApp } from '../helpers/app.js';
import { databaseKinds, selectRows } from '../helpers/databases.js';
import { form, register, uniqueName } from '../helpers/requests.js';

const PASSWORD = 'correct-horse-1';

/**
 * Spellings of one login name that PostgreSQL's lower() — the account lookup — takes as one, while
 * JavaScript's toLowerCase() may not: each row is [the stored name, another spelling].
 */
const CASE_PAIRS: [string, string][] = [
  ['alice', 'alİce'], // U+0130 LATIN CAPITAL LETTER I WITH DOT ABOVE: JS makes it i + U+0307
  ['alice', 'ALİCE'],
  ['kate', '\u212Aate'], // KELVIN SIGN
  ['straße', 'STRAẞE'], // U+1E9E LATIN CAPITAL LETTER SHARP S
  ['σοφια', 'ΣΟΦΙΑ'], // Σ → σ
  ['οδυσσευσ', 'ΟΔΥΣΣΕΥΣ'], // JS lowers the last Σ to the final form ς; PostgreSQL to σ
];

for (const kind of await databaseKinds()) {
  describe(`lockout keys follow the account lookup's lower() on ${kind} (issue 12, point 1)`, () => {
    let ctx: TestApp & { close(): Promise<void> };
    before(async () => {
      ctx = await buildTestApp(kind);
    });
    after(() => ctx.close());
    const attempt = (username: string, password: string, app = ctx.app) =>
      app.inject({ method: 'POST', url: '/user/token', ...form({ username, password }) });

    /** An account under `name` (the Python service allowed any letters; registration here allows ASCII only). */
    async function account(name: string) {
      const unique = `${name}_${uniqueName('u')}`;
      const hash = await ctx.app.deps.hasher.hash(PASSWORD);
      await ctx.database.handle.db.execute(sql`insert into users (username, email, hash_password) values (${unique}, ${`${uniqueName('e')}@example.com`}, ${hash})`);
      return unique;
    }

    test('every spelling the lookup takes as the account shares its lockout', async () => {
      for (const [stored, other] of CASE_PAIRS) {
        const name = await account(stored);
        const variant = name.replace(stored, other);
        const [matched] = await selectRows(ctx.database.handle.db, sql`select 1 from users where lower(username) = lower(${variant})`);
        assert.ok(matched, `the lookup takes ${variant} as ${name}`);
        assert.equal((await attempt(variant, PASSWORD)).statusCode, 200, `${variant} logs in as ${name}`);
        for (let i = 0; i < 5; i++) assert.equal((await attempt(i % 2 ? name : variant, 'wrong-password')).statusCode, 401);
        for (const spelling of [name, variant]) {
          assert.equal((await attempt(spelling, PASSWORD)).statusCode, 429, `${spelling} is locked with ${name}`);
        }
        ctx.clock.advance(61_000);
      }
    });

    test('the per-account request budget is shared by these spellings too', async (t) => {
      const limited = await useTestApp(t, kind, { RATE_LIMIT_ENABLED: 'true', RATE_LIMIT_LOGIN_PER_IP: '100', RATE_LIMIT_LOGIN_PER_ACCOUNT: '2' });
      const user = await register(limited.app, `alice_${uniqueName('r')}`);
      const codes = [];
      for (const spelling of [user.username, user.username.replace('alice', 'alİce'), user.username.replace('alice', 'ALİCE')]) {
        codes.push((await attempt(spelling, 'wrong-password', limited.app)).statusCode);
      }
      assert.deepEqual(codes, [401, 401, 429]);
    });
  });
}
