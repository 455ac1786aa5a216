import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createDeferredWork } from '../../src/services/deferred.js';

test('deferred work runs after the current turn, is awaited by settled(), logs failures, and is bounded', async () => {
  const warnings: string[] = [];
  const log = { info: () => {}, warn: (_details: object, message: string) => void warnings.push(message) };
  const work = createDeferredWork(log, 2);
  const ran: string[] = [];
  work.run('a', async () => void ran.push('a'));
  work.run('b', async () => {
    throw new Error('boom');
  });
  work.run('c', async () => void ran.push('c'));
  assert.equal(ran.length, 0, 'nothing runs before the caller has returned');
  await work.settled();
  assert.deepEqual(ran, ['a']);
  assert.deepEqual(warnings, ['c dropped: too much deferred work under way', 'b failed']);
  work.run('d', async () => void ran.push('d'));
  await work.settled();
  assert.deepEqual(ran, ['a', 'd'], 'room again once the earlier tasks finished');
});
