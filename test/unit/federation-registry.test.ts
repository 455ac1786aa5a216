import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FakeClock } from '../../src/clock.js';
import { createProviderRegistry } from '../../src/services/federation/provider-registry.js';
import { startFakeIdp } from '../helpers/fake-idp.js';
import { freePort } from '../helpers/federation-idp.js';

test('a provider down at start-up is logged (no secret), left out, retried after a doubling backoff, and used once up', async (t) => {
  const port = await freePort();
  const clock = new FakeClock(Date.now());
  const warnings: { details: Record<string, unknown>; message: string }[] = [];
  const log = { info: () => undefined, warn: (details: object, message: string) => void warnings.push({ details: details as Record<string, unknown>, message }) };
  const settings = { name: 'corp', issuer: `http://127.0.0.1:${port}`, clientId: 'client', clientSecret: 'the-client-secret', label: 'Corp', scopes: 'openid email' };
  const registry = createProviderRegistry([settings], { clock, log });

  await registry.start();
  assert.equal(warnings.length, 1);
  assert.equal(warnings[0]!.details['provider'], 'corp');
  assert.equal(warnings[0]!.details['retryInSeconds'], 5);
  assert.equal(JSON.stringify(warnings).includes('the-client-secret'), false);
  assert.deepEqual(await registry.lookup('other'), { status: 'unknown' });
  // Inside the backoff: no new attempt.
  assert.equal((await registry.lookup('corp')).status, 'unavailable');
  assert.equal(warnings.length, 1);
  // Past it, still down: tried again, and the next wait is twice as long.
  clock.advance(5_000);
  const again = await registry.lookup('corp');
  assert.deepEqual(again, { status: 'unavailable', retryAfterSeconds: 10 });
  assert.equal(warnings.length, 2);

  const idp = await startFakeIdp('client', port);
  t.after(() => idp.close());
  clock.advance(10_000);
  const up = await registry.lookup('corp');
  assert.equal(up.status, 'ready');
  assert.deepEqual(registry.origins(), [`http://127.0.0.1:${port}`]);
});
