import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { test, type TestContext } from 'node:test';
import bcrypt from 'bcrypt';
import pg from 'pg';
import { nginxBinary, startTopology, statusOf, type Instance, type Topology } from '../../deploy/local-cluster.js';
import { LoadGenerator, type Sample } from './load-generator.js';
import { postgresServerAvailable, redisServerAvailable, startThrowawayPostgres, startThrowawayRedis } from './throwaway-services.js';

/**
 * Three instances behind nginx (deploy/), one PostgreSQL and one Redis of the test's own, and a load of
 * registrations, logins, refreshes and profile reads throughout, while instances are killed and restarted
 * and the database and Redis go away and come back. The counts of each status per phase are printed
 * (and recorded in docs/OPERATIONS.md).
 */

const INSTANCES = 3;
const VIRTUAL_USERS = 6;
/** The per-account login budget, checked through all three instances at the end. */
const LOGIN_BUDGET = 6;
/** The service's REQUEST_TIMEOUT_SECONDS: no request may take longer than this to be answered. */
const REQUEST_TIMEOUT_MS = 30_000;

async function missing(): Promise<string | false> {
  if (process.env['CI'] === 'true') return false;
  if (!nginxBinary()) return 'nginx is not installed (apt-get install nginx)';
  if (!postgresServerAvailable()) return 'PostgreSQL server binaries are not installed';
  if (!(await redisServerAvailable())) return 'redis-server is not installed';
  return false;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const isSuccess = (s: Sample) => typeof s.outcome === 'number' && s.outcome >= 200 && s.outcome < 300;

/** A form POST straight to one address; the status and the parsed body. */
async function post(base: string, path: string, fields: Record<string, string>): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', connection: 'close' },
    body: new URLSearchParams(fields).toString(),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

const direct = (instance: Instance) => `http://127.0.0.1:${instance.port}`;

async function storeErrors(instance: Instance): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${instance.managementPort}/metrics`)).text();
  return Number(/^rate_limit_store_errors_total (\d+)/m.exec(text)?.[1] ?? NaN);
}

/** Waits until `check` holds; how long that took. */
async function within(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<number> {
  const started = Date.now();
  while (!(await check())) {
    if (Date.now() - started > timeoutMs) assert.fail(`${what}: not within ${timeoutMs} ms`);
    await sleep(50);
  }
  return Date.now() - started;
}

/** Requests through the proxy reach the instance: its log shows one with nginx's request id after `offset`. */
const servesProxiedTraffic = (instance: Instance, offset: number) => async () => /"reqId":"[0-9a-f]{32}"/.test(instance.log().slice(offset));

function report(t: TestContext, load: LoadGenerator, phases: string[]): void {
  t.diagnostic('requests per phase, by status (through nginx; "network error" = no HTTP answer):');
  for (const phase of phases) {
    const samples = load.of(phase);
    const counts = Object.entries(load.counts(phase)).map(([status, n]) => `${status}×${n}`).join('  ');
    const slowest = Math.max(0, ...samples.map((s) => s.ms));
    t.diagnostic(`  ${phase.padEnd(22)} ${String(samples.length).padStart(5)} requests  ${counts}  (slowest ${slowest.toFixed(0)} ms)`);
  }
}

test('three instances behind nginx keep every acknowledged write through instance kills, rolling restarts, and database and Redis outages', { skip: await missing(), timeout: 600_000 }, async (t) => {
  const postgres = await startThrowawayPostgres();
  t.after(() => postgres.destroy());
  const redis = await startThrowawayRedis();
  t.after(() => redis.stop());
  const topology: Topology = await startTopology({
    instances: INSTANCES,
    databaseUrl: postgres.url,
    redisUrl: redis.url,
    env: {
      // Logins are bounded by bcrypt: the cheapest cost keeps the load about faults, not hashing.
      BCRYPT_ROUNDS: '4',
      // All of the load comes from one address: the per-IP budgets are out of its way; the per-account
      // login budget is the one checked across instances.
      RATE_LIMIT_LOGIN_PER_IP: '1000000',
      RATE_LIMIT_REGISTER_PER_IP: '1000000',
      RATE_LIMIT_REFRESH_PER_IP: '1000000',
      RATE_LIMIT_PASSWORD_PER_IP: '1000000',
      RATE_LIMIT_LOGIN_PER_ACCOUNT: String(LOGIN_BUDGET),
      // A loaded shared machine must not shed requests: this test is about faults, not overload.
      MAX_EVENT_LOOP_DELAY_MS: '0',
    },
  });
  t.after(() => topology.stop());
  t.diagnostic(`nginx ${topology.url}; instances ${topology.instances.map((i) => i.port).join(', ')}; logs in ${topology.dir}`);

  // Accounts for the budget checks, made before any fault.
  const budgetAccount = { username: `budget_${Date.now()}`, password: 'budget-password-1' };
  const openAccount = { username: `open_${Date.now()}`, password: 'fail-open-password-1' };
  for (const account of [budgetAccount, openAccount]) {
    assert.equal((await post(topology.url, '/user/register', { ...account, email: `${account.username}@example.com` })).status, 201);
  }

  const load = new LoadGenerator(topology.url, VIRTUAL_USERS, REQUEST_TIMEOUT_MS);
  const phases: string[] = [];
  // A request counts in the phase it began in; before each fault, the requests of the phase before have
  // half a second to finish, so what a fault breaks is counted in that fault's phase.
  const phase = async (name: string, beforeFault = true) => {
    phases.push(name);
    load.phase = name;
    if (beforeFault) await sleep(500);
  };
  phases.push('baseline');
  load.phase = 'baseline';
  load.start();
  try {
    await sleep(4000);

    // 1. SIGKILL: only what was in flight on it may fail; it is restarted and rejoins.
    await phase('1 SIGKILL one');
    const victim = topology.instances[1]!;
    victim.signal('SIGKILL');
    await victim.exited;
    await sleep(2000);
    const offset = victim.log().length;
    await victim.start();
    const rejoinMs = await within('the killed instance rejoins', 20_000, servesProxiedTraffic(victim, offset));
    t.diagnostic(`killed instance restarted; nginx sent it traffic again after ${rejoinMs} ms`);
    await sleep(2000);

    // 2. Rolling restart with SIGTERM: nothing may fail.
    await phase('2 rolling SIGTERM');
    for (const instance of topology.instances) {
      const started = Date.now();
      assert.equal(await instance.stop(), 0, `instance ${instance.index} stops cleanly`);
      const stoppedMs = Date.now() - started;
      const offset = instance.log().length;
      await instance.start();
      await within(`instance ${instance.index} rejoins`, 20_000, servesProxiedTraffic(instance, offset));
      t.diagnostic(`instance ${instance.index}: SIGTERM → exit 0 in ${stoppedMs} ms, restarted and serving`);
    }

    // 3. PostgreSQL away for ten seconds: 503 + Retry-After, readiness 503, liveness 200; back without restart.
    await phase('3 PostgreSQL down');
    await postgres.stop();
    const downUntil = Date.now() + 10_000;
    await sleep(1000);
    for (const instance of topology.instances) {
      assert.equal(await statusOf(instance.port, '/readyz'), 503, `instance ${instance.index}: /readyz`);
      assert.equal(await statusOf(instance.managementPort, '/readyz'), 503, `instance ${instance.index}: management /readyz`);
      assert.equal(await statusOf(instance.port, '/healthz'), 200, `instance ${instance.index}: /healthz`);
      assert.equal(await statusOf(instance.managementPort, '/healthz'), 200, `instance ${instance.index}: management /healthz`);
    }
    assert.equal(await statusOf(topology.port, '/healthz'), 200, '/healthz through nginx');
    await sleep(Math.max(0, downUntil - Date.now()));
    await postgres.start();
    await phase('3 PostgreSQL back', false);
    const recovered = await Promise.all(topology.instances.map((instance) =>
      within(`instance ${instance.index} serves after PostgreSQL returns`, 5000, async () => (await statusOf(instance.port, '/readyz')) === 200)));
    t.diagnostic(`after PostgreSQL returned, each instance was ready again in ${recovered.join(', ')} ms`);
    // The same instances (no restart) serve what needs the database: a login on each.
    for (const instance of topology.instances) {
      assert.equal((await post(direct(instance), '/user/register', { username: `after_pg_${instance.index}_${Date.now()}`, email: `after${instance.index}@example.com`, password: 'after-outage-1' })).status, 201);
    }
    await sleep(3000);

    // 4. Redis away: budgets fail open (documented), logins work; after it returns, budgets are shared again.
    await phase('4 Redis down');
    await redis.stop();
    await sleep(1000);
    const openLogins: number[] = [];
    for (let round = 0; round < 4; round++) {
      for (const instance of topology.instances) openLogins.push((await post(direct(instance), '/user/token', openAccount)).status);
    }
    assert.deepEqual(openLogins, Array(openLogins.length).fill(200), `budgets fail open: ${openLogins.length} logins of one account, over its budget of ${LOGIN_BUDGET}, all let through`);
    await sleep(3000);
    await redis.start();
    await phase('4 Redis back', false);
    // Each instance uses Redis again once a login through it adds no store error.
    const probe = { username: `probe_${Date.now()}`, password: 'probe-password-1' };
    assert.equal((await post(topology.url, '/user/register', { ...probe, email: `${probe.username}@example.com` })).status, 201);
    const reconnected = await Promise.all(topology.instances.map((instance) =>
      within(`instance ${instance.index} reconnects to Redis`, 15_000, async () => {
        const before = await storeErrors(instance);
        await post(direct(instance), '/user/token', { ...probe, password: 'wrong-password-x' }).catch(() => undefined);
        return (await storeErrors(instance)) === before;
      })));
    t.diagnostic(`after Redis returned, instances used it again within ${reconnected.join(', ')} ms`);
    await sleep(2000);
  } finally {
    await phase('5 final checks');
    await load.stop();
  }
  report(t, load, phases.slice(0, -1));

  // What each phase may show: nothing but successes, except where the fault explains it.
  const failures = (name: string) => load.of(name).filter((s) => !isSuccess(s));
  assert.deepEqual(failures('baseline'), [], 'baseline: no failures');
  const killed = failures('1 SIGKILL one');
  assert.ok(killed.length <= VIRTUAL_USERS, `SIGKILL: at most the requests in flight (${VIRTUAL_USERS}) fail, got ${killed.length}`);
  assert.ok(killed.every((s) => s.outcome === 502), `SIGKILL: in-flight failures are nginx's 502: ${JSON.stringify(killed)}`);
  assert.deepEqual(failures('2 rolling SIGTERM'), [], 'rolling restart: zero failed requests');
  for (const name of ['3 PostgreSQL down', '3 PostgreSQL back']) {
    const refused = failures(name);
    assert.ok(refused.every((s) => s.outcome === 503 && s.retryAfter && s.detail), `${name}: only 503 {"detail"} with Retry-After: ${JSON.stringify(refused.filter((s) => s.outcome !== 503).slice(0, 5))}`);
  }
  assert.ok(failures('3 PostgreSQL down').length > 0, 'the outage was seen');
  assert.ok(load.of('3 PostgreSQL down').every((s) => s.ms < REQUEST_TIMEOUT_MS), 'no request hangs');
  assert.deepEqual(failures('4 Redis down'), [], 'Redis down: nothing fails');
  assert.deepEqual(failures('4 Redis back'), [], 'Redis back: nothing fails');
  assert.ok(load.of('4 Redis down').some((s) => s.op === 'login' && isSuccess(s)), 'logins work while Redis is down');

  // 5a. One account hit through all three instances is throttled at the configured total, not three times it.
  const budget: { instance: number; status: number }[] = [];
  for (let round = 0; round < 4; round++) {
    for (const instance of topology.instances) budget.push({ instance: instance.index, status: (await post(direct(instance), '/user/token', budgetAccount)).status });
  }
  t.diagnostic(`per-account budget ${LOGIN_BUDGET}, 12 logins round-robin over the instances: ${budget.map((b) => b.status).join(' ')}`);
  assert.deepEqual(budget.map((b) => b.status), [...Array(LOGIN_BUDGET).fill(200), ...Array(12 - LOGIN_BUDGET).fill(429)]);
  assert.equal(new Set(budget.filter((b) => b.status === 429).map((b) => b.instance)).size, INSTANCES, 'every instance refuses past the shared total');

  // 5b. Every registration and password change that got a 2xx is in the database.
  const client = new pg.Client({ connectionString: postgres.url });
  await client.connect();
  const usernames = [...load.accounts.keys()];
  const { rows } = await client
    .query<{ username: string; hash_password: string }>('select username, hash_password from users where username = any($1)', [usernames])
    .finally(() => client.end());
  const stored = new Map(rows.map((r) => [r.username, r.hash_password]));
  const lost = usernames.filter((u) => !stored.has(u));
  assert.deepEqual(lost, [], 'every acknowledged registration is stored');
  // An acknowledged change leaves one password to match; one whose answer was lost, either of two.
  for (const [username, passwords] of load.accounts) {
    const hash = stored.get(username)!;
    const matches = await Promise.all(passwords.map((p) => bcrypt.compare(p, hash)));
    assert.ok(matches.some(Boolean), `${username}: the stored hash is of a password the service acknowledged`);
  }
  const acknowledgedChanges = load.samples.filter((s) => s.op === 'password' && isSuccess(s)).length;
  t.diagnostic(`acknowledged: ${usernames.length} registrations, ${acknowledgedChanges} password changes — all in the database`);

  // 5c. Every refresh token handed out and not spent still works.
  const tokens = [...load.unspentRefreshTokens.keys()];
  const refused: number[] = [];
  for (let i = 0; i < tokens.length; i += VIRTUAL_USERS) {
    const replies = await Promise.all(tokens.slice(i, i + VIRTUAL_USERS).map((token) => post(topology.url, '/user/token/refresh', { refresh_token: token })));
    refused.push(...replies.filter((r) => r.status !== 200).map((r) => r.status));
  }
  t.diagnostic(`unspent refresh tokens: ${tokens.length}, of which refused: ${refused.length}`);
  assert.deepEqual(refused, [], 'every unspent refresh token still works');
  // Logs and configuration are kept when a check fails (their directory is printed at the start).
  t.after(() => rmSync(topology.dir, { recursive: true, force: true }));
});
