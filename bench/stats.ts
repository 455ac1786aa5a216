export interface LoadResult {
  name: string;
  connections: number;
  /** Length of the measured window, seconds. */
  seconds: number;
  /** 2xx responses per second in the window. */
  rps: number;
  /** Milliseconds, 2xx responses only (as autocannon and wrk report them). */
  latency: { mean: number; p50: number; p90: number; p99: number; max: number };
  ok: number;
  /** Non-2xx responses by status, plus socket errors and timeouts: everything that was not a success. */
  statuses: Record<string, number>;
  errors: number;
}

/** The value below which `q` of the sorted samples lie (nearest rank). */
export function percentile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank]!;
}

export function summarise(
  name: string,
  connections: number,
  seconds: number,
  latencies: number[],
  statuses: Record<string, number>,
  socketErrors: number,
  timeouts: number,
): LoadResult {
  const sorted = Float64Array.from(latencies).sort();
  const ok = sorted.length;
  const failed = Object.entries(statuses).reduce((sum, [code, n]) => (code.startsWith('2') ? sum : sum + n), 0);
  const mean = ok === 0 ? NaN : sorted.reduce((a, b) => a + b, 0) / ok;
  return {
    name,
    connections,
    seconds,
    rps: ok / seconds,
    latency: { mean, p50: percentile(sorted, 0.5), p90: percentile(sorted, 0.9), p99: percentile(sorted, 0.99), max: sorted[ok - 1] ?? NaN },
    ok,
    statuses,
    errors: failed + socketErrors + timeouts,
  };
}
