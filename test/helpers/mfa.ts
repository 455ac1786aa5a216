import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import type { FakeClock } from '../../src/clock.js';
import { totpCode } from '../../src/crypto/totp.js';
import { bearer, form, login, register } from './requests.js';

export interface EnrolledUser {
  id: number;
  username: string;
  email: string;
  password: string;
  secret: string;
  recoveryCodes: string[];
  accessToken: string;
}

/** The code the authenticator app would show now. */
export const codeNow = (secret: string, clock: FakeClock, offsetSeconds = 0) =>
  totpCode(secret, new Date(clock.now().getTime() + offsetSeconds * 1000));

/** Like `app.inject` with a form body and a bearer token. */
export const authed = (app: FastifyInstance, method: 'POST' | 'DELETE', url: string, token: string, fields: Record<string, string>) => {
  const body = form(fields);
  return app.inject({ method, url, payload: body.payload, headers: { ...body.headers, ...bearer(token) } });
};

/**
 * A new user with a confirmed TOTP factor. The clock then moves on one time step, so the next code the
 * test computes is not the one confirmation spent.
 */
export async function enrolledUser(app: FastifyInstance, clock: FakeClock): Promise<EnrolledUser> {
  const user = await register(app);
  const { access_token: accessToken } = await login(app, user.username, user.password);
  const enrolment = await authed(app, 'POST', '/user/mfa/totp', accessToken, { current_password: user.password });
  assert.equal(enrolment.statusCode, 200, enrolment.body);
  const { secret } = enrolment.json() as { secret: string };
  const confirmed = await authed(app, 'POST', '/user/mfa/totp/confirm', accessToken, { otp: codeNow(secret, clock) });
  assert.equal(confirmed.statusCode, 200, confirmed.body);
  clock.advance(30_000);
  return { ...user, secret, recoveryCodes: (confirmed.json() as { recovery_codes: string[] }).recovery_codes, accessToken };
}

/** The first step of a login of an account with a second factor: asserts the 403 and returns its mfa_token. */
export async function mfaToken(app: FastifyInstance, username: string, password: string): Promise<string> {
  const res = await app.inject({ method: 'POST', url: '/user/token', ...form({ username, password }) });
  assert.equal(res.statusCode, 403, res.body);
  return (res.json() as { mfa_token: string }).mfa_token;
}

export const redeem = (app: FastifyInstance, fields: Record<string, string>) => app.inject({ method: 'POST', url: '/user/token', ...form(fields) });
