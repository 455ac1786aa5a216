import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Secret, TOTP } from 'otpauth';
import { childEnv, curl, freePort, startServer } from './helpers.js';

/** The test plays the authenticator app: the code of the step `offsetSteps` from now. */
const appCode = (secret: string, offsetSteps = 0) =>
  TOTP.generate({ secret: Secret.fromBase32(secret), timestamp: Date.now() + offsetSteps * 30_000 });

test("docs/SECOND-FACTOR.md's curl sequence, against the real process; no secret of it reaches the logs", async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'user-services-e2e-'));
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  const port = await freePort();
  const server = await startServer(childEnv({ DATA_DIR: dataDir, PORT: String(port), BCRYPT_ROUNDS: '4' }), port);
  t.after(() => server.signal('SIGKILL'));
  const base = `http://127.0.0.1:${port}`;

  assert.equal((await curl('-X', 'POST', `${base}/user/register`, '-d', 'username=testuser&email=test@example.com&password=testpass1')).status, 201);
  const { access_token: token } = JSON.parse((await curl('-X', 'POST', `${base}/user/token`, '-d', 'username=testuser&password=testpass1')).body);
  const auth = ['-H', `Authorization: Bearer ${token}`];

  const enrolment = await curl('-X', 'POST', `${base}/user/mfa/totp`, ...auth, '-d', 'current_password=testpass1');
  assert.equal(enrolment.status, 200, enrolment.body);
  const { secret, otpauth_uri: uri, qr } = JSON.parse(enrolment.body);
  assert.equal(new URL(uri).searchParams.get('issuer'), `127.0.0.1:${port}`, 'the issuer is the host of the service');
  assert.match(Buffer.from(qr.split(',')[1], 'base64').toString(), /^<svg/);

  const confirmed = await curl('-X', 'POST', `${base}/user/mfa/totp/confirm`, ...auth, '-d', `otp=${appCode(secret)}`);
  assert.equal(confirmed.status, 200, confirmed.body);
  const { recovery_codes: codes } = JSON.parse(confirmed.body) as { recovery_codes: string[] };

  const step1 = await curl('-X', 'POST', `${base}/user/token`, '-d', 'username=testuser&password=testpass1');
  assert.equal(step1.status, 403, step1.body);
  const { error, mfa_token: mfaToken } = JSON.parse(step1.body);
  assert.equal(error, 'mfa_required');
  // Confirmation spent this step's code; the next step's is within the ±1 drift, so no waiting.
  const step2 = await curl('-X', 'POST', `${base}/user/token`, '-d', `grant_type=mfa_otp&mfa_token=${mfaToken}&otp=${appCode(secret, 1)}`);
  assert.equal(step2.status, 200, step2.body);

  const again = JSON.parse((await curl('-X', 'POST', `${base}/user/token`, '-d', 'username=testuser&password=testpass1')).body).mfa_token;
  const byRecovery = await curl('-X', 'POST', `${base}/user/token`, '-d', `grant_type=mfa_recovery_code&mfa_token=${again}&recovery_code=${codes[0]}`);
  assert.equal(byRecovery.status, 200, byRecovery.body);

  // This session signed in before the factor was on: the password alone makes no new codes (issue 21).
  const passwordOnly = await curl('-X', 'POST', `${base}/user/mfa/recovery-codes`, ...auth, '-d', 'current_password=testpass1');
  assert.equal(passwordOnly.status, 403, passwordOnly.body);
  const regenerated = await curl('-X', 'POST', `${base}/user/mfa/recovery-codes`, ...auth, '-d', `current_password=testpass1&recovery_code=${codes[1]}`);
  assert.equal(regenerated.status, 200, regenerated.body);
  const fresh: string[] = JSON.parse(regenerated.body).recovery_codes;

  const disabled = await curl('-X', 'DELETE', `${base}/user/mfa/totp`, ...auth, '-d', `current_password=testpass1&recovery_code=${fresh[0]}`);
  assert.equal(disabled.status, 204, disabled.body);
  const profile = await curl(`${base}/user/user`, ...auth);
  assert.equal(JSON.parse(profile.body).mfa_enabled, false);

  server.child.kill('SIGTERM');
  assert.equal(await server.exited, 0);
  const logs = server.output();
  assert.match(logs, /security event: mfa_enabled/);
  for (const value of [secret, mfaToken, again, ...codes, ...fresh]) {
    assert.equal(logs.includes(value), false, `logs must not contain ${value.slice(0, 6)}…`);
  }
});
