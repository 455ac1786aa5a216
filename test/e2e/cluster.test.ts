import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createTestDatabase, postgresTestsOff } from '../helpers/databases.js';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { childEnv, curl, freePort, ROOT, startServer } from './helpers.js';

const listeningWorkers = (log: string) =>
  new Set([...log.matchAll(/"pid":(\d+)[^\n]*Server listening/g)].map((m) => m[1])).size;

// Clustering needs a shared database, so this test exists only on PostgreSQL.
const skip = postgresTestsOff() ? 'TEST_POSTGRES=off' : false;

test('WEB_CONCURRENCY=2 on PostgreSQL: workers serve one port and all stop on SIGTERM', { skip }, async (t) => {
  const database = await createTestDatabase('postgres');
  t.after(() => database.destroy());
  const [port, managementPort] = [await freePort(), await freePort()];
  const env = childEnv({
    MANAGEMENT_PORT: String(managementPort),
    DATABASE_URL: database.url!,
    SECRET_KEY: 'cluster-test-secret-key-0123456789',
    PORT: String(port),
    WEB_CONCURRENCY: '2',
    BCRYPT_ROUNDS: '4',
  });
  const server = await startServer(env, port);
  t.after(() => server.signal('SIGKILL'));
  // /healthz answers as soon as the first worker listens; the primary only hands connections to workers
  // that listen, so wait for both before asserting that both serve.
  const deadline = Date.now() + 30_000;
  while (listeningWorkers(server.output()) < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  assert.equal(listeningWorkers(server.output()), 2, 'both workers listen');
  const base = `http://127.0.0.1:${port}`;
  assert.equal((await curl('-X', 'POST', `${base}/user/register`, '-d', 'username=clustered&email=c@example.com&password=password-1')).status, 201);
  const token = await curl('-X', 'POST', `${base}/user/token`, '-d', 'username=clustered&password=password-1');
  const { access_token } = JSON.parse(token.body) as { access_token: string };
  const results = await Promise.all(Array.from({ length: 20 }, () => curl(`${base}/user/user`, '-H', `Authorization: Bearer ${access_token}`)));
  assert.deepEqual(new Set(results.map((r) => r.status)), new Set([200]));
  const workers = new Set(server.output().match(/"pid":\d+/g));
  assert.equal(workers.size, 2, 'two worker processes logged requests');
  // One management listener, the primary's: its /metrics sums the workers', so a scrape sees every request.
  const metrics = await curl(`http://127.0.0.1:${managementPort}/metrics`);
  assert.equal(metrics.status, 200);
  assert.match(metrics.body, /^http_request_duration_seconds_count\{method="GET",route="\/user\/user",status_code="200"\} 20$/m);
  assert.equal((await curl(`http://127.0.0.1:${managementPort}/readyz`)).status, 200);
  server.child.kill('SIGTERM');
  assert.equal(await server.exited, 0);
});

test('WEB_CONCURRENCY > 1 is refused with the embedded database', async () => {
  const run = promisify(execFile);
  const env = childEnv({ WEB_CONCURRENCY: '2', PORT: String(await freePort()) });
  await assert.rejects(run(process.execPath, ['bin/user-services.js', 'serve'], { cwd: ROOT, env }), (error: { code: number; stderr: string }) => {
    assert.equal(error.code, 1);
    assert.match(error.stderr, /WEB_CONCURRENCY > 1 needs DATABASE_URL/);
    return true;
  });
});
