import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KeyedGate } from '../../src/keyed-gate.js';

const refused = () => new Error('refused');

test('a key runs at most `concurrency` tasks at once; the rest wait their turn, in order', async () => {
  const gate = new KeyedGate({ concurrency: 2, maxWaiting: 10, waitMs: 60_000 });
  let running = 0;
  let most = 0;
  const order: number[] = [];
  const task = (i: number) => async () => {
    running++;
    most = Math.max(most, running);
    await new Promise((resolve) => setImmediate(resolve));
    running--;
    order.push(i);
    return i;
  };
  const results = await Promise.all([0, 1, 2, 3, 4].map((i) => gate.run('alice', task(i), refused)));
  assert.deepEqual(results, [0, 1, 2, 3, 4]);
  assert.equal(most, 2);
  assert.deepEqual(await gate.run('bob', task(9), refused), 9, 'other keys are not held up');
  assert.equal(gate.size, 0, 'idle keys are forgotten');
});

test('past the bounded queue, or past the deadline, a waiter is refused', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const gate = new KeyedGate({ concurrency: 1, maxWaiting: 1, waitMs: 5000 });
  let release!: () => void;
  const started = new Promise<void>((resolve) => {
    void gate.run('alice', () => new Promise<void>((done) => ((release = done), resolve())), refused);
  });
  await started;
  const waiting = gate.run('alice', async () => 'ran', refused);
  const overflow = gate.run('alice', async () => 'ran', refused);
  await assert.rejects(overflow, /refused/, 'the queue was full');
  t.mock.timers.tick(5001);
  await assert.rejects(waiting, /refused/, 'the deadline passed');
  release();
  assert.equal(await gate.run('alice', async () => 'ran', refused), 'ran', 'the key is free again');
});
