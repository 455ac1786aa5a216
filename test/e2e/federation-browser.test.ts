import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import { chromium } from 'playwright-core';
import { sql } from 'drizzle-orm';
import { buildTestApp } from '../helpers/app.js';
import { selectRows } from '../helpers/databases.js';
import { startOidcProvider, type ProviderAccounts } from '../helpers/federation-idp.js';
import { freePort } from './helpers.js';

const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
const skip = !existsSync(CHROMIUM) && process.env['CI'] !== 'true' ? `no browser at ${CHROMIUM} (apt-get install chromium)` : false;

test('Sign in with a provider in Chromium: its login and consent pages, back signed in; link again from the account page; nothing blocked by the CSP', { skip, timeout: 120_000 }, async (t) => {
  const port = await freePort();
  const providerPort = await freePort();
  const base = `http://localhost:${port}`;
  const accounts: ProviderAccounts = new Map([['alice', { email: 'alice@idp.example', email_verified: true }]]);
  const provider = await startOidcProvider({
    port: providerPort,
    clientId: 'user-services',
    clientSecret: 'browser-test-client-secret',
    redirectUri: `${base}/account/oauth/panva/callback`,
    accounts,
  });
  t.after(() => provider.close());
  const ctx = await buildTestApp('pglite', {
    PUBLIC_URL: base,
    OIDC_PROVIDERS: 'panva',
    OIDC_PANVA_ISSUER: provider.issuer,
    OIDC_PANVA_CLIENT_ID: 'user-services',
    OIDC_PANVA_CLIENT_SECRET: 'browser-test-client-secret',
    OIDC_PANVA_LABEL: 'Panva ID',
  });
  t.after(() => ctx.close());
  await ctx.app.listen({ port, host: '127.0.0.1' });

  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking', '--disable-component-update', '--host-resolver-rules=MAP localhost 127.0.0.1'],
  });
  t.after(() => browser.close());
  const page = await browser.newPage();
  page.setDefaultTimeout(15_000);
  const blocked: string[] = [];
  page.on('console', (message) => {
    if (/Content Security Policy|Refused to/i.test(message.text()) && page.url().startsWith(base)) blocked.push(message.text());
  });

  await page.goto(`${base}/account/login`);
  // A button of a form that posts the page's CSRF token (issue 21): no cross-site link can start it.
  await page.getByRole('button', { name: 'Sign in with Panva ID' }).click();
  // The provider's own (development) pages: log in as alice, then consent.
  await page.waitForURL(`${provider.issuer}/**`);
  await page.locator('input[name="login"]').fill('alice');
  await page.locator('input[name="password"]').fill('any password');
  await page.locator('button[type="submit"]').click();
  await page.locator('button[type="submit"]', { hasText: 'Continue' }).click();
  await page.waitForURL(`${base}/account`);
  assert.match(await page.locator('#profile-h').locator('..').innerText(), /alice@idp\.example/);
  const identities = page.locator('#identities-h').locator('..');
  assert.match(await identities.innerText(), /Panva ID/);

  // Linking starts from a form on the account page (its redirect to the provider passes form-action); the
  // provider remembers alice, so the browser comes straight back.
  await page.getByRole('button', { name: 'Link Panva ID' }).click();
  await page.waitForURL(`${base}/account?notice=identity_linked`);
  assert.match(await page.getByRole('status').first().innerText(), /linked/);
  const [user] = await selectRows<{ id: number; n: number }>(ctx.app.deps.db, sql`select u.id, count(i.id)::int as n from users u join linked_identities i on i.user_id = u.id where u.email = 'alice@idp.example' group by u.id`);
  assert.equal(user!.n, 1);

  // The only way in cannot be unlinked.
  await page.getByRole('button', { name: 'Unlink panva' }).click();
  assert.match(await page.getByRole('alert').innerText(), /last way to sign in/);
  assert.deepEqual(blocked, []);
});
