import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import argon2 from '@node-rs/argon2';
import bcrypt from 'bcrypt';
import { sql } from 'drizzle-orm';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/app.js';
import { DomainError } from '../../src/errors.js';
import { loadConfig } from '../../src/config.js';
import { buildTestApp, TEST_SECRET_KEY, type TestApp } from '../helpers/app.js';
import { databaseKinds, selectRows } from '../helpers/databases.js';
import { form, login, register, uniqueName } from '../helpers/requests.js';

type Ctx = TestApp & { close(): Promise<void> };

/** passlib's bcrypt hash of "secret123" (cost 12), as the Python service stored it. */
const PASSLIB_SECRET123 = '$2b$12$BilYj29VSKT3TnuOe.D0RuRg39HVTn1SkBTjrZfP4T58BTl9SpOgq';

/** The cheapest argon2id the configuration allows, so the tests stay fast. */
const CHEAP_ARGON2 = { PASSWORD_HASH: 'argon2id', ARGON2_MEMORY_KIB: '1024', ARGON2_TIME_COST: '1' };

async function rows<T>(ctx: Ctx, statement: ReturnType<typeof sql>): Promise<T[]> {
  return selectRows<T>(ctx.database.handle.db, statement);
}

const storedHash = async (ctx: Ctx, username: string) =>
  (await rows<{ hash_password: string }>(ctx, sql`select hash_password from users where username = ${username}`))[0]!.hash_password;

/** A user row written as the Python service wrote it: only its columns, its hash. */
async function insertLegacyUser(ctx: Ctx, hash: string): Promise<string> {
  const username = uniqueName('legacy');
  await ctx.database.handle.db.execute(
    sql`insert into users (username, email, hash_password) values (${username}, ${`${username}@example.com`}, ${hash})`,
  );
  return username;
}

const attempt = (app: FastifyInstance, username: string, password: string) =>
  app.inject({ method: 'POST', url: '/user/token', ...form({ username, password }) });

/** The same database, served by an app with another configuration (a redeploy with new settings). */
async function redeploy(ctx: Ctx, env: Record<string, string>): Promise<FastifyInstance> {
  const config = loadConfig({ BCRYPT_ROUNDS: '4', RATE_LIMIT_ENABLED: 'false', ...env });
  return buildApp({ config, db: ctx.database.handle.db, secretKey: TEST_SECRET_KEY, clock: ctx.clock });
}

for (const kind of await databaseKinds()) {
  describe(`stored hashes move to the current policy at login on ${kind}`, () => {
    let argon: Ctx;
    let bcrypt4: Ctx;
    before(async () => {
      argon = await buildTestApp(kind, CHEAP_ARGON2);
      bcrypt4 = await buildTestApp(kind, { BCRYPT_ROUNDS: '4' });
    });
    after(async () => {
      await argon.close();
      await bcrypt4.close();
    });

    test('a passlib bcrypt hash becomes argon2id at the first successful login (PASSWORD_HASH=argon2id)', async () => {
      const ctx = argon;
      const username = await insertLegacyUser(ctx, PASSLIB_SECRET123);

      assert.equal((await attempt(ctx.app, username, 'secret124')).statusCode, 401);
      assert.equal(await storedHash(ctx, username), PASSLIB_SECRET123, 'a failed login upgrades nothing');

      await login(ctx.app, username, 'secret123');
      const upgraded = await storedHash(ctx, username);
      assert.match(upgraded, /^\$argon2id\$v=19\$m=1024,t=1,p=1\$/);

      await login(ctx.app, username, 'secret123');
      assert.equal(await storedHash(ctx, username), upgraded, 'a current hash is not re-made at every login');
      assert.equal((await attempt(ctx.app, username, 'secret124')).statusCode, 401);
      assert.equal((await attempt(ctx.app, username, 'SECRET123')).statusCode, 401);
    });

    test('under argon2id a failed login costs one bcrypt and one argon2id check, whatever the account holds or whether it exists', async (t) => {
      const ctx = argon;
      const legacy = await insertLegacyUser(ctx, PASSLIB_SECRET123);
      const current = await register(ctx.app);
      // The dummy hashes are made in the background at start-up; the first unknown login waits for them.
      await attempt(ctx.app, uniqueName('ghost'), 'warm-up-password');
      const bcryptChecks = t.mock.method(bcrypt, 'compare');
      const argon2Checks = t.mock.method(argon2, 'verify');
      for (const username of [uniqueName('ghost'), legacy, current.username]) {
        assert.equal((await attempt(ctx.app, username, 'not-the-password')).statusCode, 401);
        assert.equal(bcryptChecks.mock.callCount(), 1, username);
        assert.equal(argon2Checks.mock.callCount(), 1, username);
        bcryptChecks.mock.resetCalls();
        argon2Checks.mock.resetCalls();
      }
      assert.equal(await storedHash(ctx, legacy), PASSLIB_SECRET123);
    });

    test('PASSWORD_HASH=argon2id alone means OWASP’s parameters: m=19 MiB, t=2, p=1', async (t) => {
      const owasp = await redeploy(argon, { PASSWORD_HASH: 'argon2id' });
      t.after(() => owasp.close());
      const user = await register(owasp);
      assert.match(await storedHash(argon, user.username), /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
      await login(owasp, user.username, user.password);
    });

    test('a bcrypt hash of a lower cost is re-made at BCRYPT_ROUNDS', async (t) => {
      const ctx = bcrypt4;
      const user = await register(ctx.app);
      assert.match(await storedHash(ctx, user.username), /^\$2b\$04\$/);

      const stronger = await redeploy(ctx, { BCRYPT_ROUNDS: '5' });
      t.after(() => stronger.close());
      await login(stronger, user.username, user.password);
      const upgraded = await storedHash(ctx, user.username);
      assert.match(upgraded, /^\$2b\$05\$/);
      await login(stronger, user.username, user.password);
      assert.equal(await storedHash(ctx, user.username), upgraded);
      assert.equal((await attempt(stronger, user.username, 'not-the-password')).statusCode, 401);
    });

    test('a bcrypt hash of a higher cost is kept: a login never weakens a hash', async (t) => {
      const ctx = bcrypt4;
      const stronger = await redeploy(ctx, { BCRYPT_ROUNDS: '6' });
      t.after(() => stronger.close());
      const user = await register(stronger);
      const strong = await storedHash(ctx, user.username);
      assert.match(strong, /^\$2b\$06\$/);
      await login(ctx.app, user.username, user.password);
      assert.equal(await storedHash(ctx, user.username), strong);
    });

    test('an argon2id hash with other parameters is re-made with the configured ones', async (t) => {
      const ctx = argon;
      const user = await register(ctx.app);
      assert.match(await storedHash(ctx, user.username), /^\$argon2id\$v=19\$m=1024,t=1,/);

      const tuned = await redeploy(ctx, { ...CHEAP_ARGON2, ARGON2_MEMORY_KIB: '2048', ARGON2_TIME_COST: '2' });
      t.after(() => tuned.close());
      await login(tuned, user.username, user.password);
      assert.match(await storedHash(ctx, user.username), /^\$argon2id\$v=19\$m=2048,t=2,p=1\$/);
      await login(tuned, user.username, user.password);
    });

    test('a hash the Python service made from the password as typed is re-made from its NFKC form', async () => {
      const ctx = bcrypt4;
      const decomposed = 'cafe\u0301-au-lait-7';
      const composed = decomposed.normalize('NFKC');
      // passlib hashed the bytes it was given: no normalisation, so this is a hash of the decomposed form.
      const legacy = await bcrypt.hash(decomposed, 4);
      assert.equal(await bcrypt.compare(composed, legacy), false);
      const username = await insertLegacyUser(ctx, legacy);

      await login(ctx.app, username, decomposed);
      assert.equal(await bcrypt.compare(composed, await storedHash(ctx, username)), true, 'the new hash is of the NFKC form');
      await login(ctx.app, username, composed);
      await login(ctx.app, username, decomposed);
    });
  });

  describe(`the bounded hash queue (HASH_QUEUE_LIMIT) on ${kind}`, () => {
    // bcrypt cost 10 takes long enough (~0.1 s) that a burst is still arriving while the first hashes run.
    const BURST = 24;
    let ctx: Ctx;
    before(async () => {
      ctx = await buildTestApp(kind, { HASH_QUEUE_LIMIT: '2', BCRYPT_ROUNDS: '10' });
    });
    after(() => ctx.close());

    /**
     * Every answer is a success or a 503 that says when to come back; returns how many succeeded. With
     * `overflow`, the burst must also have hit the limit (it does whenever each request hashes at cost 10).
     */
    function assertSucceededOrBusy(
      responses: { statusCode: number; headers: Record<string, unknown>; json(): unknown }[],
      success: number,
      overflow = true,
    ) {
      const codes = responses.map((r) => r.statusCode);
      assert.ok(codes.every((c) => c === success || c === 503), `only ${success} or 503: ${codes.join(' ')}`);
      const busy = responses.filter((r) => r.statusCode === 503);
      if (overflow) assert.ok(busy.length > 0, 'the queue limit was reached');
      assert.ok(busy.length < responses.length, 'the requests let in were served');
      for (const res of busy) {
        assert.match(String(res.headers['retry-after']), /^[1-9]\d*$/);
        assert.deepEqual(res.json(), { detail: 'The service is busy; try again shortly' });
      }
      return responses.length - busy.length;
    }

    // One account each: concurrent logins under one name are held to the lockout threshold (lockout.test.ts).
    const legacyUsers = async (hash: string) => Promise.all(Array.from({ length: BURST }, () => insertLegacyUser(ctx, hash)));

    test('a burst of logins: some 503 with Retry-After, never a 500; the rest log in; no session or failure for a 503', async () => {
      const usernames = await legacyUsers(await bcrypt.hash('secret123', 10));
      const responses = await Promise.all(usernames.map((username) => attempt(ctx.app, username, 'secret123')));
      const succeeded = assertSucceededOrBusy(responses, 200);

      const [sessions] = await rows<{ n: number }>(ctx, sql`select count(*)::int as n from sessions`);
      assert.equal(sessions!.n, succeeded, 'one session per successful login, none for a 503');
      const failures = await rows<{ failures: number }>(ctx, sql`select failures from login_failures where failures > 0`);
      assert.deepEqual(failures, [], 'a 503 is not a failed login: it cannot lock the account');
      for (const username of usernames) await login(ctx.app, username, 'secret123');
    });

    test('a burst of registrations: a 503 creates no row', async () => {
      const before = await rows<{ n: number }>(ctx, sql`select count(*)::int as n from users`);
      const usernames = Array.from({ length: BURST }, () => uniqueName('burst'));
      const responses = await Promise.all(
        usernames.map((username) =>
          ctx.app.inject({ method: 'POST', url: '/user/register', ...form({ username, email: `${username}@example.com`, password: 'correct-horse-1' }) }),
        ),
      );
      const created = assertSucceededOrBusy(responses, 201);
      const stored = await rows<{ username: string }>(ctx, sql`select username from users`);
      assert.equal(stored.length, before[0]!.n + created);
      const refused = usernames.filter((_, i) => responses[i]!.statusCode === 503);
      assert.ok(refused.every((u) => !stored.some((row) => row.username === u)));
    });

    test('a hash upgrade refused as busy does not fail its login; the next login upgrades', async (t) => {
      const username = await insertLegacyUser(ctx, await bcrypt.hash('secret123', 4));
      // Forces the failure path: the queue refuses the upgrade's hash after the password was checked.
      const busy = t.mock.method(ctx.app.deps.hasher, 'hash', async () => {
        throw new DomainError('SERVICE_BUSY', { retryAfterSeconds: 1 });
      });
      await login(ctx.app, username, 'secret123');
      assert.equal(busy.mock.callCount(), 1, 'the upgrade was attempted');
      assert.match(await storedHash(ctx, username), /^\$2b\$04\$/, 'and left for later');
      busy.mock.restore();
      await login(ctx.app, username, 'secret123');
      assert.match(await storedHash(ctx, username), /^\$2b\$10\$/);
    });

    test('a burst of logins on outdated hashes: only 200 or 503, never a 500; a quiet login then upgrades', async () => {
      const usernames = await legacyUsers(await bcrypt.hash('secret123', 4));
      // Checking a cost-4 hash is quick, so whether this burst overflows depends on timing; the upgrades (at
      // cost 10) are what compete for the queue, and a refused upgrade must not fail its login.
      const responses = await Promise.all(usernames.map((username) => attempt(ctx.app, username, 'secret123')));
      assertSucceededOrBusy(responses, 200, false);
      for (const username of usernames) {
        await login(ctx.app, username, 'secret123');
        assert.match(await storedHash(ctx, username), /^\$2b\$10\$/);
      }
    });
  });
}
