import assert from 'node:assert/strict';
import { updateUserProfile } from '../../src/repositories/users.js';
import { after, before, describe, test } from 'node:test';
import { sql } from 'drizzle-orm';
import { resetSecondFactor } from '../../src/services/second-factor/totp-enrolment.js';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { databaseKinds, selectRows } from '../helpers/databases.js';
import { authed, codeNow, enrolledUser, mfaToken, redeem } from '../helpers/mfa.js';
import { bearer, form, login, register } from '../helpers/requests.js';

for (const kind of await databaseKinds()) {
  describe(`second factor: enrolment and management on ${kind}`, () => {
    let ctx: TestApp & { close(): Promise<void> };
    before(async () => {
      ctx = await buildTestApp(kind, { PUBLIC_URL: 'https://auth.example.com' });
    });
    after(() => ctx.close());

    const profile = async (token: string) => (await ctx.app.inject({ url: '/user/user', headers: bearer(token) })).json();
    const passwordLogin = (username: string, password: string) => ctx.app.inject({ method: 'POST', url: '/user/token', ...form({ username, password }) });

    test('enrolment: a 160-bit secret, its otpauth URI and a QR code drawn here; nothing is active until confirmed', async () => {
      const user = await register(ctx.app);
      const { access_token } = await login(ctx.app, user.username, user.password);
      const res = await authed(ctx.app, 'POST', '/user/mfa/totp', access_token, { current_password: user.password });
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(res.headers['cache-control'], 'no-store');
      const { secret, otpauth_uri, qr } = res.json();
      assert.match(secret, /^[A-Z2-7]{32}$/, '32 base32 characters: 160 bits');
      const uri = new URL(otpauth_uri);
      assert.equal(decodeURIComponent(uri.pathname), `/auth.example.com:${user.username}`);
      assert.equal(uri.searchParams.get('secret'), secret);
      assert.equal(uri.searchParams.get('issuer'), 'auth.example.com');
      assert.match(qr, /^data:image\/svg\+xml;base64,/);
      assert.match(Buffer.from(qr.split(',')[1], 'base64').toString('utf8'), /^<svg [^>]*viewBox/);
      assert.equal((await profile(access_token)).mfa_enabled, false, 'pending, not active');
      assert.equal((await passwordLogin(user.username, user.password)).statusCode, 200, 'logins still need the password alone');
    });

    test('enrolment asks for the current password; a wrong one is 400 and counts like a password change', async () => {
      const user = await register(ctx.app);
      const { access_token } = await login(ctx.app, user.username, user.password);
      const wrong = await authed(ctx.app, 'POST', '/user/mfa/totp', access_token, { current_password: 'not-the-password' });
      assert.equal(wrong.statusCode, 400);
      assert.deepEqual(wrong.json(), { detail: 'Incorrect password' });
      const unauthenticated = await ctx.app.inject({ method: 'POST', url: '/user/mfa/totp', ...form({ current_password: user.password }) });
      assert.equal(unauthenticated.statusCode, 401);
      const [failures] = await selectRows(ctx.database.handle.db, sql`select failures from login_failures where key = ${`password-change:${user.id}`}`);
      assert.deepEqual(failures, { failures: 1 });
    });

    test('confirmation: a code of the pending secret turns it on and returns 10 distinct recovery codes, once', async () => {
      const user = await register(ctx.app);
      const { access_token } = await login(ctx.app, user.username, user.password);
      const first = (await authed(ctx.app, 'POST', '/user/mfa/totp', access_token, { current_password: user.password })).json().secret;
      const second = (await authed(ctx.app, 'POST', '/user/mfa/totp', access_token, { current_password: user.password })).json().secret;
      assert.notEqual(first, second, 'calling again replaces the pending secret');
      const stale = await authed(ctx.app, 'POST', '/user/mfa/totp/confirm', access_token, { otp: codeNow(first, ctx.clock) });
      assert.equal(stale.statusCode, 400, 'the replaced secret confirms nothing');
      assert.deepEqual(stale.json(), { detail: 'Incorrect or already used code' });
      const malformed = await authed(ctx.app, 'POST', '/user/mfa/totp/confirm', access_token, { otp: '12345' });
      assert.equal(malformed.statusCode, 422);
      const res = await authed(ctx.app, 'POST', '/user/mfa/totp/confirm', access_token, { otp: codeNow(second, ctx.clock) });
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(res.headers['cache-control'], 'no-store');
      const codes: string[] = res.json().recovery_codes;
      assert.equal(codes.length, 10);
      assert.equal(new Set(codes).size, 10);
      for (const code of codes) assert.match(code, /^[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{4}$/, '12 base32 characters: 60 bits');
      assert.equal((await profile(access_token)).mfa_enabled, true);
      const again = await authed(ctx.app, 'POST', '/user/mfa/totp/confirm', access_token, { otp: codeNow(second, ctx.clock, 30) });
      assert.equal(again.statusCode, 409, 'nothing pending any more');
      const reenrol = await authed(ctx.app, 'POST', '/user/mfa/totp', access_token, { current_password: user.password });
      assert.equal(reenrol.statusCode, 409, 'an active factor is never replaced');
      assert.deepEqual(reenrol.json(), { detail: 'Second factor is already enabled; disable it first to enrol another' });
      const events = await selectRows(ctx.database.handle.db, sql`select type from audit_events where user_id = ${user.id} and type like 'mfa%' order by id`);
      assert.deepEqual(events.map((e) => (e as { type: string }).type), ['mfa_enrolment_started', 'mfa_enrolment_started', 'mfa_failed', 'mfa_enabled']);
    });

    test('confirming with nothing pending is a 409 that says what to do', async () => {
      const user = await register(ctx.app);
      const { access_token } = await login(ctx.app, user.username, user.password);
      const res = await authed(ctx.app, 'POST', '/user/mfa/totp/confirm', access_token, { otp: '123456' });
      assert.equal(res.statusCode, 409);
      assert.deepEqual(res.json(), { detail: 'No second factor enrolment to confirm: start one with POST /user/mfa/totp' });
    });

    test('encrypted at rest: the column holds neither the base32 secret nor its bytes; recovery codes only as hashes', async () => {
      const user = await enrolledUser(ctx.app, ctx.clock);
      const [row] = await selectRows<{ secret_sealed: string }>(ctx.database.handle.db, sql`select secret_sealed from totp_factors where user_id = ${user.id}`);
      const sealed = row!.secret_sealed;
      assert.match(sealed, /^v1\.[\w-]+\.[\w-]+\.[\w-]+$/, 'version, IV, ciphertext, tag');
      assert.ok(!sealed.includes(user.secret) && !sealed.toLowerCase().includes(user.secret.toLowerCase()));
      const dump = JSON.stringify(await selectRows(ctx.database.handle.db, sql`select * from totp_factors, recovery_codes where totp_factors.user_id = ${user.id} and recovery_codes.user_id = ${user.id}`));
      assert.ok(!dump.includes(user.secret));
      for (const code of user.recoveryCodes) {
        assert.ok(!dump.includes(code) && !dump.includes(code.replace(/-/g, '')), 'no recovery code in clear');
      }
      // The row of another user cannot be opened as this one's: sealed with the user id as authenticated data.
      const other = await enrolledUser(ctx.app, ctx.clock);
      await ctx.database.handle.db.execute(sql`update totp_factors set secret_sealed = ${sealed} where user_id = ${other.id}`);
      const token = await mfaToken(ctx.app, other.username, other.password);
      assert.equal((await redeem(ctx.app, { grant_type: 'mfa_otp', mfa_token: token, otp: codeNow(user.secret, ctx.clock) })).statusCode, 401);
    });

    test('new recovery codes need the password and the second factor (issue 21), and void the old set', async () => {
      const user = await enrolledUser(ctx.app, ctx.clock);
      const wrong = await authed(ctx.app, 'POST', '/user/mfa/recovery-codes', user.accessToken, { current_password: 'not-the-password' });
      assert.equal(wrong.statusCode, 400);
      const passwordOnly = await authed(ctx.app, 'POST', '/user/mfa/recovery-codes', user.accessToken, { current_password: user.password });
      assert.equal(passwordOnly.statusCode, 403, 'this session signed in before the factor: the password alone is not enough');
      const res = await authed(ctx.app, 'POST', '/user/mfa/recovery-codes', user.accessToken, { current_password: user.password, otp: codeNow(user.secret, ctx.clock) });
      assert.equal(res.statusCode, 200, res.body);
      const fresh: string[] = res.json().recovery_codes;
      assert.equal(fresh.length, 10);
      assert.ok(fresh.every((code) => !user.recoveryCodes.includes(code)));
      const old = await redeem(ctx.app, { grant_type: 'mfa_recovery_code', mfa_token: await mfaToken(ctx.app, user.username, user.password), recovery_code: user.recoveryCodes[0]! });
      assert.equal(old.statusCode, 401, 'the old set is void');
      const ok = await redeem(ctx.app, { grant_type: 'mfa_recovery_code', mfa_token: await mfaToken(ctx.app, user.username, user.password), recovery_code: fresh[0]! });
      assert.equal(ok.statusCode, 200);
      const none = await register(ctx.app);
      const { access_token } = await login(ctx.app, none.username, none.password);
      const notEnabled = await authed(ctx.app, 'POST', '/user/mfa/recovery-codes', access_token, { current_password: none.password });
      assert.equal(notEnabled.statusCode, 409);
      assert.deepEqual(notEnabled.json(), { detail: 'Second factor is not enabled' });
    });

    test('disabling needs the password and a code (or a recovery code); then logins ask for the password alone', async () => {
      const user = await enrolledUser(ctx.app, ctx.clock);
      const disable = (fields: Record<string, string>) => authed(ctx.app, 'DELETE', '/user/mfa/totp', user.accessToken, fields);
      assert.equal((await disable({ current_password: user.password })).statusCode, 422, 'a code is required');
      const both = await disable({ current_password: user.password, otp: codeNow(user.secret, ctx.clock), recovery_code: user.recoveryCodes[0]! });
      assert.equal(both.statusCode, 422, 'one proof, not two');
      assert.equal((await disable({ current_password: 'not-the-password', otp: codeNow(user.secret, ctx.clock) })).statusCode, 400);
      const wrongCode = await disable({ current_password: user.password, otp: codeNow(user.secret, ctx.clock, 120) });
      assert.equal(wrongCode.statusCode, 400);
      assert.deepEqual(wrongCode.json(), { detail: 'Incorrect or already used code' });
      assert.equal((await profile(user.accessToken)).mfa_enabled, true, 'still on');
      const res = await disable({ current_password: user.password, otp: codeNow(user.secret, ctx.clock) });
      assert.equal(res.statusCode, 204, res.body);
      assert.equal(res.body, '');
      assert.equal((await profile(user.accessToken)).mfa_enabled, false);
      assert.equal((await passwordLogin(user.username, user.password)).statusCode, 200);
      const left = await selectRows(ctx.database.handle.db, sql`select (select count(*)::int from totp_factors where user_id = ${user.id}) as factors, (select count(*)::int from recovery_codes where user_id = ${user.id}) as codes`);
      assert.deepEqual(left, [{ factors: 0, codes: 0 }]);
      assert.equal((await disable({ current_password: user.password, otp: codeNow(user.secret, ctx.clock, 30) })).statusCode, 409, 'nothing left to disable');

      const other = await enrolledUser(ctx.app, ctx.clock);
      const byRecoveryCode = await authed(ctx.app, 'DELETE', '/user/mfa/totp', other.accessToken, { current_password: other.password, recovery_code: other.recoveryCodes[3]! });
      assert.equal(byRecoveryCode.statusCode, 204);
    });

    test('resetSecondFactor (for admins): the factor goes with no code, pending logins die, and it is audited with the actor', async () => {
      const user = await enrolledUser(ctx.app, ctx.clock);
      const pending = await mfaToken(ctx.app, user.username, user.password);
      assert.equal((await redeem(ctx.app, { grant_type: 'mfa_otp', mfa_token: pending, otp: codeNow(user.secret, ctx.clock, 300) })).statusCode, 401);
      assert.equal(await resetSecondFactor(ctx.app.deps, user.id, { actorId: 4242 }), true);
      const counts = await selectRows(ctx.database.handle.db, sql`select failures from login_failures where key = ${`mfa:${user.id}`}`);
      assert.deepEqual(counts, [], 'the wrong code is forgotten: a clean slate');
      assert.equal((await profile(user.accessToken)).mfa_enabled, false);
      const stale = await redeem(ctx.app, { grant_type: 'mfa_otp', mfa_token: pending, otp: codeNow(user.secret, ctx.clock) });
      assert.equal(stale.statusCode, 401, 'the mfa_token of before the reset is void');
      assert.equal((await passwordLogin(user.username, user.password)).statusCode, 200);
      const events = await selectRows(ctx.database.handle.db, sql`select details from audit_events where user_id = ${user.id} and type = 'mfa_reset'`);
      assert.deepEqual(events, [{ details: { actorId: 4242 } }]);
      assert.equal(await resetSecondFactor(ctx.app.deps, user.id), false, 'nothing to reset');
      const again = await authed(ctx.app, 'POST', '/user/mfa/totp', user.accessToken, { current_password: user.password });
      assert.equal(again.statusCode, 200, 'the user can enrol again');
    });

    test('the owner is mailed a notice when the second factor is turned on, off, reset or given new recovery codes', async () => {
      const notices = async (userId: number) =>
        (await selectRows<{ kind: string }>(ctx.database.handle.db, sql`select kind from mail_outbox where user_id = ${userId} order by id`)).map((r) => r.kind);
      const user = await enrolledUser(ctx.app, ctx.clock);
      // A verified address hears of every change (an unverified one only of the first of the hour: issue 21).
      await updateUserProfile(ctx.app.deps.db, user.id, { emailVerified: true }, ctx.clock.now());
      assert.deepEqual(await notices(user.id), ['notice:second_factor_enabled']);
      const regenerated = await authed(ctx.app, 'POST', '/user/mfa/recovery-codes', user.accessToken, { current_password: user.password, recovery_code: user.recoveryCodes[1]! });
      assert.equal(regenerated.statusCode, 200);
      const off = await authed(ctx.app, 'DELETE', '/user/mfa/totp', user.accessToken, { current_password: user.password, otp: codeNow(user.secret, ctx.clock) });
      assert.equal(off.statusCode, 204);
      assert.deepEqual(await notices(user.id), ['notice:second_factor_enabled', 'notice:recovery_codes_regenerated', 'notice:second_factor_disabled']);

      const other = await enrolledUser(ctx.app, ctx.clock);
      await updateUserProfile(ctx.app.deps.db, other.id, { emailVerified: true }, ctx.clock.now());
      await resetSecondFactor(ctx.app.deps, other.id, { actorId: 1 });
      assert.deepEqual(await notices(other.id), ['notice:second_factor_enabled', 'notice:second_factor_disabled']);
      await resetSecondFactor(ctx.app.deps, other.id, { actorId: 1 });
      assert.equal((await notices(other.id)).length, 2, 'no notice when there was nothing to reset');
    });

    test('OpenAPI documents the routes, the grant types and the mfa_required answer', async () => {
      const spec = (await ctx.app.inject({ url: '/openapi.json' })).json();
      for (const [path, method] of [['/user/mfa/totp', 'post'], ['/user/mfa/totp/confirm', 'post'], ['/user/mfa/recovery-codes', 'post'], ['/user/mfa/totp', 'delete']] as const) {
        assert.ok(spec.paths[path]?.[method], `${method} ${path}`);
        assert.deepEqual(spec.paths[path][method].tags, ['mfa']);
      }
      const token = spec.paths['/user/token'].post;
      // 403 is the mfa_required body, or a plain detail (account disabled, address unverified).
      const forbidden: { required: string[] }[] = token.responses['403'].content['application/json'].schema.anyOf;
      assert.deepEqual(forbidden.map((variant) => [...variant.required].sort()), [['detail', 'error', 'error_description', 'mfa_token'], ['detail']]);
      const body = token.requestBody.content['application/x-www-form-urlencoded'].schema;
      for (const name of ['mfa_otp', 'mfa_recovery_code', 'http://auth0.com/oauth/grant-type/mfa-otp', 'http://auth0.com/oauth/grant-type/mfa-recovery-code']) {
        assert.ok(body.properties.grant_type.description.includes(name), name);
      }
      for (const field of ['mfa_token', 'otp', 'recovery_code']) assert.ok(body.properties[field], field);
      assert.equal(spec.paths['/user/user'].get.responses['200'].content['application/json'].schema.properties.mfa_enabled.type, 'boolean');
    });
  });
}
