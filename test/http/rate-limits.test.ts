import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { buildApp } from '../../src/app.js';
import { loggerOptions } from '../../src/logging.js';
import { buildTestApp, TEST_SECRET_KEY, useManagementApp } from '../helpers/app.js';
import { databaseKinds } from '../helpers/databases.js';
import { redisSkipReason, TEST_REDIS_URL } from '../helpers/redis.js';
import { form, register, uniqueName } from '../helpers/requests.js';

// Asked before any test is declared: once tests run, they may keep the event loop too busy to answer.
const redisSkip = await redisSkipReason();

const LIMITS = { RATE_LIMIT_ENABLED: 'true', RATE_LIMIT_LOGIN_PER_IP: '3', RATE_LIMIT_LOGIN_PER_ACCOUNT: '100', RATE_LIMIT_REGISTER_PER_IP: '2' };

const login = (app: Awaited<ReturnType<typeof buildTestApp>>['app'], username: string, headers: Record<string, string> = {}) =>
  app.inject({ method: 'POST', url: '/user/token', ...form({ username, password: 'whatever-pass' }), headers: { ...form({}).headers, ...headers } });

for (const kind of await databaseKinds()) {
  describe(`rate limits (in memory) on ${kind}`, () => {
    test('per IP: over the budget is 429 with Retry-After and a detail', async (t) => {
      const ctx = await buildTestApp(kind, LIMITS);
      t.after(() => ctx.close());
      const codes = [];
      for (let i = 0; i < 4; i++) codes.push((await login(ctx.app, uniqueName())).statusCode);
      assert.deepEqual(codes, [401, 401, 401, 429]);
      const limited = await login(ctx.app, uniqueName());
      assert.equal(limited.statusCode, 429);
      assert.ok(Number(limited.headers['retry-after']) > 0);
      assert.deepEqual(limited.json(), { detail: 'Too many requests; try again later' });

      const reg = (i: number) => ctx.app.inject({ method: 'POST', url: '/user/register', ...form({ username: `r${i}_${uniqueName()}`, email: `r${i}@example.com`, password: 'password-1' }) });
      assert.deepEqual([(await reg(1)).statusCode, (await reg(2)).statusCode, (await reg(3)).statusCode], [201, 201, 429]);
    });

    test('the budget comes back when the window has passed', async (t) => {
      // The in-memory store reads Date.now(); a mocked Date moves its window without sleeping.
      t.mock.timers.enable({ apis: ['Date'], now: Date.now() });
      const ctx = await buildTestApp(kind, { ...LIMITS, RATE_LIMIT_WINDOW_SECONDS: '60' });
      t.after(() => ctx.close());
      const codes = [];
      for (let i = 0; i < 4; i++) codes.push((await login(ctx.app, uniqueName())).statusCode);
      assert.deepEqual(codes, [401, 401, 401, 429]);
      t.mock.timers.tick(30_000);
      const halfway = await login(ctx.app, uniqueName());
      assert.equal(halfway.statusCode, 429);
      assert.equal(halfway.headers['retry-after'], '30');
      t.mock.timers.tick(30_000);
      assert.equal((await login(ctx.app, uniqueName())).statusCode, 401);
    });

    test('per account: one username is limited while others are not', async (t) => {
      const ctx = await buildTestApp(kind, { ...LIMITS, RATE_LIMIT_LOGIN_PER_IP: '100', RATE_LIMIT_LOGIN_PER_ACCOUNT: '2' });
      t.after(() => ctx.close());
      const target = uniqueName('target');
      const codes = [];
      for (let i = 0; i < 3; i++) codes.push((await login(ctx.app, i === 1 ? target.toUpperCase() : target)).statusCode);
      assert.deepEqual(codes, [401, 401, 429]);
      assert.equal((await login(ctx.app, uniqueName())).statusCode, 401);
    });

    test('X-Forwarded-For is ignored unless TRUST_PROXY says so', async (t) => {
      const untrusting = await buildTestApp(kind, LIMITS);
      t.after(() => untrusting.close());
      const codes = [];
      for (let i = 0; i < 4; i++) codes.push((await login(untrusting.app, uniqueName(), { 'x-forwarded-for': `203.0.113.${i}` })).statusCode);
      assert.equal(codes[3], 429, 'spoofed addresses do not buy a new budget');

      const trusting = await buildTestApp(kind, { ...LIMITS, TRUST_PROXY: 'true' });
      t.after(() => trusting.close());
      for (let i = 0; i < 6; i++) assert.equal((await login(trusting.app, uniqueName(), { 'x-forwarded-for': `203.0.113.${i}` })).statusCode, 401);
    });
  });
}

describe('rate limits shared through Redis', () => {
  test('two instances share one budget in the Redis at 127.0.0.1:6379', { skip: redisSkip }, async (t) => {
    const env = { ...LIMITS, REDIS_URL: TEST_REDIS_URL, RATE_LIMIT_REDIS_PREFIX: `test:${randomBytes(6).toString('hex')}:` };
    const first = await buildTestApp('pglite', env);
    t.after(() => first.close());
    const second = await buildApp({ config: first.config, db: first.database.handle.db, secretKey: TEST_SECRET_KEY, clock: first.clock });
    t.after(() => second.close());
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal((await login(first.app, uniqueName())).statusCode, 401);
    assert.equal((await login(second, uniqueName())).statusCode, 401);
    assert.equal((await login(first.app, uniqueName())).statusCode, 401);
    assert.equal((await login(second, uniqueName())).statusCode, 429);
  });

  test('with Redis down, requests are let through (fail open), logged and counted — login still checks passwords', async (t) => {
    const lines: string[] = [];
    const logger = loggerOptions({ logLevel: 'info' }, { write: (line: string) => void lines.push(line) });
    const ctx = await buildTestApp('pglite', { ...LIMITS, REDIS_URL: 'redis://127.0.0.1:1' }, { logger });
    t.after(() => ctx.close());
    const user = await register(ctx.app);
    for (let i = 0; i < 5; i++) assert.equal((await login(ctx.app, uniqueName())).statusCode, 401);
    const ok = await ctx.app.inject({ method: 'POST', url: '/user/token', ...form({ username: user.username, password: user.password }) });
    assert.equal(ok.statusCode, 200);
    const metrics = await (await useManagementApp(t, ctx.app)).inject({ url: '/metrics' });
    const errors = Number(/^rate_limit_store_errors_total (\d+)/m.exec(metrics.body)?.[1]);
    assert.ok(errors >= 6, `store errors counted: ${errors}`);
    const warnings = () => lines.map((line) => JSON.parse(line)).filter((e) => e.msg === 'rate-limit store unavailable: requests let through');
    assert.equal(warnings().length, 1, 'one line a minute, not one per request');
    ctx.clock.advance(61_000);
    assert.equal((await login(ctx.app, uniqueName())).statusCode, 401);
    assert.equal(warnings().length, 2);
    assert.ok(warnings()[1].requests >= 5, 'the next line counts the requests since the last');
  });
});
