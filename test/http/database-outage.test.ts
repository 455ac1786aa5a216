import assert from 'node:assert/strict';
import { test } from 'node:test';
import { drizzle } from 'drizzle-orm/node-postgres';
import pg from 'pg';
import { buildApp } from '../../src/app.js';
import { FakeClock } from '../../src/clock.js';
import { loadConfig } from '../../src/config.js';
import type { Database } from '../../src/db/client.js';
import { isDatabaseUnavailable } from '../../src/db/unavailable.js';
import * as schema from '../../src/db/schema.js';
import { freePort } from '../e2e/helpers.js';
import { TEST_SECRET_KEY, useManagementApp } from '../helpers/app.js';
import { form } from '../helpers/requests.js';

/** The real application on a PostgreSQL pool whose server is not there (nothing listens on the port). */
async function appWithoutDatabase(t: import('node:test').TestContext) {
  const pool = new pg.Pool({ connectionString: `postgresql://postgres@127.0.0.1:${await freePort()}/none`, connectionTimeoutMillis: 2000 });
  pool.on('error', () => {});
  t.after(() => pool.end());
  const config = loadConfig({ BCRYPT_ROUNDS: '4', RATE_LIMIT_ENABLED: 'false', MAX_EVENT_LOOP_DELAY_MS: '0' });
  const db = drizzle(pool, { schema }) as unknown as Database;
  const app = await buildApp({ config, db, secretKey: TEST_SECRET_KEY, clock: new FakeClock(Date.now()) });
  t.after(() => app.close());
  return app;
}

test('with the database down, every request that needs it is 503 {"detail"} with Retry-After, never 500; liveness stays 200', async (t) => {
  const app = await appWithoutDatabase(t);
  const requests = [
    { method: 'POST' as const, url: '/user/register', ...form({ username: 'outage', email: 'outage@example.com', password: 'correct-horse-1' }) },
    { method: 'POST' as const, url: '/user/token', ...form({ username: 'outage', password: 'correct-horse-1' }) },
    { method: 'POST' as const, url: '/user/token/refresh', ...form({ refresh_token: 'x'.repeat(43) }) },
  ];
  for (const request of requests) {
    const res = await app.inject(request);
    assert.equal(res.statusCode, 503, `${request.url}: ${res.body}`);
    assert.equal(res.headers['retry-after'], '5');
    assert.deepEqual(res.json(), { detail: 'The database is unavailable; try again shortly' });
  }
  const readyz = await app.inject({ url: '/readyz' });
  assert.equal(readyz.statusCode, 503);
  assert.ok(Number(readyz.headers['retry-after']) > 0);
  assert.equal((await app.inject({ url: '/healthz' })).statusCode, 200);

  const management = await useManagementApp(t, app);
  assert.equal((await management.inject({ url: '/readyz' })).statusCode, 503);
  assert.equal((await management.inject({ url: '/healthz' })).statusCode, 200);
});

test('what counts as "the database is unavailable", and what does not', () => {
  const wrapped = (cause: unknown) => Object.assign(new Error('Failed query: select 1'), { cause });
  assert.ok(isDatabaseUnavailable(wrapped(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }))));
  assert.ok(isDatabaseUnavailable(wrapped(Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' }))));
  assert.ok(isDatabaseUnavailable(wrapped(Object.assign(new Error('the database system is starting up'), { code: '57P03' }))));
  assert.ok(isDatabaseUnavailable(wrapped(new Error('Connection terminated unexpectedly'))));
  assert.ok(isDatabaseUnavailable(new AggregateError([Object.assign(new Error('refused'), { code: 'ECONNREFUSED' })])));
  assert.equal(isDatabaseUnavailable(wrapped(Object.assign(new Error('duplicate key'), { code: '23505' }))), false);
  assert.equal(isDatabaseUnavailable(wrapped(Object.assign(new Error('syntax error'), { code: '42601' }))), false);
  assert.equal(isDatabaseUnavailable(new Error('Connection terminated')), false, 'our own pool.end() is not an outage');
});
