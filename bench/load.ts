/**
 * The load generator, run as its own process by bench/run.ts: `node --import tsx bench/load.ts SPEC.json`.
 * Drives one or more autocannon runs at once (mixed: a login flood under the profile load) and prints
 * one JSON result per run on stdout.
 *
 * Each run is one continuous autocannon run of warmup + duration seconds; only responses completing after
 * the warmup count. (Two separate runs would hand the measured one the warmup's unfinished requests — for
 * logins, over a second of queued bcrypt work.) Latency is kept per response at full resolution, rather
 * than autocannon's whole-millisecond histogram.
 */
import { readFileSync } from 'node:fs';
import autocannon from 'autocannon';
import { summarise, type LoadResult } from './stats.js';

export type RunKind = 'profile' | 'login' | 'register' | 'refresh';

export interface RunSpec {
  name: string;
  kind: RunKind;
  connections: number;
  /** profile: access tokens; login: login names; refresh: initial refresh tokens (one per chain). */
  items?: string[];
  password?: string;
  /** register: usernames are `<prefix><n>`. */
  prefix?: string;
}

export interface LoadSpec {
  url: string;
  warmup: number;
  duration: number;
  runs: RunSpec[];
}

const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

type Request = Record<string, unknown>;
type Client = { setRequests(requests: Request[]): void };

/** Every client gets the same request list, started at its own offset, so clients do not march in step. */
function rotatingClients(requests: Request[]): (client: Client) => void {
  let next = 0;
  return (client) => {
    const offset = Math.floor(((next++ * 7919) % requests.length));
    client.setRequests([...requests.slice(offset), ...requests.slice(0, offset)]);
  };
}

function requestsOf(run: RunSpec): { requests?: Request[]; setupClient?: (client: Client) => void } {
  const items = run.items ?? [];
  switch (run.kind) {
    case 'profile':
      return { setupClient: rotatingClients(items.map((token) => ({ method: 'GET', path: '/user/user', headers: { authorization: `Bearer ${token}` } }))) };
    case 'login':
      return {
        setupClient: rotatingClients(
          items.map((login) => ({
            method: 'POST',
            path: '/user/token',
            headers: FORM,
            body: new URLSearchParams({ username: login, password: run.password! }).toString(),
          })),
        ),
      };
    case 'register': {
      let n = 0;
      return {
        requests: [
          {
            method: 'POST',
            path: '/user/register',
            headers: FORM,
            setupRequest: (request: Request) => {
              const username = `${run.prefix}${n++}`;
              return { ...request, body: new URLSearchParams({ username, email: `${username}@example.com`, password: run.password! }).toString() };
            },
          },
        ],
      };
    }
    case 'refresh': {
      // Each client follows its own rotation chain: the refresh token it presents is the one the previous
      // response returned. A broken chain (any non-200) starts again from an unused seeded token.
      let nextSeed = 0;
      const seed = () => items[nextSeed++ % items.length]!;
      return {
        setupClient: (client) => {
          let token = seed();
          client.setRequests([
            {
              method: 'POST',
              path: '/user/token',
              headers: FORM,
              setupRequest: (request: Request) => ({ ...request, body: `grant_type=refresh_token&refresh_token=${token}` }),
              onResponse: (status: number, body: string) => {
                token = status === 200 ? (JSON.parse(body) as { refresh_token: string }).refresh_token : seed();
              },
            },
          ]);
        },
      };
    }
  }
}

function drive(spec: LoadSpec, run: RunSpec, total: number): { done: Promise<LoadResult>; stop(): void } {
  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  let windowStart = 0;
  let errors = 0;
  let timeouts = 0;
  const instance = autocannon({
    url: spec.url,
    connections: run.connections,
    duration: total,
    timeout: 30,
    ...requestsOf(run),
  } as autocannon.Options);
  const started = performance.now();
  windowStart = started + spec.warmup * 1000;
  let windowEnd = Infinity;
  instance.on('response', (_client: unknown, statusCode: number, _bytes: number, responseTime: number) => {
    const now = performance.now();
    if (now < windowStart || now > windowEnd) return;
    statuses[statusCode] = (statuses[statusCode] ?? 0) + 1;
    if (statusCode >= 200 && statusCode < 300) latencies.push(responseTime);
  });
  instance.on('reqError', () => {
    if (performance.now() >= windowStart) errors += 1;
  });
  instance.on('timeout', () => {
    if (performance.now() >= windowStart) timeouts += 1;
  });
  const done = new Promise<LoadResult>((resolve) => {
    instance.on('done', () => {
      const end = Math.min(performance.now(), windowEnd);
      resolve(summarise(run.name, run.connections, (end - windowStart) / 1000, latencies, statuses, errors, timeouts));
    });
  });
  return {
    done,
    stop: () => {
      windowEnd = performance.now();
      instance.stop();
    },
  };
}

async function main(): Promise<void> {
  const spec = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as LoadSpec;
  const [first, ...background] = spec.runs;
  // The first run is the measured one; background runs (the login flood of mixed) start with it and keep
  // going until it ends, so they load the whole window.
  const others = background.map((run) => drive(spec, run, spec.warmup + spec.duration + 30));
  const main = drive(spec, first!, spec.warmup + spec.duration);
  // The parent reads CPU counters at these marks, so CPU per request covers the measured window only.
  setTimeout(() => process.stderr.write('window-start\n'), spec.warmup * 1000);
  const results = [await main.done];
  process.stderr.write('window-end\n');
  for (const other of others) other.stop();
  results.push(...(await Promise.all(others.map((o) => o.done))));
  process.stdout.write(`${JSON.stringify(results)}\n`);
}

await main();
