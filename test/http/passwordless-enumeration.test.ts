import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { LightMyRequestResponse } from 'fastify';
import { buildMailTestApp, deliverMail, type MailTestApp } from '../helpers/app.js';
import { databaseKinds } from '../helpers/databases.js';
import { PageClient } from '../helpers/pages.js';
import { form, register, uniqueName } from '../helpers/requests.js';

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

/**
 * "Send me a code" must not tell which addresses have accounts (ASVS 5.0 6.3.8; issue 25): the same status,
 * body and headers, and median times within a factor of 1.5 — a comparison of medians over many requests,
 * alternating which address goes first; the deferred lookup and mail are let finish between probes so that
 * each probe times its own answer only (as test/http/mail-enumeration.test.ts does for forgot-password).
 */
for (const kind of await databaseKinds()) {
  describe(`passwordless start does not tell which addresses have accounts, on ${kind}`, () => {
    let ctx: MailTestApp;
    before(async () => {
      ctx = await buildMailTestApp(kind, { MAIL_PER_ADDRESS_PER_HOUR: '100' });
    });
    after(() => ctx.close());

    /**
     * Headers without the per-response values (request id, date, the new cookies' values) and the length,
     * which the bodies' own comparison covers (the page echoes the address typed, of its own length).
     */
    const comparable = (res: LightMyRequestResponse) => {
      const { 'x-request-id': _id, date: _date, 'set-cookie': cookies, 'content-length': _length, ...rest } = res.headers;
      const names = [cookies ?? []].flat().map((c) => String(c).replace(/=[^;]*/, '=…'));
      return { ...rest, 'set-cookie': names };
    };

    async function compare(t: { diagnostic(message: string): void }, send: (email: string) => Promise<LightMyRequestResponse>, sameBody: (a: string, b: string) => void) {
      const user = await register(ctx.app);
      const unknown = `${uniqueName('nobody')}@example.com`;
      const probe = async (email: string) => {
        const started = process.hrtime.bigint();
        const res = await send(email);
        const elapsed = Number(process.hrtime.bigint() - started);
        await ctx.app.deps.deferred.settled();
        await new Promise((resolve) => setTimeout(resolve, 2));
        return { res, elapsed };
      };
      for (let i = 0; i < 5; i++) await probe(i % 2 ? user.email : unknown);
      const times = { known: [] as number[], unknown: [] as number[] };
      for (let i = 0; i < 41; i++) {
        const knownFirst = i % 2 === 0;
        const first = await probe(knownFirst ? user.email : unknown);
        const second = await probe(knownFirst ? unknown : user.email);
        const [a, b] = knownFirst ? [first, second] : [second, first];
        assert.equal(a.res.statusCode, b.res.statusCode);
        sameBody(a.res.body.replaceAll(user.email, 'ADDRESS'), b.res.body.replaceAll(unknown, 'ADDRESS'));
        assert.deepEqual(comparable(a.res), comparable(b.res));
        times.known.push(a.elapsed);
        times.unknown.push(b.elapsed);
      }
      const ratio = median(times.known) / median(times.unknown);
      const shown = `median known ${(median(times.known) / 1e6).toFixed(2)} ms / unknown ${(median(times.unknown) / 1e6).toFixed(2)} ms = ${ratio.toFixed(2)}`;
      t.diagnostic(shown);
      assert.ok(ratio < 1.5 && ratio > 1 / 1.5, shown);
      const { sent } = await deliverMail(ctx.app);
      assert.ok(sent >= 41, `the known address did get its mails (${sent})`);
      assert.equal(ctx.smtp.to(unknown).length, 0, 'the unknown one got none');
    }

    test('POST /user/passwordless/start: 202, same body and headers, median times within 1.5×', async (t) => {
      await compare(t, (email) => ctx.app.inject({ method: 'POST', url: '/user/passwordless/start', ...form({ email }) }), (a, b) => assert.equal(a, b));
    });

    test('the page "Email me a sign-in code": same page (but for its fresh secrets) and headers, median times within 1.5×', async (t) => {
      const browser = new PageClient(ctx.app);
      await browser.get('/account/login/email');
      // Each answer has a new CSRF token and screen code, whatever the address: those are masked.
      const masked = (html: string) => html.replace(/content="[^"]+"|value="[A-Za-z0-9_-]{20,}"/g, 'TOKEN').replace(/[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{4}/g, 'CODE');
      await compare(t, (email) => browser.post('/account/login/email', { email }), (a, b) => assert.equal(masked(a), masked(b)));
    });
  });
}
