/**
 * `npm run bench` — the service as a real process on a fresh PostgreSQL database (and PGlite), seeded in
 * bulk, loaded from a separate process, and compared in the same run with the machine's limits: the bare
 * floor server and raw bcrypt throughput. See docs/PERFORMANCE.md and `npm run bench -- --help`.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import bcrypt from 'bcrypt';
import { analyze, connectPglite, connectPostgres, createFreshDatabase, seedRefreshTokens, seedUsers, seededRefreshToken, seededUsername, type Execute } from './database.js';
import { measure, type Measurement, type Where } from './drive.js';
import type { LoadSpec, RunSpec } from './load.js';
import { describeMachine, load1 } from './machine.js';
import { parseOptions, type BenchOptions } from './options.js';
import { freePort, memoryOf, processTree, startProcess, type RunningProcess } from './process.js';
import { evaluateTargets, renderReport, type BenchReport, type HashLimit, type Readiness } from './report.js';
import { mintAccessTokens, spreadUsers } from './tokens.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const RESULTS = join(ROOT, 'bench', 'results');
/** Not in the password blocklist, ASCII (NFKC leaves it alone: one bcrypt verification per login). */
const PASSWORD = 'bench-Quokka-4217-Lantern';
const BCRYPT_ROUNDS = 12;
/** Distinct users whose tokens (or logins) the load cycles through. */
const POOL = 2000;

const say = (message: string) => process.stderr.write(`[bench] ${message}\n`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const run = promisify(execFile);

/** What every service process runs with; the rest are the service's defaults. */
function serviceSettings(options: BenchOptions): Record<string, string> {
  return {
    HOST: '127.0.0.1',
    LOG_LEVEL: options.logLevel,
    // Budgets would turn the load into 429s; a high lockout threshold keeps login failures (none are
    // expected) from locking the seeded accounts.
    RATE_LIMIT_ENABLED: 'false',
    LOCKOUT_THRESHOLD: '100',
    BCRYPT_ROUNDS: String(BCRYPT_ROUNDS),
    ...(options.nodeOptions ? { NODE_OPTIONS: options.nodeOptions } : {}),
  };
}

interface Context {
  options: BenchOptions;
  secretKey: string;
  logDir: string;
  profileDir: string | undefined;
  running: Set<RunningProcess>;
  readiness: Readiness[];
  measurements: Measurement[];
  highWaterMarks: BenchReport['highWaterMarks'];
  hash: HashLimit | undefined;
}

function baseEnv(): NodeJS.ProcessEnv {
  const keep = ['PATH', 'HOME', 'TMPDIR', 'LANG', 'TZ'];
  return Object.fromEntries(keep.filter((k) => process.env[k] !== undefined).map((k) => [k, process.env[k]]));
}

async function startService(ctx: Context, where: Where, database: { url?: string; dataDir?: string }, what: string): Promise<{ server: RunningProcess; url: string }> {
  const port = await freePort();
  const nodeFlags = ctx.profileDir ? ['--cpu-prof', `--cpu-prof-dir=${ctx.profileDir}`] : [];
  const env = {
    ...baseEnv(),
    ...serviceSettings(ctx.options),
    SECRET_KEY: ctx.secretKey,
    PORT: String(port),
    // The system picks the management port: a bench beside a running service must not collide on 9000.
    MANAGEMENT_PORT: '0',
    WEB_CONCURRENCY: String(where.workers),
    ...(database.url ? { DATABASE_URL: database.url } : {}),
    DATA_DIR: database.dataDir ?? join(ctx.logDir, 'unused-data'),
  };
  const server = await startProcess({
    command: [process.execPath, ...nodeFlags, join(ROOT, 'bin', 'user-services.js'), 'serve'],
    env,
    cwd: ROOT,
    port,
    readyPath: '/readyz',
    logFile: join(ctx.logDir, `${where.target}-${where.workers}w-${where.users}.log`),
  });
  ctx.running.add(server);
  // Clustered: /readyz answers once the first worker listens; give the others time to join.
  if (where.workers > 1) await sleep(2000);
  // Idle memory, once start-up's garbage has had a moment to be collected.
  await sleep(2000);
  const idleRssMb = processTree(server.child.pid!).reduce((sum, pid) => sum + (memoryOf(pid)?.rss ?? 0), 0);
  ctx.readiness.push({ target: where.target, what, workers: where.workers, users: where.users, ms: server.readyMs, idleRssMb });
  say(`${where.target} (${where.workers} worker${where.workers > 1 ? 's' : ''}, ${where.users} users) ready in ${server.readyMs.toFixed(0)} ms [${what}], idle RSS ${idleRssMb.toFixed(0)} MB`);
  return { server, url: `http://127.0.0.1:${port}` };
}

async function stopServer(ctx: Context, server: RunningProcess, where: Where): Promise<void> {
  const { target, workers, users } = where;
  ctx.highWaterMarks.push({ target, workers, users, mb: server.highWaterMarks().map((m) => Math.round(m * 10) / 10) });
  const code = await server.stop();
  ctx.running.delete(server);
  if (code !== 0) say(`warning: ${where.target} exited with ${code}`);
}

function spec(ctx: Context, url: string, runs: RunSpec[]): LoadSpec {
  return { url, warmup: ctx.options.warmup, duration: ctx.options.duration, runs };
}

async function load(ctx: Context, server: RunningProcess, where: Where, loadSpec: LoadSpec): Promise<void> {
  const results = await measure(server, where, loadSpec);
  for (const m of results) {
    say(`  ${m.scenario.padEnd(14)} ${m.rps.toFixed(m.rps < 100 ? 2 : 0).padStart(7)} req/s  p50 ${m.latency.p50.toFixed(2)} ms  p99 ${m.latency.p99.toFixed(2)} ms  errors ${m.errors}  peak RSS ${m.peakRssMb.toFixed(0)} MB`);
  }
  ctx.measurements.push(...results);
}

/** The service scenarios against one running service, in an order where each starts from a quiet server. */
async function serviceScenarios(ctx: Context, server: RunningProcess, url: string, where: Where): Promise<void> {
  const { options } = ctx;
  const tokens = await mintAccessTokens(ctx.secretKey, spreadUsers(where.users, POOL));
  const logins = spreadUsers(where.users, POOL).map(seededUsername);
  const profile = (name: string): RunSpec => ({ name, kind: 'profile', connections: options.connections, items: tokens });
  const login = (name: string): RunSpec => ({ name, kind: 'login', connections: options.loginConnections, items: logins, password: PASSWORD });
  const has = (s: string) => options.scenarios.has(s as never);
  if (has('profile')) await load(ctx, server, where, spec(ctx, url, [profile('profile')]));
  if (has('refresh')) {
    const seeds = Array.from({ length: Math.min(where.users, POOL) }, (_, i) => seededRefreshToken(i + 1));
    await load(ctx, server, where, spec(ctx, url, [{ name: 'refresh', kind: 'refresh', connections: options.connections, items: seeds }]));
  }
  // Requests still queued for bcrypt when a hash-bound run stops are finished by the server: let them drain.
  const drain = () => sleep(2000);
  // The bcrypt limit is measured right before the logins (the service idles meanwhile), so both see the
  // machine in the same state.
  if (has('hash') && ctx.hash === undefined) ctx.hash = await hashLimit(ctx);
  if (has('login')) {
    await load(ctx, server, where, spec(ctx, url, [login('login')]));
    await drain();
  }
  if (has('register')) {
    const prefix = `r${Date.now().toString(36)}_`;
    await load(ctx, server, where, spec(ctx, url, [{ name: 'register', kind: 'register', connections: options.loginConnections, prefix, password: PASSWORD }]));
    await drain();
  }
  if (has('mixed')) {
    await load(ctx, server, where, spec(ctx, url, [profile('mixed:profile'), login('mixed:login')]));
    await drain();
  }
}

async function hashLimit(ctx: Context): Promise<HashLimit> {
  const load = load1();
  const { stdout } = await run(process.execPath, ['--import', 'tsx', join(ROOT, 'bench', 'hash-limit.ts'), String(BCRYPT_ROUNDS), String(Math.min(ctx.options.warmup, 2)), String(ctx.options.duration)]);
  const result = { ...(JSON.parse(stdout) as Omit<HashLimit, 'load1'>), load1: load };
  say(`hash limit: ${result.rps.toFixed(2)} bcrypt-${result.rounds} verifications/s on ${result.streams} cores (${result.medianMs.toFixed(0)} ms each)`);
  return result;
}

async function seed(
  execute: Execute,
  range: { from: number; to: number },
  passwordHash: string,
  refreshTokens: number,
  reserveIds: number,
): Promise<void> {
  const started = performance.now();
  await seedUsers(execute, range, passwordHash, reserveIds, (done) => say(`  seeded ${done} users…`));
  if (refreshTokens > 0) await seedRefreshTokens(execute, refreshTokens);
  await analyze(execute);
  say(`seeded users ${range.from}..${range.to} (+ a session each) in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}

async function postgresRun(ctx: Context, passwordHash: string): Promise<string | undefined> {
  const { options } = ctx;
  const has = (s: string) => options.scenarios.has(s as never);
  const admin = await connectPostgres(options.databaseUrl);
  const [version] = await admin.execute('show server_version');
  await admin.close();
  const database = await createFreshDatabase(options.databaseUrl);
  say(`PostgreSQL ${version?.['server_version']}: fresh database ${database.name}`);
  try {
    const at = (workers: number, users: number): Where => ({ target: 'postgres', workers, users, database: database.name });
    // First start on the empty database applies the migrations; it is reported, not the target.
    const first = await startService(ctx, at(1, 0), { url: database.url }, 'first start (applies migrations)');
    await stopServer(ctx, first.server, at(1, 0));
    const sql = await connectPostgres(database.url);
    try {
      await seed(sql.execute, { from: 1, to: options.users }, passwordHash, Math.min(options.users, POOL), Math.max(options.users, options.scaleUsers));
    } finally {
      await sql.close();
    }
    const main = await startService(ctx, at(1, options.users), { url: database.url }, 'start');
    await serviceScenarios(ctx, main.server, main.url, at(1, options.users));
    await stopServer(ctx, main.server, at(1, options.users));

    if (has('floor')) await floorRun(ctx, database);
    if (has('workers')) {
      for (const workers of options.workers.filter((w) => w > 1)) {
        const clustered = await startService(ctx, at(workers, options.users), { url: database.url }, 'start');
        const tokens = await mintAccessTokens(ctx.secretKey, spreadUsers(options.users, POOL));
        await load(ctx, clustered.server, at(workers, options.users), spec(ctx, clustered.url, [{ name: 'profile', kind: 'profile', connections: options.connections, items: tokens }]));
        await stopServer(ctx, clustered.server, at(workers, options.users));
      }
    }
    if (has('scale') && options.scaleUsers > options.users) {
      // The comparison is paired: the same measurement on the small table right before it grows, so both
      // sides see the machine in the same state (the first profile run is made on a quiet machine).
      const small = await startService(ctx, at(1, options.users), { url: database.url }, 'start');
      const smallTokens = await mintAccessTokens(ctx.secretKey, spreadUsers(options.users, POOL));
      await load(ctx, small.server, at(1, options.users), spec(ctx, small.url, [{ name: 'scale:profile', kind: 'profile', connections: options.connections, items: smallTokens }]));
      await stopServer(ctx, small.server, at(1, options.users));
      const grow = await connectPostgres(database.url);
      try {
        await seed(grow.execute, { from: options.users + 1, to: options.scaleUsers }, passwordHash, 0, options.scaleUsers);
      } finally {
        await grow.close();
      }
      const large = await startService(ctx, at(1, options.scaleUsers), { url: database.url }, 'start');
      const tokens = await mintAccessTokens(ctx.secretKey, spreadUsers(options.scaleUsers, POOL));
      await load(ctx, large.server, at(1, options.scaleUsers), spec(ctx, large.url, [{ name: 'scale:profile', kind: 'profile', connections: options.connections, items: tokens }]));
      await stopServer(ctx, large.server, at(1, options.scaleUsers));
    }
  } finally {
    if (options.keepDatabase) say(`kept database ${database.url}`);
    else await database.drop();
  }
  return version?.['server_version'] as string | undefined;
}

async function floorRun(ctx: Context, database: { url: string; name: string }): Promise<void> {
  const { options } = ctx;
  const port = await freePort();
  const where: Where = { target: 'floor', workers: 1, users: options.users, database: database.name };
  const floor = await startProcess({
    command: [process.execPath, '--import', 'tsx', join(ROOT, 'bench', 'floor-server.ts')],
    env: { ...baseEnv(), DATABASE_URL: database.url, SECRET_KEY: ctx.secretKey, PORT: String(port) },
    cwd: ROOT,
    port,
    readyPath: '/readyz',
    logFile: join(ctx.logDir, 'floor.log'),
  });
  ctx.running.add(floor);
  const tokens = await mintAccessTokens(ctx.secretKey, spreadUsers(options.users, POOL));
  await load(ctx, floor, where, spec(ctx, `http://127.0.0.1:${port}`, [{ name: 'profile', kind: 'profile', connections: options.connections, items: tokens }]));
  await stopServer(ctx, floor, where);
}

async function pgliteRun(ctx: Context, passwordHash: string): Promise<void> {
  const { options } = ctx;
  const dataDir = mkdtempSync(join(tmpdir(), 'user-services-bench-pglite-'));
  try {
    const at = (users: number): Where => ({ target: 'pglite', workers: 1, users });
    const first = await startService(ctx, at(0), { dataDir }, 'first start (new directory + migrations)');
    await stopServer(ctx, first.server, at(0));
    const db = await connectPglite(dataDir);
    try {
      await seed(db.execute, { from: 1, to: options.users }, passwordHash, Math.min(options.users, POOL), options.users);
    } finally {
      await db.close();
    }
    const main = await startService(ctx, at(options.users), { dataDir }, 'start (warm directory)');
    if (options.pglite) await serviceScenarios(ctx, main.server, main.url, at(options.users));
    await stopServer(ctx, main.server, at(options.users));
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function main(): Promise<number> {
  const options = parseOptions(process.argv.slice(2), process.env);
  if (options === undefined) return 0;
  const started = performance.now();
  const date = new Date().toISOString().replace(/:/g, '-').replace(/\..*/, '');
  const ctx: Context = {
    options,
    secretKey: randomBytes(32).toString('hex'),
    logDir: mkdtempSync(join(tmpdir(), 'user-services-bench-logs-')),
    profileDir: options.cpuProf ? join(RESULTS, 'profiles', date) : undefined,
    running: new Set(),
    readiness: [],
    measurements: [],
    highWaterMarks: [],
    hash: undefined,
  };
  if (ctx.profileDir) mkdirSync(ctx.profileDir, { recursive: true });
  const interrupted = () => {
    for (const p of ctx.running) p.child.kill('SIGKILL');
    process.exit(130);
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  if (existsSync(join(ROOT, '.env'))) say('note: ./.env exists; the service reads it for any variable the bench does not set');
  const startLoad = load1();
  say(`load average at start: ${startLoad}${startLoad > 0.5 ? ' — the machine is busy; numbers will be noisy' : ''}`);

  let failed = false;
  let postgresVersion: string | undefined;
  try {
    const passwordHash = await bcrypt.hash(PASSWORD, BCRYPT_ROUNDS);
    postgresVersion = await postgresRun(ctx, passwordHash);
    await pgliteRun(ctx, passwordHash);
  } catch (error) {
    failed = true;
    say(`failed: ${error instanceof Error ? error.stack : String(error)}`);
    for (const p of ctx.running) p.child.kill('SIGKILL');
  }

  const partial: Omit<BenchReport, 'targets'> = {
    date,
    machine: describeMachine(postgresVersion),
    options: { ...options, scenarios: [...options.scenarios] },
    serviceEnvironment: serviceSettings(options),
    hash: ctx.hash,
    readiness: ctx.readiness,
    measurements: ctx.measurements,
    highWaterMarks: ctx.highWaterMarks,
    load: { start: startLoad, end: load1() },
    seconds: Math.round((performance.now() - started) / 1000),
  };
  const report: BenchReport = { ...partial, targets: evaluateTargets(partial, options.users, options.scaleUsers) };
  mkdirSync(RESULTS, { recursive: true });
  const out = options.out ?? join(RESULTS, `${date}.json`);
  writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);
  const m = report.machine;
  process.stdout.write(
    `\n${m.cores} × ${m.cpuModel}, ${m.memoryGiB} GiB, Node ${m.node}, PostgreSQL ${m.postgres ?? '?'}; ${m.uptime}\n\n${renderReport(report)}\n\n` +
      `load average: ${report.load.start} at start, ${report.load.end} at end; ${report.seconds} s in all. Results: ${out}\n`,
  );
  if (!failed) rmSync(ctx.logDir, { recursive: true, force: true });
  else say(`service logs kept in ${ctx.logDir}`);
  return failed ? 1 : 0;
}

process.exitCode = await main();
