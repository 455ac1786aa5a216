import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { sql } from 'drizzle-orm';
import { useTestApp } from '../helpers/app.js';
import { databaseKinds, selectRows } from '../helpers/databases.js';
import { form, uniqueName } from '../helpers/requests.js';

const LIMITS = { RATE_LIMIT_ENABLED: 'true', RATE_LIMIT_LOGIN_PER_IP: '3', RATE_LIMIT_LOGIN_PER_ACCOUNT: '100', TRUST_PROXY: 'true' };

for (const kind of await databaseKinds()) {
  describe(`client addresses behind a trusted proxy on ${kind} (issue 12, point 4)`, () => {
    const attempt = (app: Awaited<ReturnType<typeof useTestApp>>['app'], forwardedFor: string) =>
      app.inject({
        method: 'POST',
        url: '/user/token',
        ...form({ username: uniqueName('ghost'), password: 'wrong-password' }),
        headers: { ...form({}).headers, 'x-forwarded-for': forwardedFor },
      });

    test('one IPv4 client written three ways has one budget, and is recorded as written canonically', async (t) => {
      const ctx = await useTestApp(t, kind, LIMITS);
      const codes = [];
      for (const address of ['203.0.113.5', '::ffff:203.0.113.5', '::FFFF:cb00:7105', '203.0.113.5']) codes.push((await attempt(ctx.app, address)).statusCode);
      assert.deepEqual(codes, [401, 401, 401, 429]);
      const ips = await selectRows(ctx.database.handle.db, sql`select distinct ip from audit_events`);
      assert.deepEqual(ips, [{ ip: '203.0.113.5' }]);
    });

    test('every address of an IPv6 /64 shares one budget (RATE_LIMIT_IPV6_PREFIX); another /64 has its own', async (t) => {
      const ctx = await useTestApp(t, kind, LIMITS);
      const codes = [];
      for (const address of ['2001:db8:1:2::1', '2001:db8:1:2:ffff::9', '2001:DB8:1:2:0:0:0:3', '2001:db8:1:2:abcd:1234:5678:9']) {
        codes.push((await attempt(ctx.app, address)).statusCode);
      }
      assert.deepEqual(codes, [401, 401, 401, 429]);
      assert.equal((await attempt(ctx.app, '2001:db8:1:3::1')).statusCode, 401);

      const wide = await useTestApp(t, kind, { ...LIMITS, RATE_LIMIT_IPV6_PREFIX: '48' });
      const wideCodes = [];
      for (const address of ['2001:db8:1:2::1', '2001:db8:1:3::1', '2001:db8:1:ffff::1', '2001:db8:1:4::1']) wideCodes.push((await attempt(wide.app, address)).statusCode);
      assert.deepEqual(wideCodes, [401, 401, 401, 429]);
    });
  });
}
