import type { Log } from './deps.js';

/**
 * Work a request starts but does not wait for. The enumeration-safe endpoints (forgot-password,
 * request-verify-token) answer first and only then look the address up, so neither the answer nor its
 * timing can depend on whether the account exists.
 */
export interface DeferredWork {
  /** Runs `task` after the current turn of the event loop (after the reply is on its way); failures are logged. */
  run(name: string, task: () => Promise<unknown>): void;
  /** Resolves when every task started so far has finished (shutdown, tests). */
  settled(): Promise<void>;
}

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
