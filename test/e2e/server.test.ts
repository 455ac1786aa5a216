import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { childEnv, curl, freePort, startServer } from './helpers.js';

test('npm start on a fresh PGlite DATA_DIR serves the README curl flow and stops cleanly on SIGTERM', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'user-services-e2e-'));
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  const [port, managementPort] = [await freePort(), await freePort()];
  const server = await startServer(childEnv({ DATA_DIR: dataDir, PORT: String(port), MANAGEMENT_PORT: String(managementPort), BCRYPT_ROUNDS: '4' }), port);
  t.after(() => server.signal('SIGKILL'));
  const base = `http://127.0.0.1:${port}`;

  const keyFile = statSync(join(dataDir, 'secret_key'));
  assert.equal(keyFile.mode & 0o777, 0o600, 'generated key is private');

  const registered = await curl('-X', 'POST', `${base}/user/register`, '-d', 'username=testuser&email=test@example.com&password=testpass1');
  assert.equal(registered.status, 201, registered.body);

  const token = await curl(
    '-X', 'POST', `${base}/user/token`,
    '-H', 'Content-Type: application/x-www-form-urlencoded',
    '-d', 'username=testuser&password=testpass1',
  );
  assert.equal(token.status, 200, token.body);
  const pair = JSON.parse(token.body) as { access_token: string; refresh_token: string; token_type: string };
  assert.equal(pair.token_type, 'bearer');

  const profile = await curl('-X', 'GET', `${base}/user/user`, '-H', `Authorization: Bearer ${pair.access_token}`);
  assert.equal(profile.status, 200);
  assert.deepEqual(JSON.parse(profile.body), { username: 'testuser', email: 'test@example.com', id: 1, email_verified: false, mfa_enabled: false });

  const refreshed = await curl('-X', 'POST', `${base}/user/token/refresh`, '-d', `refresh_token=${pair.refresh_token}`);
  assert.equal(refreshed.status, 200);
  const next = JSON.parse(refreshed.body) as { access_token: string };

  const changed = await curl(
    '-X', 'PUT', `${base}/user/update_password`,
    '-H', `Authorization: Bearer ${next.access_token}`,
    '-d', 'current_password=testpass1&new_password=newpass123',
  );
  assert.equal(changed.status, 200, changed.body);
  const wrong = await curl('-X', 'POST', `${base}/user/token`, '-d', 'username=testuser&password=testpass1');
  assert.equal(wrong.status, 401);

  const management = `http://127.0.0.1:${managementPort}`;
  assert.equal((await curl(`${base}/metrics`)).status, 404, 'metrics are not on the public port');
  const metrics = await curl(`${management}/metrics`);
  assert.equal(metrics.status, 200);
  assert.match(metrics.body, /^http_request_duration_seconds_count\{method="POST",route="\/user\/register",status_code="201"\} 1$/m);
  assert.equal((await curl(`${management}/healthz`)).status, 200);
  assert.equal((await curl(`${management}/readyz`)).status, 200);

  const docs = await curl(`${base}/docs`);
  assert.equal(docs.status, 200);
  const spec = await curl(`${base}/openapi.json`);
  assert.equal(JSON.parse(spec.body).paths['/user/token'].post !== undefined, true);

  // A request in flight when SIGTERM arrives still completes.
  const inFlight = fetch(`${base}/user/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: 'username=testuser&password=newpass123',
  });
  await new Promise((r) => setTimeout(r, 5));
  server.child.kill('SIGTERM'); // npm forwards it to the server (the start script execs node)
  assert.equal((await inFlight).status, 200);
  assert.equal(await server.exited, 0);

  const logs = server.output();
  assert.match(logs, /"msg":"SECRET_KEY is not set: generated one/);
  assert.match(logs, /"reqId":/);
  for (const secret of ['testpass1', 'newpass123', pair.access_token, pair.refresh_token, '$2b$']) {
    assert.equal(logs.includes(secret), false, `logs must not contain ${secret.slice(0, 12)}…`);
  }
});
