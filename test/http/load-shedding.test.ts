// test-runner: alone (it measures its own event-loop delay and waits for it to recover)
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { buildTestApp, useManagementApp } from '../helpers/app.js';
import { bearer, login, register } from '../helpers/requests.js';

/** Keeps the event loop busy, as a CPU-bound flood would. */
function blockEventLoop(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until);
}

test('an overloaded event loop sheds requests with 503 and Retry-After; liveness and metrics still answer; then it recovers', async (t) => {
  const ctx = await buildTestApp('pglite', { MAX_EVENT_LOOP_DELAY_MS: '10' });
  t.after(() => ctx.close());
  const user = await register(ctx.app);
  const { access_token } = await login(ctx.app, user.username, user.password);
  const profile = () => ctx.app.inject({ url: '/user/user', headers: bearer(access_token) });
  assert.equal((await profile()).statusCode, 200);

  // The sampler (once a second) then sees a mean delay far past 10 ms, whenever in its second this falls.
  blockEventLoop(2500);
  await sleep(50);
  const shed = await profile();
  assert.equal(shed.statusCode, 503);
  assert.equal(shed.headers['retry-after'], '2');
  assert.deepEqual(shed.json(), { detail: 'The service is busy; try again shortly' });
  assert.equal((await ctx.app.inject({ url: '/readyz' })).statusCode, 503, 'a load balancer routes around it');
  assert.equal((await ctx.app.inject({ url: '/healthz' })).statusCode, 200, 'it is alive');
  const metrics = await (await useManagementApp(t, ctx.app)).inject({ url: '/metrics' });
  assert.equal(metrics.statusCode, 200);
  assert.match(metrics.body, /^load_shed_total\{reason="eventLoopDelay"\} [1-9]/m);

  let recovered = false;
  for (let i = 0; i < 50 && !recovered; i++) {
    await sleep(100);
    recovered = (await profile()).statusCode === 200;
  }
  assert.ok(recovered, 'requests are served again once the event loop keeps up');
});

test('the OpenAPI document lists the 503 on every route that can be shed, and not on the exempt ones', async (t) => {
  const ctx = await buildTestApp('pglite');
  t.after(() => ctx.close());
  const spec = (await ctx.app.inject({ url: '/openapi.json' })).json();
  assert.ok(spec.paths['/user/user'].get.responses['503']);
  assert.ok(spec.paths['/oauth/introspect'].post.responses['503']);
  assert.equal(spec.paths['/healthz'].get.responses['503'], undefined);
});
