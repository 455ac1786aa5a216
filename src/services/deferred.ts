import type { Log } from '../logging.js';
import type { DeferredWork } from './deps.js';

/**
 * Tasks waiting or running at once. A flood of forgot-password requests must not grow memory without
 * bound: past this, new tasks are dropped (logged). The answers stay the same either way, so dropping
 * reveals nothing about any address.
 */
export const DEFERRED_LIMIT = 256;

export function createDeferredWork(log: Log, limit = DEFERRED_LIMIT): DeferredWork {
  const pending = new Set<Promise<unknown>>();
  return {
    run(name, task) {
      if (pending.size >= limit) {
        log.warn({ pending: pending.size }, `${name} dropped: too much deferred work under way`);
        return;
      }
      const done = new Promise<void>((resolve) => setImmediate(resolve))
        .then(task)
        .catch((error: unknown) => log.warn({ err: error }, `${name} failed`))
        .finally(() => pending.delete(done));
      pending.add(done);
    },
    async settled() {
      while (pending.size > 0) await Promise.all(pending);
    },
  };
}
