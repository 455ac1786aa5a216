import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { chromium, type Page } from 'playwright-core';
import { deriveKey } from '../../src/crypto/aead.js';
import { createClient } from '../../src/services/provider/clients.js';
import { buildTestApp, TEST_SECRET_KEY } from '../helpers/app.js';
import { codeNow, enrolledUser } from '../helpers/mfa.js';
import { register } from '../helpers/requests.js';
import { freePort } from './helpers.js';

const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
const skip = !existsSync(CHROMIUM) && process.env['CI'] !== 'true' ? `no browser at ${CHROMIUM} (apt-get install chromium)` : false;
// The package's browser bundle (global `oidc`), found beside its entry point: its exports map names no such path.
const OIDC_CLIENT = readFileSync(join(dirname(createRequire(import.meta.url).resolve('oidc-client-ts')), '..', 'browser', 'oidc-client-ts.min.js'), 'utf8');

/** A single-page application on its own origin, using oidc-client-ts (PKCE S256, state, nonce) at its defaults. */
function spaPages(authority: string, clientId: string, origin: string): Record<string, string> {
  const settings = JSON.stringify({ authority, client_id: clientId, redirect_uri: `${origin}/callback`, scope: 'openid profile email', loadUserInfo: true });
  return {
    '/': `<!doctype html><html lang="en"><head><title>Shop</title><script src="/oidc-client-ts.js"></script></head><body><main><h1>Shop</h1><button id="sign-in">Sign in</button><script>
      const users = new oidc.UserManager(${settings});
      document.getElementById('sign-in').addEventListener('click', () => users.signinRedirect());
    </script></main></body></html>`,
    '/callback': `<!doctype html><html lang="en"><head><title>Shop</title><script src="/oidc-client-ts.js"></script></head><body><main><p id="result">…</p><script>
      new oidc.UserManager(${settings}).signinRedirectCallback().then(
        (user) => { document.getElementById('result').textContent = 'signed in as ' + user.profile.preferred_username + ' (' + user.profile.sub + ')'; },
        (error) => { document.getElementById('result').textContent = 'failed: ' + error.message; });
    </script></main></body></html>`,
    '/oidc-client-ts.js': OIDC_CLIENT,
  };
}

/**
 * Issue 23 in a real browser: a public single-page client (oidc-client-ts in Chromium) signs in through our
 * pages — with a password, and with a password and TOTP — asks consent as a third party, and gets its
 * tokens; no page of ours is blocked by its CSP on the way (form-action included).
 */
test('a single-page app signs in through us with oidc-client-ts: password, then password + TOTP; consent; nothing blocked by the CSP', { skip, timeout: 180_000 }, async (t) => {
  const port = await freePort();
  const base = `http://localhost:${port}`;
  const ctx = await buildTestApp('pglite', { PROVIDER_ENABLED: 'true', PUBLIC_URL: base });
  t.after(() => ctx.close());
  await ctx.app.listen({ port, host: '127.0.0.1' });

  const spaPort = await freePort();
  const spaOrigin = `http://127.0.0.1:${spaPort}`;
  const { client } = await createClient(
    { db: ctx.app.deps.db, clock: ctx.clock, clientSecretKey: deriveKey(TEST_SECRET_KEY, 'provider-client-secret') },
    { name: 'Shop', redirectUris: [`${spaOrigin}/callback`], postLogoutRedirectUris: [], grantTypes: ['authorization_code'], public: true, firstParty: false },
  );
  const pages = spaPages(`${base}/oidc`, client.client_id, spaOrigin);
  const spa = createServer((request, response) => {
    const body = pages[new URL(request.url ?? '/', spaOrigin).pathname];
    response.writeHead(body ? 200 : 404, { 'content-type': request.url?.endsWith('.js') ? 'text/javascript' : 'text/html' }).end(body ?? '');
  });
  await new Promise<void>((resolve) => spa.listen(spaPort, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => spa.close(() => resolve())));

  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking', '--disable-component-update', '--host-resolver-rules=MAP localhost 127.0.0.1'],
  });
  t.after(() => browser.close());
  const blocked: string[] = [];
  async function freshBrowser(): Promise<Page> {
    const page = await (await browser.newContext()).newPage();
    page.setDefaultTimeout(15_000);
    page.on('console', (message) => {
      if (/Content Security Policy|Refused to/i.test(message.text())) blocked.push(message.text());
    });
    return page;
  }

  // Password only.
  const shopper = await register(ctx.app, 'shopper', 'correct-horse-battery-1');
  let page = await freshBrowser();
  await page.goto(spaOrigin);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(/\/account\/login/);
  await page.getByLabel('Username or email').fill(shopper.username);
  await page.getByLabel('Password').fill('correct-horse-battery-1');
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.getByRole('heading', { name: 'Allow Shop to use your account?' }).waitFor();
  await page.getByRole('button', { name: 'Allow' }).click();
  await page.waitForURL(`${spaOrigin}/callback**`);
  await page.getByText(/signed in as|failed/).waitFor();
  assert.match(await page.locator('#result').textContent() ?? '', /signed in as shopper \(\d+\)/);

  // Password and TOTP: the second step inside the authorization request.
  const enrolled = await enrolledUser(ctx.app, ctx.clock);
  page = await freshBrowser();
  await page.goto(spaOrigin);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(/\/account\/login/);
  await page.getByLabel('Username or email').fill(enrolled.username);
  await page.getByLabel('Password').fill(enrolled.password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.getByLabel('Code from your authenticator app').fill(codeNow(enrolled.secret, ctx.clock));
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.getByRole('heading', { name: 'Allow Shop to use your account?' }).waitFor();
  await page.getByRole('button', { name: 'Allow' }).click();
  await page.waitForURL(`${spaOrigin}/callback**`);
  await page.getByText(new RegExp(`signed in as ${enrolled.username} \\(${enrolled.id}\\)`)).waitFor();

  assert.deepEqual(blocked, []);
});
