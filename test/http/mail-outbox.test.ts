import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, test } from 'node:test';
import { sql } from 'drizzle-orm';
import { buildMailTestApp, buildTestApp, deliverMail } from '../helpers/app.js';
import { databaseKinds, selectRows } from '../helpers/databases.js';
import { form, register } from '../helpers/requests.js';
import { linkIn } from '../helpers/smtp.js';
import { queueNotice } from '../../src/services/account/account-mail.js';
import { sendPasswordResetForUser } from '../../src/services/account/password-reset.js';

for (const kind of await databaseKinds()) {
  describe(`the mail outbox on ${kind}`, () => {
    test('SMTP down: the request still answers at once, the mail waits, retries with backoff, and is delivered when SMTP is back', async (t) => {
      const ctx = await buildMailTestApp(kind);
      const smtp = ctx.smtp;
      t.after(() => ctx.close());
      const user = await register(ctx.app);
      await deliverMail(ctx.app);
      await smtp.stop();

      const res = await ctx.app.inject({ method: 'POST', url: '/user/forgot-password', ...form({ email: user.email }) });
      assert.equal(res.statusCode, 202);
      assert.deepEqual(await deliverMail(ctx.app), { sent: 0, failed: 1 });
      const [row] = await selectRows<{ attempts: number; last_error: string; sent_at: Date | null }>(
        ctx.database.handle.db,
        sql`select attempts, last_error, sent_at from mail_outbox where kind = 'reset_password' and user_id = ${user.id}`,
      );
      assert.equal(row!.attempts, 1);
      assert.equal(row!.sent_at, null);
      assert.match(row!.last_error, /ECONNREFUSED/);

      // Not due again before its backoff (30 s), whatever the SMTP server's state.
      await smtp.resume();
      assert.deepEqual(await ctx.app.mailSender.runOnce(), { sent: 0, failed: 0 });
      ctx.clock.advance(31_000);
      assert.deepEqual(await ctx.app.mailSender.runOnce(), { sent: 1, failed: 0 });
      const mail = smtp.to(user.email).at(-1)!;
      assert.match(mail.subject, /reset your password/);
      const { token } = linkIn(mail);
      const reset = await ctx.app.inject({ method: 'POST', url: '/user/reset-password', payload: { token, password: 'a-brand-new-secret' } });
      assert.equal(reset.statusCode, 200);
      const [sent] = await selectRows<{ text_body: string | null; sent_at: Date | null }>(
        ctx.database.handle.db,
        sql`select text_body, sent_at from mail_outbox where kind = 'reset_password' and user_id = ${user.id}`,
      );
      assert.notEqual(sent!.sent_at, null);
      assert.equal(sent!.text_body, null, 'a delivered mail’s body (and its token) is cleared');
    });

    test('without SMTP_URL mail becomes an .eml file under DATA_DIR/outbox/ and the log names the file, never the token', async (t) => {
      const dataDir = mkdtempSync(join(tmpdir(), 'user-services-outbox-'));
      let logs = '';
      const stream = new Writable({
        write(chunk, _encoding, done) {
          logs += chunk;
          done();
        },
      });
      const ctx = await buildTestApp(kind, { DATA_DIR: dataDir, PUBLIC_URL: 'http://localhost:8000' }, { logger: { level: 'info', stream } });
      t.after(async () => {
        await ctx.close();
        rmSync(dataDir, { recursive: true, force: true });
      });
      const user = await register(ctx.app);
      await ctx.app.inject({ method: 'POST', url: '/user/forgot-password', ...form({ email: user.email }) });
      assert.deepEqual(await deliverMail(ctx.app), { sent: 1, failed: 0 });
      const files = readdirSync(join(dataDir, 'outbox')).filter((f) => f.endsWith('.eml'));
      assert.equal(files.length, 1);
      const text = readFileSync(join(dataDir, 'outbox', files[0]!.replace(/\.eml$/, '.txt')), 'utf8');
      assert.match(text, /^Choose a new password: http:\/\/localhost:8000\/account\/reset-password\?token=[A-Za-z0-9_-]{43}$/m);
      const eml = readFileSync(join(dataDir, 'outbox', files[0]!), 'utf8').replace(/=\r?\n/g, '').replace(/=3D/g, '=');
      const token = /reset-password\?token=([A-Za-z0-9_-]+)/.exec(eml)![1]!;
      assert.match(eml, /http:\/\/localhost:8000\/account\/reset-password\?token=/);
      assert.ok(logs.includes(join(dataDir, 'outbox', files[0]!)), 'the log says where the mail is');
      assert.equal(logs.includes(token), false, 'the token stays out of the log');
    });

    test('exported for other services: a reset mail on a user’s behalf, and a notice of a given kind', async (t) => {
      const ctx = await buildMailTestApp(kind);
      const smtp = ctx.smtp;
      t.after(() => ctx.close());
      const user = await register(ctx.app);
      assert.equal(await sendPasswordResetForUser(ctx.app.deps, user.id, { adminId: 7 }), true);
      assert.equal(await queueNotice(ctx.app.deps, user.id, 'second_factor_enabled'), true);
      assert.equal(await queueNotice(ctx.app.deps, 999_999, 'second_factor_enabled'), false);
      await deliverMail(ctx.app);
      const subjects = smtp.to(user.email).map((m) => m.subject);
      assert.ok(subjects.some((s) => /reset your password/.test(s)), subjects.join('; '));
      assert.ok(subjects.some((s) => /a second factor was turned on/.test(s)), subjects.join('; '));
    });
  });
}
