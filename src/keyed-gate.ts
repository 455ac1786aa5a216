interface Waiter {
  grant(): void;
}

interface Lane {
  running: number;
  waiting: Waiter[];
}

export interface KeyedGateOptions {
  /** Tasks of one key that may run at once. */
  concurrency: number;
  /** Tasks of one key that may wait for a turn; one more is refused at once. */
  maxWaiting: number;
  /** How long a task waits for its turn before it is refused. */
  waitMs: number;
}

/**
 * Per-key admission, in this process: at most `concurrency` tasks of a key run at once, a bounded number
 * wait their turn (first come, first served) until a deadline, and any more are refused. Memory is held
 * only for keys with a task running or waiting.
 */
export class KeyedGate {
  readonly #lanes = new Map<string, Lane>();
  constructor(private readonly options: KeyedGateOptions) {}

  /** Keys with a task running or waiting (for tests and metrics). */
  get size(): number {
    return this.#lanes.size;
  }

  async run<T>(key: string, task: () => Promise<T>, refusal: () => Error): Promise<T> {
    const lane = await this.#acquire(key, refusal);
    try {
      return await task();
    } finally {
      this.#release(key, lane);
    }
  }

  #acquire(key: string, refusal: () => Error): Promise<Lane> {
    let lane = this.#lanes.get(key);
    if (lane === undefined) {
      lane = { running: 0, waiting: [] };
      this.#lanes.set(key, lane);
    }
    if (lane.running < this.options.concurrency) {
      lane.running++;
      return Promise.resolve(lane);
    }
    if (lane.waiting.length >= this.options.maxWaiting) return Promise.reject(refusal());
    const queued = lane;
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        grant: () => {
          clearTimeout(timer);
          resolve(queued);
        },
      };
      const timer = setTimeout(() => {
        queued.waiting.splice(queued.waiting.indexOf(waiter), 1);
        reject(refusal());
      }, this.options.waitMs);
      queued.waiting.push(waiter);
    });
  }

  /** The slot goes straight to the next waiter, so a newcomer can never slip in between and exceed `concurrency`. */
  #release(key: string, lane: Lane): void {
    const next = lane.waiting.shift();
    if (next !== undefined) return next.grant();
    lane.running--;
    if (lane.running === 0) this.#lanes.delete(key);
  }
}
