// test-runner: alone (it compares response times: other test processes on the same cores would add noise)
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { buildMailTestApp, deliverMail, type MailTestApp } from '../helpers/app.js';
import { databaseKinds } from '../helpers/databases.js';
import { form, register, uniqueName } from '../helpers/requests.js';
import type { TestSmtpServer } from '../helpers/smtp.js';

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

/**
 * The issue asks for this timing bound explicitly: an address with an account and one without must be
 * answered in median times within a factor of 1.5 (ASVS 5.0 6.3.8). The endpoints answer before looking
 * the address up; the lookup and the mail run afterwards, and are let finish between probes so that each
 * probe times its own answer only.
 */
for (const kind of await databaseKinds()) {
  describe(`forgot-password and request-verify-token do not tell which addresses have accounts, on ${kind}`, () => {
    let ctx: MailTestApp;
    let smtp: TestSmtpServer;
    before(async () => {
      ctx = await buildMailTestApp(kind, { MAIL_PER_ADDRESS_PER_HOUR: '100' });
      smtp = ctx.smtp;
    });
    after(() => ctx.close());

    for (const url of ['/user/forgot-password', '/user/request-verify-token']) {
      test(`${url}: same status, body and headers, median times within 1.5×`, async (t) => {
        const user = await register(ctx.app);
        const unknown = `${uniqueName('nobody')}@example.com`;
        const probe = async (email: string) => {
          const started = process.hrtime.bigint();
          const res = await ctx.app.inject({ method: 'POST', url, ...form({ email }) });
          const elapsed = Number(process.hrtime.bigint() - started);
          await ctx.app.deps.deferred.settled();
          await new Promise((resolve) => setTimeout(resolve, 2));
          return { res, elapsed };
        };
        for (let i = 0; i < 5; i++) await probe(i % 2 ? user.email : unknown);
        const times = { known: [] as number[], unknown: [] as number[] };
        for (let i = 0; i < 41; i++) {
          // Alternating which goes first, so neither always follows the other's background work.
          const knownFirst = i % 2 === 0;
          const first = await probe(knownFirst ? user.email : unknown);
          const second = await probe(knownFirst ? unknown : user.email);
          const [a, b] = knownFirst ? [first, second] : [second, first];
          assert.equal(a.res.statusCode, 202);
          assert.equal(b.res.statusCode, 202);
          assert.equal(a.res.body, b.res.body);
          assert.deepEqual(Object.keys(a.res.headers).sort(), Object.keys(b.res.headers).sort());
          times.known.push(a.elapsed);
          times.unknown.push(b.elapsed);
        }
        const ratio = median(times.known) / median(times.unknown);
        const shown = `median known ${(median(times.known) / 1e6).toFixed(2)} ms / unknown ${(median(times.unknown) / 1e6).toFixed(2)} ms = ${ratio.toFixed(2)}`;
        t.diagnostic(shown);
        assert.ok(ratio < 1.5 && ratio > 1 / 1.5, shown);
        // The known address did get its mails (so the work was real, only not on the answer's path).
        const { sent } = await deliverMail(ctx.app);
        assert.ok(sent >= 41, `${sent} mails`);
      });
    }
  });
}
