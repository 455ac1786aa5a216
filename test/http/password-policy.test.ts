import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import bcrypt from 'bcrypt';
import { sql } from 'drizzle-orm';
import type { LightMyRequestResponse } from 'fastify';
import { buildApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { buildTestApp, TEST_SECRET_KEY, type TestApp } from '../helpers/app.js';
import { databaseKinds, selectRows } from '../helpers/databases.js';
import { bearer, form, login, register, uniqueName } from '../helpers/requests.js';

type Ctx = TestApp & { close(): Promise<void> };

/** NIST SP 800-63B §5.1.1.2, at registration and at password change, through HTTP. */

const COMPOSED = 'caf\u00e9-au-lait-7';
const DECOMPOSED = 'cafe\u0301-au-lait-7';
const FULL_WIDTH = 'Kaffee-\uff11\uff12\uff13\uff14\uff15\uff16';
const HALF_WIDTH = 'Kaffee-123456';
const SIXTY_FOUR = 'correct-horse-battery-staple-'.repeat(3).slice(0, 64);

async function query<T>(ctx: Ctx, statement: ReturnType<typeof sql>): Promise<T[]> {
  return selectRows<T>(ctx.database.handle.db, statement);
}

const countUsers = async (ctx: Ctx) => (await query<{ n: number }>(ctx, sql`select count(*)::int as n from users`))[0]!.n;

const storedHash = async (ctx: Ctx, username: string) =>
  (await query<{ hash_password: string }>(ctx, sql`select hash_password from users where username = ${username}`))[0]?.hash_password;

function registration(ctx: Ctx, password: string, username = uniqueName('policy')) {
  const email = `${username}@example.com`;
  return ctx.app.inject({ method: 'POST', url: '/user/register', ...form({ username, email, password }) });
}

/** The 422 names the field and the rule, in FastAPI's shape, and nothing else is wrong with the request. */
function assertRefused(res: LightMyRequestResponse, field: string, type: string, msg: RegExp): void {
  assert.equal(res.statusCode, 422, res.body);
  const { detail } = res.json() as { detail: { loc: unknown[]; msg: string; type: string }[] };
  assert.equal(detail.length, 1, res.body);
  assert.deepEqual(detail[0]!.loc, ['body', field]);
  assert.equal(detail[0]!.type, type);
  assert.match(detail[0]!.msg, msg);
}

/** A refused registration leaves no row behind. */
async function assertRegistrationRefused(ctx: Ctx, password: string, type: string, msg: RegExp, username = uniqueName('policy')) {
  const before = await countUsers(ctx);
  assertRefused(await registration(ctx, password, username), 'password', type, msg);
  assert.equal(await countUsers(ctx), before, 'no row was created');
  assert.equal(await storedHash(ctx, username), undefined);
}

for (const kind of await databaseKinds()) {
  describe(`password policy on ${kind}`, () => {
    let ctx: Ctx;
    before(async () => {
      ctx = await buildTestApp(kind);
    });
    after(() => ctx.close());

    describe('at registration', () => {
      test('8 characters are enough, 7 are not', async () => {
        assert.equal((await registration(ctx, 'Mg8-vy-T')).statusCode, 201);
        await assertRegistrationRefused(ctx, 'Mg8-vy-', 'string_too_short', /at least 8 characters/);
      });

      test('64 and 128 characters of any script are accepted and log in (past bcrypt’s 72 bytes too); 129 are refused', async () => {
        const user = await register(ctx.app, uniqueName('long'), SIXTY_FOUR);
        await login(ctx.app, user.username, SIXTY_FOUR);
        const password = 'Ünïcödé-пароль-密码-'.repeat(4).slice(0, 64);
        assert.ok(Buffer.byteLength(password) > 72);
        const cyrillic = await register(ctx.app, uniqueName('unicode'), password);
        assert.match((await storedHash(ctx, cyrillic.username))!, /^\$bcrypt-sha256\$v=2,t=2b,r=4\$/);
        await login(ctx.app, cyrillic.username, password);
        const longest = 'ж'.repeat(127) + '1';
        const full = await register(ctx.app, uniqueName('longest'), longest);
        await login(ctx.app, full.username, longest);
        await assertRegistrationRefused(ctx, `${longest}x`, 'string_too_long', /at most 128 characters/);
      });

      for (const common of ['password123', 'PassWord123', 'qwertyuiop', 'QWERTYUIOP', 'ｐａｓｓｗｏｒｄ１２３']) {
        test(`a common password is refused in any letter case or width: ${common}`, async () => {
          await assertRegistrationRefused(ctx, common, 'password_breached', /too common/);
        });
      }

      test('the username or the e-mail address as the password is refused, in any letter case or width', async () => {
        const username = uniqueName('Sameas');
        const fullWidth = [...username].map((c) => (/[A-Za-z0-9]/.test(c) ? String.fromCodePoint(c.codePointAt(0)! + 0xfee0) : c)).join('');
        await assertRegistrationRefused(ctx, username, 'password_equals_username', /the same as the username/, username);
        await assertRegistrationRefused(ctx, username.toUpperCase(), 'password_equals_username', /the same as the username/, username);
        await assertRegistrationRefused(ctx, fullWidth, 'password_equals_username', /the same as the username/, username);
        await assertRegistrationRefused(ctx, `${username}@EXAMPLE.com`, 'password_equals_email', /the same as the e-mail/, username);
      });

      test('NFKC: a composed or decomposed "é", full-width or ASCII digits, are the same password', async () => {
        for (const [registered, typed] of [
          [COMPOSED, DECOMPOSED],
          [DECOMPOSED, COMPOSED],
          [FULL_WIDTH, HALF_WIDTH],
          [HALF_WIDTH, FULL_WIDTH],
        ] as const) {
          const user = await register(ctx.app, uniqueName('nfkc'), registered);
          await login(ctx.app, user.username, typed);
          const near = await ctx.app.inject({ method: 'POST', url: '/user/token', ...form({ username: user.username, password: 'cafe-au-lait-7' }) });
          assert.equal(near.statusCode, 401, 'a different letter is still a different password');
        }
      });
    });

    describe('at PUT /user/update_password', () => {
      const change = (token: string, current: string, next: string) => {
        const body = form({ current_password: current, new_password: next });
        return ctx.app.inject({ method: 'PUT', url: '/user/update_password', payload: body.payload, headers: { ...body.headers, ...bearer(token) } });
      };

      test('a refused new password changes nothing: same hash, sessions alive, old password works', async () => {
        const user = await register(ctx.app, uniqueName('keeper'));
        const { access_token } = await login(ctx.app, user.username, user.password);
        const hash = await storedHash(ctx, user.username);
        const refusals: [string, string, RegExp][] = [
          ['Mg8-vy-', 'string_too_short', /at least 8 characters/],
          ['x'.repeat(129), 'string_too_long', /at most 128 characters/],
          ['password123', 'password_breached', /too common/],
          ['QWERTYUIOP', 'password_breached', /too common/],
          [user.username.toUpperCase(), 'password_equals_username', /the same as the username/],
          [user.email, 'password_equals_email', /the same as the e-mail/],
        ];
        for (const [next, type, msg] of refusals) {
          assertRefused(await change(access_token, user.password, next), 'new_password', type, msg);
        }
        assert.equal(await storedHash(ctx, user.username), hash);
        assert.equal((await ctx.app.inject({ url: '/user/user', headers: bearer(access_token) })).statusCode, 200);
        await login(ctx.app, user.username, user.password);
      });

      test('a 64-character new password is accepted; an NFKC-equivalent one logs in', async () => {
        const user = await register(ctx.app, uniqueName('changer'));
        const first = await login(ctx.app, user.username, user.password);
        assert.equal((await change(first.access_token, user.password, SIXTY_FOUR)).statusCode, 200);
        const second = await login(ctx.app, user.username, SIXTY_FOUR);
        assert.equal((await change(second.access_token, SIXTY_FOUR, FULL_WIDTH)).statusCode, 200);
        await login(ctx.app, user.username, HALF_WIDTH);
      });
    });
  });

  describe(`PASSWORD_MIN_LENGTH and argon2id on ${kind}`, () => {
    test('PASSWORD_MIN_LENGTH=12 refuses 11 characters (counted after NFKC) at registration and change', async (t) => {
      const ctx = await buildTestApp(kind, { PASSWORD_MIN_LENGTH: '12' });
      t.after(() => ctx.close());
      await assertRegistrationRefused(ctx, 'Mg8-vy-Tq-x', 'password_too_short', /at least 12 characters/);
      await assertRegistrationRefused(ctx, 'Kaffee-\uff11\uff12\uff13\uff14', 'password_too_short', /at least 12 characters/);
      const user = await register(ctx.app, uniqueName('twelve'), 'Mg8-vy-Tq-xy');
      const { access_token } = await login(ctx.app, user.username, user.password);
      const body = form({ current_password: user.password, new_password: 'Mg8-vy-Tq-z' });
      const res = await ctx.app.inject({ method: 'PUT', url: '/user/update_password', payload: body.payload, headers: { ...body.headers, ...bearer(access_token) } });
      assertRefused(res, 'new_password', 'password_too_short', /at least 12 characters/);
    });

    test('a login with a password that breaks today’s rules succeeds and says which rule (ASVS 5.0 6.2.4); others say nothing', async (t) => {
      const ctx = await buildTestApp(kind);
      t.after(() => ctx.close());
      const legacy = uniqueName('legacy');
      const hash = await bcrypt.hash('password123', 4);
      await ctx.database.handle.db.execute(sql`insert into users (username, email, hash_password) values (${legacy}, ${`${legacy}@example.com`}, ${hash})`);
      const weak = await ctx.app.inject({ method: 'POST', url: '/user/token', ...form({ username: legacy, password: 'password123' }) });
      assert.equal(weak.statusCode, 200);
      assert.deepEqual(weak.json().weak_password, {
        msg: 'Password is too common: it appears in lists of breached passwords; choose another',
        type: 'password_breached',
      });
      const audited = await query<{ weak: string }>(ctx, sql`select details->>'weakPassword' as weak from audit_events where type = 'login_succeeded' and details->>'weakPassword' is not null`);
      assert.deepEqual(audited, [{ weak: 'password_breached' }]);

      const user = await register(ctx.app);
      assert.equal('weak_password' in (await login(ctx.app, user.username, user.password)), false);
      const stricter = await buildApp({ config: loadConfig({ BCRYPT_ROUNDS: '4', RATE_LIMIT_ENABLED: 'false', PASSWORD_MIN_LENGTH: '20' }), db: ctx.database.handle.db, secretKey: TEST_SECRET_KEY, clock: ctx.clock });
      t.after(() => stricter.close());
      const short = await login(stricter, user.username, user.password);
      assert.deepEqual(short.weak_password, { msg: 'Password must be at least 20 characters', type: 'password_too_short' });
    });

    test('with PASSWORD_HASH=argon2id, 64 characters of any script are accepted whatever their UTF-8 length', async (t) => {
      const ctx = await buildTestApp(kind, { PASSWORD_HASH: 'argon2id', ARGON2_MEMORY_KIB: '1024', ARGON2_TIME_COST: '1' });
      t.after(() => ctx.close());
      const password = 'Ünïcödé-пароль-密码-'.repeat(4).slice(0, 64);
      assert.ok(Buffer.byteLength(password) > 72);
      const user = await register(ctx.app, uniqueName('argon'), password);
      assert.match((await storedHash(ctx, user.username))!, /^\$argon2id\$/);
      await login(ctx.app, user.username, password);
    });
  });
}
