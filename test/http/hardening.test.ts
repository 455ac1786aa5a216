import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { describe, test } from 'node:test';
import { sql } from 'drizzle-orm';
import { pruneSecurityRecords } from '../../src/services/housekeeping.js';
import { buildTestApp } from '../helpers/app.js';
import { form, uniqueName } from '../helpers/requests.js';

describe('HTTP hardening', () => {
  test('CORS is off by default and allows only the configured origins', async (t) => {
    const closed = await buildTestApp('pglite');
    t.after(() => closed.close());
    const preflight = (app: typeof closed.app, origin: string) =>
      app.inject({ method: 'OPTIONS', url: '/user/token', headers: { origin, 'access-control-request-method': 'POST' } });
    assert.equal((await preflight(closed.app, 'https://app.example.com')).headers['access-control-allow-origin'], undefined);

    const open = await buildTestApp('pglite', { CORS_ORIGINS: 'https://app.example.com, https://admin.example.com' });
    t.after(() => open.close());
    assert.equal((await preflight(open.app, 'https://app.example.com')).headers['access-control-allow-origin'], 'https://app.example.com');
    assert.equal((await preflight(open.app, 'https://evil.example.com')).headers['access-control-allow-origin'], undefined);
  });

  test('security headers are set, X-Powered-By is not; constructor poisoning is refused', async (t) => {
    const ctx = await buildTestApp('pglite');
    t.after(() => ctx.close());
    const res = await ctx.app.inject({ url: '/' });
    assert.equal(res.headers['x-powered-by'], undefined);
    assert.equal(res.headers['x-content-type-options'], 'nosniff');
    assert.match(String(res.headers['content-security-policy']), /default-src 'self'/);
    const poisoned = await ctx.app.inject({
      method: 'POST',
      url: '/user/register',
      headers: { 'content-type': 'application/json' },
      payload: '{"constructor": {"prototype": {"polluted": true}}, "username": "abc"}',
    });
    assert.equal(poisoned.statusCode, 400);
  });

  test('a client that sends its headers or its body too slowly is cut off (REQUEST_TIMEOUT_SECONDS)', async (t) => {
    const ctx = await buildTestApp('pglite', { REQUEST_TIMEOUT_SECONDS: '1' });
    t.after(() => ctx.close());
    await ctx.app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = ctx.app.server.address() as { port: number };
    /** Sends `start` and then nothing; resolves with what the server answered once it closed the connection. */
    const stall = (start: string) =>
      new Promise<string>((resolve) => {
        const socket = connect(port, '127.0.0.1', () => socket.write(start));
        let data = '';
        socket.on('data', (chunk) => (data += chunk));
        socket.on('close', () => resolve(data));
      });
    const started = Date.now();
    const [headers, body] = await Promise.all([
      stall('POST /user/token HTTP/1.1\r\nHost: x\r\n'),
      stall('POST /user/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nusername=a'),
    ]);
    assert.ok(Date.now() - started < 10_000, 'connections closed by the server');
    assert.match(headers, /^HTTP\/1\.1 408|^$/);
    assert.match(body, /^HTTP\/1\.1 408|^$/);
  });

  test('pruning removes audit events past retention and stale failure counters, nothing newer', async (t) => {
    const ctx = await buildTestApp('pglite');
    t.after(() => ctx.close());
    const { db } = ctx.database.handle;
    for (let i = 0; i < 3; i++) {
      await ctx.app.inject({ method: 'POST', url: '/user/token', ...form({ username: uniqueName('ghost'), password: 'wrong-password' }) });
    }
    ctx.clock.advance(91 * 86400 * 1000);
    await ctx.app.inject({ method: 'POST', url: '/user/token', ...form({ username: uniqueName('ghost'), password: 'wrong-password' }) });
    const deleted = await pruneSecurityRecords(ctx.app.deps, 90);
    assert.deepEqual(deleted, { auditEvents: 3, loginFailures: 3 });
    const left = (await db.execute(sql`select count(*)::int as n from audit_events`)) as unknown as { rows: { n: number }[] };
    assert.equal(left.rows[0]!.n, 1);
  });
});
