import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sql } from 'drizzle-orm';
import { buildMailTestApp, deliverMail, type MailTestApp } from '../helpers/app.js';
import { databaseKinds, selectRows } from '../helpers/databases.js';
import { codeNow, enrolledUser } from '../helpers/mfa.js';
import { PageClient, textOf } from '../helpers/pages.js';
import { form, register } from '../helpers/requests.js';
import { linkIn } from '../helpers/smtp.js';
import { codeIn, newestSignInMail } from '../helpers/passwordless.js';

const PUBLIC_URL = 'http://127.0.0.1:8000';
const screenCodeOf = (html: string) => /id="screen-code">([0-9a-z-]+)</.exec(html)?.[1];
/** The link's path and query, as a browser opening it would request them. */
const pathOf = (url: string) => url.slice(PUBLIC_URL.length);

for (const kind of await databaseKinds()) {
  describe(`passwordless sign-in pages on ${kind}`, () => {
    let ctx: MailTestApp;
    before(async () => {
      ctx = await buildMailTestApp(kind, { PUBLIC_URL, MAIL_PER_ADDRESS_PER_HOUR: '100', LOCKOUT_THRESHOLD: '50' });
    });
    after(() => ctx.close());

    /** A browser asks for a code on the page: returns it, the screen code it shows, and the mail. */
    async function ask(email: string, redirectTo = '') {
      const browser = new PageClient(ctx.app);
      const login = await browser.get('/account/login');
      assert.match(login.body, /href="\/account\/login\/email"/, 'the sign-in page offers it');
      await browser.get('/account/login/email');
      const page = await browser.post('/account/login/email', { email, redirect_to: redirectTo });
      assert.equal(page.statusCode, 200, page.body);
      assert.match(textOf(page.body), /Check your mail/);
      const screenCode = screenCodeOf(page.body);
      assert.ok(screenCode, 'the page shows the code the link asks for elsewhere');
      await deliverMail(ctx.app);
      const mail = newestSignInMail(ctx.smtp.to(email))!;
      return { browser, screenCode, mail, link: pathOf(linkIn(mail).url) };
    }

    const signedInAs = async (browser: PageClient, username: string) => {
      const home = await browser.get('/account');
      assert.equal(home.statusCode, 200, home.body);
      assert.match(textOf(home.body), new RegExp(`Signed in as ${username}`));
    };

    test('code sign-in on the page: typed into the code step, signed in, sent on to the checked redirect_to', async () => {
      const user = await register(ctx.app);
      const { browser, mail } = await ask(user.email, '/account?tab=security');
      const done = await browser.post('/account/login/email/code', { email: user.email, otp: codeIn(mail), redirect_to: '/account?tab=security' });
      assert.equal(done.statusCode, 303, done.body);
      assert.equal(done.headers.location, '/account?tab=security');
      await signedInAs(browser, user.username);
    });

    test('a wrong code shows the code step again with the error on the field (401)', async () => {
      const user = await register(ctx.app);
      const { browser, mail, screenCode } = await ask(user.email);
      const wrong = codeIn(mail) === '00000000' ? '11111111' : '00000000';
      const res = await browser.post('/account/login/email/code', { email: user.email, otp: wrong, screen_code: screenCode });
      assert.equal(res.statusCode, 401);
      assert.match(res.body, /aria-invalid="true"/);
      assert.match(textOf(res.body), /That code is wrong/);
      assert.equal(screenCodeOf(res.body), screenCode, 'the screen code stays on the page');
    });

    test('link in the same browser: GET shows a button and spends nothing; the button signs this browser in and goes where the asking page meant to', async () => {
      const user = await register(ctx.app);
      const { browser, link } = await ask(user.email, '/account?tab=sessions');
      const landing = await browser.get(link);
      assert.equal(landing.statusCode, 200);
      assert.match(textOf(landing.body), /sign in to .* in this browser/);
      assert.doesNotMatch(landing.body, /name="screen_code"/);
      const token = new URL(link, PUBLIC_URL).searchParams.get('token')!;
      const done = await browser.post('/account/login/email/link', { token });
      assert.equal(done.statusCode, 303, done.body);
      assert.equal(done.headers.location, '/account?tab=sessions');
      await signedInAs(browser, user.username);
      const again = await new PageClient(ctx.app).get(link);
      assert.equal(again.statusCode, 400, 'single use');
    });

    test('a scanner GET spends nothing: after any number of GETs, by anyone, the button still works', async () => {
      const user = await register(ctx.app);
      const { browser, link } = await ask(user.email);
      for (let i = 0; i < 3; i++) assert.equal((await ctx.app.inject({ url: link, headers: { 'user-agent': 'SafeLinks scanner' } })).statusCode, 200);
      const rows = await selectRows<{ failed_attempts: number }>(ctx.database.handle.db, sql`select failed_attempts from passwordless_codes where user_id = ${user.id}`);
      assert.deepEqual(rows, [{ failed_attempts: 0 }], 'the code is live and untouched');
      await browser.get(link);
      const done = await browser.post('/account/login/email/link', { token: new URL(link, PUBLIC_URL).searchParams.get('token')! });
      assert.equal(done.statusCode, 303);
    });

    test('link in another browser: it asks for the code shown on the asking screen; without it, no session', async () => {
      const user = await register(ctx.app);
      // A redirect_to off the allow-list is dropped when asked for: the link then leads to the account page.
      const { browser: asking, link, screenCode } = await ask(user.email, 'https://evil.example/after');
      const other = new PageClient(ctx.app);
      const landing = await other.get(link);
      assert.equal(landing.statusCode, 200);
      assert.match(textOf(landing.body), /asked for in another browser/);
      assert.match(landing.body, /name="screen_code"/);
      const token = new URL(link, PUBLIC_URL).searchParams.get('token')!;
      const bare = await other.post('/account/login/email/link', { token });
      assert.equal(bare.statusCode, 422, 'the button alone does nothing here');
      const wrong = await other.post('/account/login/email/link', { token, screen_code: 'aaaa-bbbb-cccc' });
      assert.equal(wrong.statusCode, 401);
      assert.equal(other.cookies.has('account_session'), false, 'no session for a browser without the screen code');
      const done = await other.post('/account/login/email/link', { token, screen_code: screenCode.toUpperCase() });
      assert.equal(done.statusCode, 303, done.body);
      assert.equal(done.headers.location, '/account');
      await signedInAs(other, user.username);
      // The asking browser's cookie no longer opens anything: the link was spent.
      assert.equal((await asking.get(link)).statusCode, 400);
    });

    test('five wrong screen codes kill the link', async () => {
      const user = await register(ctx.app);
      const { link, screenCode } = await ask(user.email);
      const other = new PageClient(ctx.app);
      await other.get(link);
      const token = new URL(link, PUBLIC_URL).searchParams.get('token')!;
      for (let i = 0; i < 5; i++) assert.equal((await other.post('/account/login/email/link', { token, screen_code: `aaaa-bbbb-cc${i}c` })).statusCode, 401);
      assert.equal((await other.post('/account/login/email/link', { token, screen_code: screenCode })).statusCode, 400, 'the link is dead');
    });

    test('a link asked for through the API has no screen code: in a browser it asks for one, which nothing matches; the mailed code still works', async () => {
      const user = await register(ctx.app);
      await ctx.app.inject({ method: 'POST', url: '/user/passwordless/start', ...form({ email: user.email }) });
      await deliverMail(ctx.app);
      const mail = newestSignInMail(ctx.smtp.to(user.email))!;
      const browser = new PageClient(ctx.app);
      const landing = await browser.get(pathOf(linkIn(mail).url));
      assert.match(landing.body, /name="screen_code"/);
      const res = await browser.post('/account/login/email/link', { token: linkIn(mail).token, screen_code: 'aaaa-bbbb-cccc' });
      assert.equal(res.statusCode, 401);
      const viaCode = await browser.post('/account/login/email/code', { email: user.email, otp: codeIn(mail) });
      assert.equal(viaCode.statusCode, 303);
    });

    test('an account with TOTP: the link leads to the second-factor step, then in', async () => {
      const user = await enrolledUser(ctx.app, ctx.clock);
      const { browser, link } = await ask(user.email);
      await browser.get(link);
      const step = await browser.post('/account/login/email/link', { token: new URL(link, PUBLIC_URL).searchParams.get('token')! });
      assert.equal(step.statusCode, 200);
      assert.match(textOf(step.body), /Second step of sign-in/);
      const mfaToken = /name="mfa_token" value="([^"]+)"/.exec(step.body)![1]!;
      const done = await browser.post('/account/login/second-factor', { mfa_token: mfaToken, otp: codeNow(user.secret, ctx.clock) });
      assert.equal(done.statusCode, 303, done.body);
      await signedInAs(browser, user.username);
    });

    test('the forms need the CSRF token and our origin; an unknown link is a plain 400 page', async () => {
      const browser = new PageClient(ctx.app);
      await browser.get('/account/login/email');
      assert.equal((await browser.post('/account/login/email', { email: 'a@example.com', _csrf: 'forged' })).statusCode, 403);
      assert.equal((await browser.post('/account/login/email', { email: 'a@example.com' }, { origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' })).statusCode, 403);
      assert.equal((await browser.get('/account/login/email/link?token=nonsense')).statusCode, 400);
      const invalid = await browser.post('/account/login/email', { email: 'not-an-address' });
      assert.equal(invalid.statusCode, 422);
    });
  });
}
