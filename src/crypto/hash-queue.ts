import { availableParallelism } from 'node:os';
import { DomainError } from '../errors.js';

export interface HashQueue {
  /** Runs `task` when a slot is free; refuses at once (SERVICE_BUSY) when `limit` tasks are already in. */
  run<T>(task: () => Promise<T>): Promise<T>;
}

export interface HashQueueOptions {
  /** Running plus waiting tasks before new ones are refused. */
  limit: number;
  /**
   * Tasks hashing at once. More than the cores only time-slices them (each takes longer, none finishes
   * sooner); capped at libuv's default pool of 4, and below it on small machines, so file-system, DNS and
   * zlib work is never stuck behind a wall of hashes.
   */
  concurrency?: number;
}

/** First guess of one hash's duration, until real ones are measured (bcrypt cost 12 on one core). */
const INITIAL_ESTIMATE_MS = 250;

/**
 * Bounds the work waiting for the hasher. Without a bound, a burst of logins makes every request wait for
 * all the hashes queued before it and latency grows without limit; with one, the excess is told at once
 * to come back (503 + Retry-After) and the requests let in keep a predictable latency.
 * @see OWASP Denial of Service Cheat Sheet (bound queues, fail fast)
 */
export function createHashQueue(options: HashQueueOptions): HashQueue {
  const concurrency = options.concurrency ?? Math.min(availableParallelism(), 4);
  const waiting: (() => void)[] = [];
  let running = 0;
  let averageMs = INITIAL_ESTIMATE_MS;

  // A finishing task hands its slot straight to the next waiter, so no newcomer can slip in between.
  const release = () => {
    const next = waiting.shift();
    if (next) next();
    else running -= 1;
  };

  return {
    async run(task) {
      if (running + waiting.length >= options.limit) {
        // Time for everything already in to drain through the running slots.
        const drainSeconds = ((running + waiting.length) * averageMs) / concurrency / 1000;
        throw new DomainError('SERVICE_BUSY', { retryAfterSeconds: Math.max(1, Math.ceil(drainSeconds)) });
      }
      if (running < concurrency) running += 1;
      else await new Promise<void>((resolve) => waiting.push(resolve));
      const started = performance.now();
      try {
        return await task();
      } finally {
        averageMs = 0.8 * averageMs + 0.2 * (performance.now() - started);
        release();
      }
    },
  };
}
