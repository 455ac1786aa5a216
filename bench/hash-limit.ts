/**
 * The login limit of this machine: raw bcrypt verifications per second at the service's cost, one stream
 * per core (the native binding, on libuv's thread pool), with nothing else to do.
 * `node --import tsx bench/hash-limit.ts ROUNDS WARMUP_S DURATION_S` prints one JSON object.
 */
import { availableParallelism } from 'node:os';
import bcrypt from 'bcrypt';

const [rounds, warmup, duration] = process.argv.slice(2).map(Number) as [number, number, number];
const streams = availableParallelism();
const password = 'bench-password-1';
const hash = await bcrypt.hash(password, rounds);

const started = performance.now();
const windowStart = started + warmup * 1000;
const windowEnd = windowStart + duration * 1000;
let verified = 0;
const times: number[] = [];

async function stream(): Promise<void> {
  while (performance.now() < windowEnd) {
    const t = performance.now();
    if (!(await bcrypt.compare(password, hash))) throw new Error('bcrypt verification failed');
    const now = performance.now();
    if (now >= windowStart && now <= windowEnd) {
      verified += 1;
      times.push(now - t);
    }
  }
}

await Promise.all(Array.from({ length: streams }, stream));
const seconds = duration;
times.sort((a, b) => a - b);
process.stdout.write(
  `${JSON.stringify({ rounds, streams, seconds, verified, rps: verified / seconds, medianMs: times[Math.floor(times.length / 2)] ?? NaN })}\n`,
);
