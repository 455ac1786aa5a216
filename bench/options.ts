import { parseArgs } from 'node:util';

export const SCENARIOS = ['hash', 'profile', 'refresh', 'login', 'register', 'mixed', 'floor', 'workers', 'scale'] as const;
export type Scenario = (typeof SCENARIOS)[number];

export interface BenchOptions {
  users: number;
  /** Users for the large-table profile run (0: skipped). */
  scaleUsers: number;
  duration: number;
  warmup: number;
  connections: number;
  loginConnections: number;
  scenarios: Set<Scenario>;
  /** Worker counts compared on the profile scenario (node:cluster through WEB_CONCURRENCY). */
  workers: number[];
  /** Also run the scenarios on the embedded PGlite database (its readiness is always measured). */
  pglite: boolean;
  databaseUrl: string;
  logLevel: string;
  /** NODE_OPTIONS of the service processes (e.g. V8 heap limits), to measure their effect. */
  nodeOptions: string | undefined;
  cpuProf: boolean;
  keepDatabase: boolean;
  out: string | undefined;
}

export const USAGE = `Usage: npm run bench -- [options]

Starts the service as a real process on a fresh PostgreSQL database (and PGlite), seeds users, drives load
from a separate process (autocannon) and compares with the machine's limits: the bare "floor" server and
raw bcrypt throughput. Prints a table, writes bench/results/<date>.json and checks the targets.

Options:
  --users N              seeded users (default 10000)
  --scale-users N        users for the large-table profile run (default 1000000; 0 skips it)
  --duration S           seconds of measured load per scenario (default 15)
  --warmup S             seconds of unmeasured load before each scenario (default 2)
  --connections N        connections for profile, refresh and floor (default 16)
  --login-connections N  connections for login, register and the login flood of mixed (default 16)
  --scenarios LIST       comma-separated subset of: ${SCENARIOS.join(',')} (default: all)
  --workers LIST         WEB_CONCURRENCY values compared on profile (default 1,2)
  --pglite               also run the scenarios on the embedded PGlite database
  --database-url URL     admin URL of the PostgreSQL server (default $BENCH_DATABASE_URL or
                         postgresql://postgres@127.0.0.1:5432/postgres); a fresh database is created on it
  --log-level LEVEL      the service's LOG_LEVEL (default info, as deployed)
  --node-options OPTS    NODE_OPTIONS of the service, e.g. "--max-old-space-size=64" (default none)
  --cpu-prof             run the service with --cpu-prof; profiles go to bench/results/profiles/
  --keep-db              keep the PostgreSQL database afterwards
  --out FILE             results file (default bench/results/<date>.json)
  -h, --help             this text

Quick run: npm run bench -- --duration 3 --users 2000 --scale-users 20000`;

function positive(name: string, value: string | undefined, fallback: number, { allowZero = false } = {}): number {
  if (value === undefined) return fallback;
  const n = Number(value.replace(/_/g, ''));
  if (!Number.isInteger(n) || n < (allowZero ? 0 : 1)) throw new Error(`--${name} must be a ${allowZero ? 'non-negative' : 'positive'} integer (got ${value})`);
  return n;
}

function scenarioList(value: string | undefined): Set<Scenario> {
  if (value === undefined) return new Set(SCENARIOS);
  const names = value.split(',').map((s) => s.trim()).filter(Boolean);
  for (const name of names) {
    if (!(SCENARIOS as readonly string[]).includes(name)) throw new Error(`unknown scenario "${name}"; known: ${SCENARIOS.join(', ')}`);
  }
  return new Set(names as Scenario[]);
}

/** Parses the command line; returns undefined after printing the usage for --help. */
export function parseOptions(argv: string[], env: NodeJS.ProcessEnv): BenchOptions | undefined {
  const { values } = parseArgs({
    args: argv,
    options: {
      users: { type: 'string' },
      'scale-users': { type: 'string' },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      connections: { type: 'string' },
      'login-connections': { type: 'string' },
      scenarios: { type: 'string' },
      workers: { type: 'string' },
      pglite: { type: 'boolean', default: false },
      'database-url': { type: 'string' },
      'log-level': { type: 'string', default: 'info' },
      'node-options': { type: 'string' },
      'cpu-prof': { type: 'boolean', default: false },
      'keep-db': { type: 'boolean', default: false },
      out: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return undefined;
  }
  const workers = (values.workers ?? '1,2').split(',').map((w) => positive('workers', w.trim(), 1));
  return {
    users: positive('users', values.users, 10_000),
    scaleUsers: positive('scale-users', values['scale-users'], 1_000_000, { allowZero: true }),
    duration: positive('duration', values.duration, 15),
    warmup: positive('warmup', values.warmup, 2, { allowZero: true }),
    connections: positive('connections', values.connections, 16),
    loginConnections: positive('login-connections', values['login-connections'], 16),
    scenarios: scenarioList(values.scenarios),
    workers: [...new Set([1, ...workers])].sort((a, b) => a - b),
    pglite: values.pglite,
    databaseUrl: values['database-url'] ?? env['BENCH_DATABASE_URL'] ?? 'postgresql://postgres@127.0.0.1:5432/postgres',
    logLevel: values['log-level'],
    nodeOptions: values['node-options'],
    cpuProf: values['cpu-prof'],
    keepDatabase: values['keep-db'],
    out: values.out,
  };
}
