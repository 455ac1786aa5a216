import assert from 'node:assert/strict';
import { test } from 'node:test';
import { useManagementApp, useTestApp } from '../helpers/app.js';
import { databaseKinds } from '../helpers/databases.js';
import { bearer, login, register } from '../helpers/requests.js';

for (const kind of await databaseKinds()) {
  test(`metrics are served by the management listener only; probes on both (${kind})`, async (t) => {
    const { app } = await useTestApp(t, kind);
    const management = await useManagementApp(t, app);
    const user = await register(app);
    const { access_token } = await login(app, user.username, user.password);
    assert.equal((await app.inject({ url: '/user/user', headers: bearer(access_token) })).statusCode, 200);

    const publicMetrics = await app.inject({ url: '/metrics' });
    assert.equal(publicMetrics.statusCode, 404, 'route latencies and process figures are not on the public port');
    assert.deepEqual(publicMetrics.json(), { detail: 'Not Found' });

    const metrics = await management.inject({ url: '/metrics' });
    assert.equal(metrics.statusCode, 200);
    assert.match(metrics.headers['content-type'] as string, /^text\/plain/);
    assert.match(metrics.body, /^http_request_duration_seconds_count\{method="GET",route="\/user\/user",status_code="200"\} 1$/m);
    assert.match(metrics.body, /^process_resident_memory_bytes /m);

    for (const target of [app, management]) {
      const healthz = await target.inject({ url: '/healthz' });
      assert.deepEqual([healthz.statusCode, healthz.json()], [200, { status: 'ok' }]);
      const readyz = await target.inject({ url: '/readyz' });
      assert.deepEqual([readyz.statusCode, readyz.json()], [200, { status: 'ok' }]);
    }
    assert.equal((await management.inject({ url: '/user/user' })).statusCode, 404, 'the API is not on the management port');
  });
}

test('the OpenAPI document no longer lists /metrics', async (t) => {
  const { app } = await useTestApp(t, 'pglite');
  const spec = (await app.inject({ url: '/openapi.json' })).json() as { paths: Record<string, unknown> };
  assert.equal(spec.paths['/metrics'], undefined);
});
