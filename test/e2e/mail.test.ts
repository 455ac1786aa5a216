import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { linkIn, TestSmtpServer } from '../helpers/smtp.js';
import { childEnv, curl, freePort, startServer } from './helpers.js';

test('npm start with SMTP_URL: verification and password reset by mail, delivered to a real SMTP server, links from PUBLIC_URL', async (t) => {
  const smtp = await TestSmtpServer.start();
  const dataDir = mkdtempSync(join(tmpdir(), 'user-services-e2e-mail-'));
  const port = await freePort();
  const publicUrl = `http://localhost:${port}`;
  const server = await startServer(
    childEnv({ DATA_DIR: dataDir, PORT: String(port), BCRYPT_ROUNDS: '4', SMTP_URL: smtp.url, PUBLIC_URL: publicUrl, APP_NAME: 'Acme Login' }),
    port,
  );
  t.after(async () => {
    server.signal('SIGKILL');
    await smtp.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });
  const base = `http://127.0.0.1:${port}`;

  const registered = await curl('-X', 'POST', `${base}/user/register`, '-d', 'username=mailuser&email=mail@example.com&password=testpass1');
  assert.equal(registered.status, 201, registered.body);
  const verification = await smtp.waitFor((m) => /confirm your e-mail address/.test(m.subject));
  assert.match(verification.subject, /^Acme Login: /);
  const verify = linkIn(verification);
  assert.ok(verify.url.startsWith(`${publicUrl}/account/verify?token=`), verify.url);
  // A scanner opening the link spends nothing; the page's button (a plain form post) does.
  const pagePath = verify.url.slice(publicUrl.length);
  assert.equal((await curl(`${base}${pagePath}`)).status, 200);
  const confirmed = await curl('-X', 'POST', `${base}/user/verify/confirm`, '-d', `token=${verify.token}`);
  assert.equal(confirmed.status, 200, confirmed.body);

  const forgot = await curl('-X', 'POST', `${base}/user/forgot-password`, '-H', 'Host: evil.example', '-d', 'email=mail@example.com');
  assert.equal(forgot.status, 202);
  const resetMail = await smtp.waitFor((m) => /reset your password/.test(m.subject));
  const reset = linkIn(resetMail);
  assert.ok(reset.url.startsWith(publicUrl), reset.url);
  const done = await curl('-X', 'POST', `${base}/user/reset-password/confirm`, '-d', `token=${reset.token}&password=brand-new-pass-1`);
  assert.equal(done.status, 200, done.body);
  const loggedIn = await curl('-X', 'POST', `${base}/user/token`, '-d', 'username=mailuser&password=brand-new-pass-1');
  assert.equal(loggedIn.status, 200, loggedIn.body);
  await smtp.waitFor((m) => /your password was changed/.test(m.subject));

  server.child.kill('SIGTERM'); // npm forwards it to the server (the start script execs node)
  assert.equal(await server.exited, 0);
  const logs = server.output();
  assert.match(logs, /"msg":"mail sent"/);
  for (const secret of [verify.token, reset.token, 'testpass1', 'brand-new-pass-1']) {
    assert.equal(logs.includes(secret), false, `logs must not contain ${secret.slice(0, 8)}…`);
  }
});

test('npm start without SMTP_URL: mail becomes files under DATA_DIR/outbox/, and the log says where (never the token)', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'user-services-e2e-outbox-'));
  const port = await freePort();
  const server = await startServer(childEnv({ DATA_DIR: dataDir, PORT: String(port), BCRYPT_ROUNDS: '4' }), port);
  t.after(() => {
    server.signal('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  });
  const base = `http://127.0.0.1:${port}`;
  assert.equal((await curl('-X', 'POST', `${base}/user/register`, '-d', 'username=devuser&email=dev@example.com&password=testpass1')).status, 201);
  assert.equal((await curl('-X', 'POST', `${base}/user/forgot-password`, '-d', 'email=dev@example.com')).status, 202);
  const outbox = join(dataDir, 'outbox');
  const deadline = Date.now() + 20_000;
  while (!(existsSync(outbox) && readdirSync(outbox).some((f) => f.endsWith('.txt'))) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
  }
  const text = readdirSync(outbox).find((f) => f.endsWith('.txt'))!;
  const token = /reset-password\?token=([A-Za-z0-9_-]+)/.exec(readFileSync(join(outbox, text), 'utf8'))![1]!;
  assert.match(readFileSync(join(outbox, text), 'utf8'), new RegExp(`http://127\\.0\\.0\\.1:${port}/account/reset-password\\?token=`));
  // The link's page, its stylesheet and the passkey script are served by the real process (issue 15:
  // `npm start`, then the browser, with no other step).
  const landing = await curl(`${base}/account/reset-password?token=${token}`);
  assert.equal(landing.status, 200);
  assert.match(landing.body, /<label for="password">New password<\/label>/);
  for (const asset of ['style.css', 'passkeys.js', 'index.umd.min.js']) assert.equal((await curl('-o', '/dev/null', `${base}/account/assets/${asset}`)).status, 200, asset);
  assert.equal((await curl(`${base}/account`)).status, 303);
  const reset = await curl('-X', 'POST', `${base}/user/reset-password`, '-d', `token=${token}&password=brand-new-pass-1`);
  assert.equal(reset.status, 200, reset.body);
  server.child.kill('SIGTERM');
  assert.equal(await server.exited, 0);
  const logs = server.output();
  assert.ok(logs.includes(join(outbox, text.replace(/\.txt$/, '.eml'))), 'the log names the file');
  assert.equal(logs.includes(token), false, 'the token stays out of the log');
});
