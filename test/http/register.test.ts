import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import bcrypt from 'bcrypt';
import { sql } from 'drizzle-orm';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { databaseKinds } from '../helpers/databases.js';
import { form, uniqueName } from '../helpers/requests.js';

async function countUsers(ctx: TestApp): Promise<number> {
  const result = (await ctx.database.handle.db.execute(sql`select count(*)::int as n from users`)) as unknown as {
    rows: { n: number }[];
  };
  return result.rows[0]!.n;
}

for (const kind of await databaseKinds()) {
  describe(`POST /user/register on ${kind}`, () => {
    let ctx: TestApp & { close(): Promise<void> };
    before(async () => {
      ctx = await buildTestApp(kind);
    });
    after(() => ctx.close());

    test('creates a user from a form and stores a $2b$ bcrypt hash, never the password', async () => {
      const username = uniqueName('Alice');
      const res = await ctx.app.inject({
        method: 'POST',
        url: '/user/register',
        ...form({ username, email: `${username}@Example.com`, password: 'correct-horse-1' }),
      });
      assert.equal(res.statusCode, 201);
      const body = res.json();
      assert.deepEqual(Object.keys(body).sort(), ['email', 'email_verified', 'id', 'username']);
      assert.equal(body.username, username);
      assert.equal(body.email, `${username}@Example.com`, 'email stored as given');
      const result = (await ctx.database.handle.db.execute(
        sql`select hash_password from users where id = ${body.id}`,
      )) as unknown as { rows: { hash_password: string }[] };
      assert.match(result.rows[0]!.hash_password, /^\$2b\$04\$/);
      assert.doesNotMatch(res.body, /correct-horse|\$2b\$/);
    });

    test('accepts JSON too', async () => {
      const username = uniqueName();
      const res = await ctx.app.inject({
        method: 'POST',
        url: '/user/register',
        payload: { username, email: `${username}@example.com`, password: 'correct-horse-1' },
      });
      assert.equal(res.statusCode, 201);
    });

    test('a duplicate username or email in any letter case is 409 "User already exists"', async () => {
      const username = uniqueName('Bob');
      const email = `${username}@example.com`;
      const first = await ctx.app.inject({ method: 'POST', url: '/user/register', ...form({ username, email, password: 'password-1' }) });
      assert.equal(first.statusCode, 201);
      for (const fields of [
        { username: username.toUpperCase(), email: `other.${email}` },
        { username: uniqueName(), email: email.toUpperCase() },
      ]) {
        const res = await ctx.app.inject({ method: 'POST', url: '/user/register', ...form({ ...fields, password: 'password-1' }) });
        assert.equal(res.statusCode, 409);
        assert.deepEqual(res.json(), { detail: 'User already exists' });
      }
    });

    test('a taken name gets its 409 only after the same bcrypt hash a success costs (no timing oracle)', async (t) => {
      const hash = t.mock.method(bcrypt, 'hash');
      const username = uniqueName('Twin');
      const signUp = (name: string) =>
        ctx.app.inject({ method: 'POST', url: '/user/register', ...form({ username: name, email: `${name}@example.com`, password: 'password-1' }) });
      assert.equal((await signUp(username)).statusCode, 201);
      assert.equal((await signUp(username.toUpperCase())).statusCode, 409);
      assert.deepEqual(
        hash.mock.calls.map((call) => call.arguments),
        [
          ['password-1', 4],
          ['password-1', 4],
        ],
        'one hash of the password at the configured cost, for the 201 and for the 409 alike',
      );
    });

    test('20 concurrent registrations of one username: exactly one 201, the rest 409', async () => {
      const username = uniqueName('race');
      const responses = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          ctx.app.inject({
            method: 'POST',
            url: '/user/register',
            ...form({ username, email: `${username}.${i}@example.com`, password: 'password-1' }),
          }),
        ),
      );
      const codes = responses.map((r) => r.statusCode).sort();
      assert.deepEqual(codes, [201, ...Array(19).fill(409)]);
    });

    const invalid: [string, Record<string, string>, string, string][] = [
      ['short username', { username: 'ab' }, 'username', 'string_too_short'],
      ['username with a space', { username: 'a b c' }, 'username', 'string_pattern_mismatch'],
      ['username with a NUL byte', { username: 'abc\u0000def' }, 'username', 'string_pattern_mismatch'],
      ['invalid email', { email: 'not-an-email' }, 'email', 'value_error'],
      ['short password', { password: 'short' }, 'password', 'string_too_short'],
      ['password with a control character', { password: 'password\u0007bell' }, 'password', 'string_pattern_mismatch'],
      ['password with a C1 control character', { password: 'Quokka-lantern-77\u0085' }, 'password', 'string_pattern_mismatch'],
      ['password over 128 characters', { password: 'é'.repeat(129) }, 'password', 'string_too_long'],
    ];
    for (const [name, override, field, type] of invalid) {
      test(`422 in FastAPI's shape and no row for: ${name}`, async () => {
        const username = uniqueName();
        const before = await countUsers(ctx);
        const fields = { username, email: `${username}@example.com`, password: 'password-1', ...override };
        const res = await ctx.app.inject({ method: 'POST', url: '/user/register', ...form(fields) });
        assert.equal(res.statusCode, 422, res.body);
        const errors = res.json().detail as { loc: string[]; msg: string; type: string }[];
        const error = errors.find((e) => e.loc[1] === field);
        assert.ok(error, res.body);
        assert.deepEqual(error.loc, ['body', field]);
        assert.equal(error.type, type);
        assert.ok(error.msg.length > 0);
        assert.equal(await countUsers(ctx), before);
      });
    }

    test('missing fields are each reported as "Field required"', async () => {
      const res = await ctx.app.inject({ method: 'POST', url: '/user/register', ...form({}) });
      assert.equal(res.statusCode, 422);
      const locs = (res.json().detail as { loc: string[]; type: string }[]).map((e) => [e.loc.join('.'), e.type]);
      assert.deepEqual(locs.sort(), [
        ['body.email', 'missing'],
        ['body.password', 'missing'],
        ['body.username', 'missing'],
      ]);
    });
  });
}
