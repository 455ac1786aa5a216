import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { test } from 'node:test';
import { TOTP } from 'otpauth';
import { chromium, type Page } from 'playwright-core';
import { buildTestApp, deliverMail } from '../helpers/app.js';
import { form } from '../helpers/requests.js';
import { linkIn, TestSmtpServer } from '../helpers/smtp.js';
import { freePort, ROOT } from './helpers.js';

const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
const available = existsSync(CHROMIUM);
// CI installs Chromium (.ci/run); elsewhere the check runs only where a browser is installed.
const skip = !available && process.env['CI'] !== 'true' ? `no browser at ${CHROMIUM} (apt-get install chromium)` : false;
/** Every page of the run is photographed here (gitignored); docs/ACCOUNT-PAGES.md shows a few, copied to docs/screenshots/. */
const SHOTS = join(ROOT, 'test-results', 'screenshots');
const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

test('account pages in Chromium: sign up, verify, TOTP, passkey, reset, sessions, deletion — accessible, nothing blocked by the CSP', { skip, timeout: 180_000 }, async (t) => {
  mkdirSync(SHOTS, { recursive: true });
  const smtp = await TestSmtpServer.start();
  t.after(() => smtp.stop());
  const port = await freePort();
  // WebAuthn needs a secure context and an RP id that is a domain: http://localhost is both (an IP address is not an RP id).
  const base = `http://localhost:${port}`;
  const ctx = await buildTestApp('pglite', { SMTP_URL: smtp.url, PUBLIC_URL: base });
  t.after(() => ctx.close());
  await ctx.app.listen({ port, host: '127.0.0.1' });

  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--disable-background-networking',
      '--disable-component-update',
      // localhost straight to the loopback address the app listens on (no ::1 attempt first).
      '--host-resolver-rules=MAP localhost 127.0.0.1',
    ],
  });
  t.after(() => browser.close());
  // A narrow window keeps the screenshots small (docs/ACCOUNT-PAGES.md shows three of them).
  const page = await browser.newPage({ viewport: { width: 800, height: 600 } });
  page.setDefaultTimeout(15_000);
  // On a failure, the page it happened on (its text) goes to the test output.
  t.after(async () => {
    if (!page.isClosed()) await page.screenshot({ path: join(SHOTS, 'last.png'), fullPage: true }).catch(() => undefined);
  });
  const blocked: string[] = [];
  page.on('console', (message) => {
    if (/Content Security Policy|Refused to/i.test(message.text())) blocked.push(message.text());
  });
  const audited: string[] = [];

  /** axe-core on the page as it is (injected through DevTools, which the CSP does not govern), then a screenshot. */
  async function check(name: string) {
    await page.evaluate(AXE);
    const violations = (await page.evaluate(async () => {
      const result = await (window as unknown as { axe: { run(): Promise<{ violations: { id: string; impact: string; nodes: { html: string }[] }[] }> } }).axe.run();
      return result.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.html).slice(0, 3) }));
    })) as { id: string; impact: string; nodes: string[] }[];
    const serious = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
    assert.deepEqual(serious, [], `axe on ${name}`);
    if (violations.length > 0) t.diagnostic(`axe on ${name}, below serious: ${violations.map((v) => `${v.id} (${v.impact})`).join(', ')}`);
    audited.push(name);
    await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
  }
  const totpCode = (secret: string) => new TOTP({ secret }).generate({ timestamp: ctx.clock.now().getTime() });
  const heading = (p: Page) => p.locator('h1').innerText();
  const signOut = async () => {
    await page.getByRole('button', { name: 'Sign out', exact: true }).click();
    await page.waitForURL(`${base}/account/login`);
  };
  const username = 'browseruser';
  const email = 'browser@example.com';
  let password = 'correct-horse-battery-1';

  // Sign up: signed in at once, the verification mail on its way.
  await page.goto(`${base}/account/signup`);
  await check('signup');
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill('password123');
  await page.getByRole('button', { name: 'Create the account' }).click();
  // A refused password: the error is in the page, the other fields kept, focus on the field.
  assert.match(await page.locator('#password-error').innerText(), /common|breached/i);
  assert.equal(await page.getByLabel('Username').inputValue(), username);
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'password');
  await check('signup-error');
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Create the account' }).click();
  await page.waitForURL(`${base}/account`);
  assert.match(await page.locator('#profile-h').locator('..').innerText(), /not confirmed/);

  // Verify through the mail the SMTP server caught: opening the link shows a button; the button confirms.
  await deliverMail(ctx.app);
  const verification = linkIn(smtp.to(email).find((m) => /confirm your e-mail address/.test(m.subject))!);
  assert.ok(verification.url.startsWith(`${base}/account/verify?token=`), verification.url);
  await page.goto(verification.url);
  await check('verify');
  await page.getByRole('button', { name: 'Confirm my address' }).click();
  assert.match(await page.locator('main').innerText(), /your e-mail address is confirmed/);
  await page.goto(`${base}/account`);
  assert.match(await page.locator('#profile-h').locator('..').innerText(), /confirmed/);
  assert.doesNotMatch(await page.locator('#profile-h').locator('..').innerText(), /not confirmed/);

  // Sign out, sign in (a wrong password first: the error shows, focus on the password).
  await signOut();
  await page.getByLabel('Username or email').fill(username);
  await page.getByLabel('Password').fill('not-the-password');
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  assert.match(await page.getByRole('alert').innerText(), /Incorrect username or password/);
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'password');
  await check('login-error');
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.waitForURL(`${base}/account`);
  await check('account');

  // Enrol TOTP: the secret read from the page, the code computed as an app would.
  await page.locator('#totp-current_password').fill(password);
  await page.getByRole('button', { name: 'Set up the second factor' }).click();
  assert.equal(await heading(page), 'Set up the second factor');
  await check('totp-enrol');
  const secret = (await page.locator('#totp-secret').innerText()).trim();
  await page.getByLabel('Code from your authenticator app').fill(totpCode(secret));
  await page.getByRole('button', { name: 'Turn on the second factor' }).click();
  assert.equal(await heading(page), 'Your recovery codes');
  assert.equal(await page.locator('#recovery-codes li').count(), 10);
  await check('recovery-codes');

  // This browser signed in with the password alone: with the factor on, it adds no passkey without a code (issue 21).
  await page.goto(`${base}/account`);
  await page.locator('#passkey-password').fill(password);
  await page.getByRole('button', { name: 'Add a passkey' }).click();
  await page.locator('#passkey-status', { hasText: 'No passkey was added' }).waitFor();
  assert.match(await page.locator('#passkey-status').innerText(), /second factor is on/);

  // Sign in with the second step.
  await page.goto(`${base}/account`);
  await signOut();
  await check('login');
  await page.getByLabel('Username or email').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  assert.equal(await heading(page), 'Second step of sign-in');
  await check('login-second-factor');
  ctx.clock.advance(30_000);
  await page.getByLabel('Code from your authenticator app').fill(totpCode(secret));
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.waitForURL(`${base}/account`);

  // Add a passkey with Chromium's virtual authenticator, then sign in with it (no username typed).
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true },
  });
  await page.locator('#passkey-password').fill(password);
  await page.getByLabel('Name of the new passkey').fill('Test laptop');
  await page.getByRole('button', { name: 'Add a passkey' }).click();
  await page.waitForURL(`${base}/account?notice=passkey_added`);
  assert.equal(await page.locator('.passkey input[name="name"]').inputValue(), 'Test laptop');
  await check('account-with-passkey');
  await signOut();
  await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
  await page.waitForURL(`${base}/account`);
  assert.match(await page.locator('tr.session.current').innerText(), /two factors/);

  // Forgot the password: the mailed link opens the reset page, which sets a new one and signs everyone out.
  await signOut();
  await page.getByRole('link', { name: 'Forgot your password?' }).click();
  await check('forgot-password');
  await page.getByLabel('Email').fill(email);
  await page.getByRole('button', { name: 'Send the link' }).click();
  assert.match(await page.locator('main').innerText(), /a message with a link/);
  await deliverMail(ctx.app);
  const reset = linkIn(smtp.to(email).find((m) => /reset your password/.test(m.subject))!);
  assert.ok(reset.url.startsWith(`${base}/account/reset-password?token=`), reset.url);
  await page.goto(reset.url);
  await check('reset-password');
  password = 'a-new-and-better-secret-2';
  await page.getByLabel('New password').fill(password);
  await page.getByRole('button', { name: 'Set the new password' }).click();
  assert.equal(await heading(page), 'Password changed');
  await check('password-changed');
  // The reset removed the passkey (issue 21): it no longer signs in, and the notice names it.
  await page.getByRole('link', { name: 'Sign in' }).click();
  await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
  await page.locator('#passkey-status', { hasText: 'Could not sign in with a passkey' }).waitFor();
  await deliverMail(ctx.app);
  const resetNotice = smtp.to(email).filter((m) => /your password was changed/.test(m.subject)).at(-1)!;
  assert.match(resetNotice.decoded, /these were removed: the passkey \W*Test laptop/);
  await page.getByLabel('Username or email').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  ctx.clock.advance(30_000);
  await page.getByLabel('Code from your authenticator app').fill(totpCode(secret));
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.waitForURL(`${base}/account`);
  assert.match(await page.locator('#passkeys-h').locator('..').innerText(), /No passkey yet/);

  // Another session (an API client's), ended from the page.
  const first = await ctx.app.inject({ method: 'POST', url: '/user/token', ...form({ username, password }) });
  ctx.clock.advance(30_000);
  const other = await ctx.app.inject({
    method: 'POST',
    url: '/user/token',
    ...form({ grant_type: 'mfa_otp', mfa_token: (first.json() as { mfa_token: string }).mfa_token, otp: totpCode(secret) }),
  });
  assert.equal(other.statusCode, 200, other.body);
  const otherToken = (other.json() as { access_token: string }).access_token;
  await page.reload();
  assert.equal(await page.locator('tr.session').count(), 2);
  await page.locator('tr.session:not(.current)').getByRole('button', { name: /End this session/ }).click();
  await page.waitForURL(`${base}/account?notice=session`);
  assert.equal(await page.locator('tr.session').count(), 1);
  const ended = await ctx.app.inject({ method: 'GET', url: '/user/user', headers: { authorization: `Bearer ${otherToken}` } });
  assert.equal(ended.statusCode, 401, 'the ended session’s access token no longer works');

  // Delete the account.
  await page.locator('#delete-current_password').fill(password);
  await page.getByRole('button', { name: 'Delete my account' }).click();
  assert.equal(await heading(page), 'Account deleted');
  await check('account-deleted');
  const gone = await ctx.app.inject({ method: 'POST', url: '/user/token', ...form({ username, password }) });
  assert.equal(gone.statusCode, 401);

  assert.deepEqual(blocked, [], 'the CSP blocks nothing the pages need');
  assert.ok(audited.length >= 14, `pages audited: ${audited.join(', ')}`);
});
