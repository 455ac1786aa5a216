import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { test } from 'node:test';
import { chromium, type Page } from 'playwright-core';
import { buildTestApp, deliverMail } from '../helpers/app.js';
import { codeIn, newestSignInMail } from '../helpers/passwordless.js';
import { register } from '../helpers/requests.js';
import { linkIn, TestSmtpServer } from '../helpers/smtp.js';
import { freePort, ROOT } from './helpers.js';

const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
const available = existsSync(CHROMIUM);
const skip = !available && process.env['CI'] !== 'true' ? `no browser at ${CHROMIUM} (apt-get install chromium)` : false;
const SHOTS = join(ROOT, 'test-results', 'screenshots');
const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/**
 * Issue 25 in a real browser: "Email me a sign-in code" from the sign-in page, the code typed in; the
 * mailed link opened in the same browser (one button) and in a second browser (a separate profile: no
 * cookies shared), which must type the code shown on the first one's screen. Every page axe-clean, no CSP
 * violation, each photographed (the README shows two).
 */
test('passwordless sign-in in Chromium: code, link in the same browser, link in another browser — accessible, nothing blocked by the CSP', { skip, timeout: 180_000 }, async (t) => {
  mkdirSync(SHOTS, { recursive: true });
  const smtp = await TestSmtpServer.start();
  t.after(() => smtp.stop());
  const port = await freePort();
  const base = `http://localhost:${port}`;
  const ctx = await buildTestApp('pglite', { SMTP_URL: smtp.url, PUBLIC_URL: base, MAIL_PER_ADDRESS_PER_HOUR: '20' });
  t.after(() => ctx.close());
  await ctx.app.listen({ port, host: '127.0.0.1' });
  const user = await register(ctx.app, 'shopper', 'correct-horse-battery-1');

  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking', '--disable-component-update', '--host-resolver-rules=MAP localhost 127.0.0.1'],
  });
  t.after(() => browser.close());
  const blocked: string[] = [];
  /** A browser of its own: cookies are not shared between two of these. */
  async function newBrowser(): Promise<Page> {
    const context = await browser.newContext({ viewport: { width: 800, height: 600 } });
    const page = await context.newPage();
    page.setDefaultTimeout(15_000);
    page.on('console', (message) => {
      if (/Content Security Policy|Refused to/i.test(message.text())) blocked.push(message.text());
    });
    return page;
  }
  async function check(page: Page, name: string) {
    await page.evaluate(AXE);
    const violations = (await page.evaluate(async () => {
      const result = await (window as unknown as { axe: { run(): Promise<{ violations: { id: string; impact: string; nodes: { html: string }[] }[] }> } }).axe.run();
      return result.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.html).slice(0, 3) }));
    })) as { id: string; impact: string; nodes: string[] }[];
    assert.deepEqual(violations.filter((v) => v.impact === 'serious' || v.impact === 'critical'), [], `axe on ${name}`);
    if (violations.length > 0) t.diagnostic(`axe on ${name}, below serious: ${violations.map((v) => `${v.id} (${v.impact})`).join(', ')}`);
    await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
  }
  /** From the sign-in page to the code step; returns the screen code shown and the mail that arrived. */
  async function askForCode(page: Page) {
    await page.goto(`${base}/account/login`);
    await page.getByRole('link', { name: 'Email me a sign-in code' }).click();
    await page.waitForURL(`${base}/account/login/email`);
    await check(page, 'passwordless-start');
    await page.getByLabel('Email').fill(user.email);
    await page.getByRole('button', { name: 'Email me a sign-in code' }).click();
    assert.equal(await page.locator('h1').innerText(), 'Check your mail');
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'otp', 'focus on the code field');
    const screenCode = (await page.locator('#screen-code').innerText()).trim();
    await deliverMail(ctx.app);
    return { screenCode, mail: newestSignInMail(smtp.to(user.email))! };
  }
  const signedIn = async (page: Page) => {
    await page.waitForURL(`${base}/account`);
    assert.match(await page.locator('header').innerText(), /Signed in as shopper/);
  };

  // 1. The code, typed in (a wrong one first: the error is on the field).
  const first = await newBrowser();
  const { mail: codeMail } = await askForCode(first);
  await check(first, 'passwordless-code');
  const code = codeIn(codeMail);
  await first.getByLabel('Sign-in code from the mail').fill(code === '00000000' ? '11111111' : '00000000');
  await first.getByRole('button', { name: 'Sign in', exact: true }).click();
  assert.match(await first.locator('#otp-error').innerText(), /wrong, used or expired/);
  await check(first, 'passwordless-code-error');
  await first.getByLabel('Sign-in code from the mail').fill(code);
  await first.getByRole('button', { name: 'Sign in', exact: true }).click();
  await signedIn(first);
  await first.context().close();

  // 2. The link, in the browser that asked: a page with one button.
  const asking = await newBrowser();
  const { mail: linkMail, screenCode } = await askForCode(asking);
  const link = linkIn(linkMail).url;
  assert.ok(link.startsWith(`${base}/account/login/email/link?token=`), link);
  await asking.goto(link);
  await check(asking, 'passwordless-link');
  assert.equal(await asking.getByLabel('Code shown where you asked').count(), 0, 'no code asked of the browser that asked');
  await asking.getByRole('button', { name: 'Sign in', exact: true }).click();
  await signedIn(asking);

  // 3. The link, in another browser: it asks for the code on the asking screen, and without it gets nothing.
  await asking.context().close();
  const requester = await newBrowser();
  const { mail: otherMail, screenCode: otherScreenCode } = await askForCode(requester);
  assert.notEqual(otherScreenCode, screenCode);
  const other = await newBrowser();
  await other.goto(linkIn(otherMail).url);
  assert.match(await other.locator('main').innerText(), /asked for in another browser/);
  await check(other, 'passwordless-link-other-browser');
  await other.getByLabel('Code shown where you asked').fill('aaaa-bbbb-cccc');
  await other.getByRole('button', { name: 'Sign in', exact: true }).click();
  assert.match(await other.locator('#screen_code-error').innerText(), /not the one shown/);
  assert.equal((await other.context().cookies()).some((c) => c.name === 'account_session'), false, 'no session without the screen code');
  await other.getByLabel('Code shown where you asked').fill(otherScreenCode);
  await other.getByRole('button', { name: 'Sign in', exact: true }).click();
  await signedIn(other);

  assert.deepEqual(blocked, [], 'nothing blocked by the CSP');
});
