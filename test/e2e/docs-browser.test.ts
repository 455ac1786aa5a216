import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { chromium } from 'playwright-core';
import { childEnv, freePort, startServer } from './helpers.js';

const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
const available = existsSync(CHROMIUM);
// CI installs Chromium (.ci/run); elsewhere the check runs only where a browser is installed.
const skip = !available && process.env['CI'] !== 'true' ? `no browser at ${CHROMIUM} (apt-get install chromium)` : false;

test('Swagger UI at /docs: the Authorize button logs in through /user/token and "Try it out" calls /user/user', { skip }, async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'user-services-docs-'));
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  const port = await freePort();
  const server = await startServer(childEnv({ DATA_DIR: dataDir, PORT: String(port), BCRYPT_ROUNDS: '4' }), port);
  t.after(() => server.signal('SIGKILL'));
  const base = `http://127.0.0.1:${port}`;
  const registered = await fetch(`${base}/user/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: 'username=docsuser&email=docs@example.com&password=docspass1',
  });
  assert.equal(registered.status, 201);

  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking', '--disable-component-update'],
  });
  t.after(() => browser.close());
  const page = await browser.newPage();
  const blocked: string[] = [];
  page.on('console', (message) => {
    if (/Content Security Policy/i.test(message.text())) blocked.push(message.text());
  });

  await page.goto(`${base}/docs`);
  await page.click('button.authorize');
  await page.fill('#oauth_username', 'docsuser');
  await page.fill('#oauth_password', 'docspass1');
  const tokenResponse = page.waitForResponse((response) => new URL(response.url()).pathname === '/user/token');
  await page.click('.auth-btn-wrapper button.authorize');
  assert.equal((await tokenResponse).status(), 200);
  await page.click('.btn-done');

  await page.click('#operations-user-get_user_user');
  await page.click('.try-out__btn');
  await page.click('.execute');
  const status = page.locator('.live-responses-table tbody .response-col_status').first();
  await status.waitFor();
  assert.equal((await status.innerText()).trim(), '200');
  assert.match(await page.locator('.live-responses-table tbody .response-col_description').first().innerText(), /"username": "docsuser"/);
  assert.deepEqual(blocked, [], 'the CSP blocks nothing the UI needs');
});
