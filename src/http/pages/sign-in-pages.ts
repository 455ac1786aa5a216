import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import Type from 'typebox';
import { DomainError, MfaRequiredError, type ErrorCode } from '../../errors.js';
import { endBrowserSession } from '../../services/sessions/browser-sessions.js';
import { confirmEmailChange } from '../../services/account/email-change.js';
import { verifyEmail } from '../../services/account/email-verification.js';
import { loginWithPassword } from '../../services/sign-in/grants.js';
import type { LoginTokens } from '../../services/sign-in/login-session.js';
import { loginWithSecondFactor } from '../../services/second-factor/second-step.js';
import { forgotPassword, resetPassword } from '../../services/account/password-reset.js';
import { registerUser } from '../../services/account/registration.js';
import { clientInfo } from '../auth-guard.js';
import { EmailBody, ResetPasswordBody } from '../schemas/account.js';
import { RegisterBody } from '../schemas/user.js';
import { clearSessionCookie, emptyForm, finishSignIn, refusal, render, schemaErrors, type PageSettings } from './page-kit.js';
import { safeRedirectTarget } from './redirect-target.js';

/** Every page form: strings only, none long. The fields are checked by the API's own schemas and services. */
export const PageBody = Type.Record(Type.String({ maxLength: 64 }), Type.String({ maxLength: 4096 }));
const RedirectQuery = Type.Object({ redirect_to: Type.Optional(Type.String({ maxLength: 2048 })), token: Type.Optional(Type.String({ maxLength: 512 })),
  // An application asked us to authenticate the person anew (OpenID Connect prompt=login, max_age): the
  // form shows even to a signed-in browser (issue 23).
  prompt: Type.Optional(Type.Literal('login')),
});
type Body = Record<string, string>;
const FORM_LIMIT = 16 * 1024;
const UNVERIFIED = 'Confirm your e-mail address first: open the link we mailed to it, then sign in.';

const isCode = (error: unknown, code: ErrorCode) => error instanceof DomainError && error.code === code;

/** Sign-in, sign-up and the pages mailed links open. */
export async function signInPages(app: FastifyInstance, settings: PageSettings): Promise<void> {
  const page = { schema: { hide: true, body: PageBody }, bodyLimit: FORM_LIMIT } as const;
  const target = (given: string | undefined) => safeRedirectTarget(given, { publicUrl: settings.publicUrl, allowedOrigins: settings.allowedRedirectOrigins });

  const signedIn = (reply: FastifyReply, tokens: LoginTokens, redirectTo: string | undefined) => finishSignIn(app, reply, settings, tokens, target(redirectTo));

  app.get('/login', { schema: { hide: true, querystring: RedirectQuery } }, async (request, reply) => {
    const { redirect_to, prompt } = request.query as { redirect_to?: string; prompt?: 'login' };
    if (request.page !== null && prompt !== 'login') return reply.redirect(target(redirect_to) ?? '/account', 303);
    return render(request, reply, settings, 'login', { redirectTo: target(redirect_to) ?? '' });
  });

  app.post('/login', { ...page, onRequest: app.throttles.loginPerIp, preHandler: app.throttles.loginPerAccount }, async (request, reply) => {
    const body = request.body as Body;
    const redirectTo = target(body['redirect_to']) ?? '';
    try {
      const tokens = await loginWithPassword(app.deps, body['username'] ?? '', body['password'] ?? '', clientInfo(request));
      return await signedIn(reply, tokens, redirectTo);
    } catch (error) {
      if (error instanceof MfaRequiredError) {
        return render(request, reply, settings, 'login-second-factor', { mfaToken: error.mfaToken, redirectTo, state: { ...emptyForm(), focus: 'otp' } });
      }
      const { status, state } = refusal(error, undefined, body, ['username', 'password']);
      if (isCode(error, 'EMAIL_NOT_VERIFIED')) state.alert = UNVERIFIED;
      return render(request, reply, settings, 'login', { redirectTo, state: { ...state, focus: state.focus ?? 'password' } }, status);
    }
  });

  app.post('/login/second-factor', { ...page, onRequest: app.throttles.loginPerIp }, async (request, reply) => {
    const body = request.body as Body;
    const redirectTo = target(body['redirect_to']) ?? '';
    const proof = body['recovery_code'] ? { recoveryCode: body['recovery_code'] } : { otp: body['otp'] ?? '' };
    try {
      return await signedIn(reply, await loginWithSecondFactor(app.deps, body['mfa_token'] ?? '', proof, clientInfo(request)), redirectTo);
    } catch (error) {
      // An expired or spent step cannot be retried: back to the password.
      if (isCode(error, 'INVALID_MFA_TOKEN')) {
        return render(request, reply, settings, 'login', { redirectTo, state: { ...emptyForm(), alert: 'That sign-in took too long. Please sign in again.', focus: 'username' } }, 401);
      }
      const { status, state } = refusal(error, undefined, body, 'otp' in proof ? ['otp'] : ['recovery_code']);
      return render(request, reply, settings, 'login-second-factor', { mfaToken: body['mfa_token'], redirectTo, state: { ...state, focus: state.focus ?? 'otp' } }, status);
    }
  });

  app.post('/logout', page, async (request, reply) => {
    const token = request.cookies[settings.sessionCookie];
    if (token !== undefined) await endBrowserSession(app.deps, token, clientInfo(request));
    clearSessionCookie(reply, settings);
    return reply.redirect('/account/login', 303);
  });

  app.get('/signup', { schema: { hide: true } }, async (request, reply) => render(request, reply, settings, 'signup'));

  app.post('/signup', { ...page, onRequest: app.throttles.registerPerIp }, async (request, reply) => {
    const body = request.body as Body;
    const order = ['username', 'email', 'password'];
    const input = { username: body['username'] ?? '', email: body['email'] ?? '', password: body['password'] ?? '' };
    try {
      const invalid = schemaErrors(RegisterBody, input);
      if (invalid) throw invalid;
      await registerUser(app.deps, input);
    } catch (error) {
      const { status, state } = refusal(error, undefined, body, order);
      return render(request, reply, settings, 'signup', { state }, status);
    }
    try {
      // Signed in at once, as the person just proved the password; the address is confirmed by mail.
      return await signedIn(reply, await loginWithPassword(app.deps, input.username, input.password, clientInfo(request)), undefined);
    } catch (error) {
      // REQUIRE_VERIFIED_EMAIL: no session before the address is confirmed.
      if (isCode(error, 'EMAIL_NOT_VERIFIED')) return render(request, reply, settings, 'message', { title: 'Check your mail', text: UNVERIFIED });
      throw error;
    }
  });

  app.get('/forgot-password', { schema: { hide: true } }, async (request, reply) => render(request, reply, settings, 'forgot-password'));

  app.post('/forgot-password', page, async (request, reply) => {
    const body = request.body as Body;
    const invalid = schemaErrors(EmailBody, { email: body['email'] ?? '' });
    if (invalid) {
      const { status, state } = refusal(invalid, undefined, body, ['email']);
      return render(request, reply, settings, 'forgot-password', { state }, status);
    }
    // Same answer for every address, as the API's: the lookup happens after the page is sent.
    forgotPassword(app.deps, body['email']!, clientInfo(request));
    return render(request, reply, settings, 'message', { title: 'Check your mail', text: 'If an account has this address, a message with a link to choose a new password is on its way.' });
  });

  // The landing pages of mailed links. Opening one (GET) spends nothing — a mail scanner may follow every
  // link; only the button, a POST with the token, does.
  const tokenOf = (request: FastifyRequest) => (request.query as { token?: string }).token ?? '';
  const expired = { title: 'This link no longer works', text: 'This link is invalid, used or expired. Ask for a new one.', alert: true };

  app.get('/reset-password', { schema: { hide: true, querystring: RedirectQuery } }, async (request, reply) =>
    tokenOf(request) === '' ? render(request, reply, settings, 'message', expired, 400) : render(request, reply, settings, 'reset-password', { token: tokenOf(request) }),
  );

  app.post('/reset-password', page, async (request, reply) => {
    const body = request.body as Body;
    const input = { token: body['token'] ?? '', password: body['password'] ?? '' };
    try {
      const invalid = schemaErrors(ResetPasswordBody, input);
      if (invalid) throw invalid;
      await resetPassword(app.deps, input.token, input.password, clientInfo(request));
      clearSessionCookie(reply, settings);
      return render(request, reply, settings, 'message', { title: 'Password changed', text: 'Your password has been changed and every device was signed out. Sign in with the new one.', signIn: true });
    } catch (error) {
      if (isCode(error, 'INVALID_MAIL_TOKEN')) return render(request, reply, settings, 'message', expired, 400);
      const { status, state } = refusal(error, undefined, body, ['password']);
      return render(request, reply, settings, 'reset-password', { token: input.token, state }, status);
    }
  });

  const confirmations = [
    {
      path: '/verify',
      title: 'Confirm your e-mail address',
      intro: 'Press the button to confirm that this address is yours.',
      button: 'Confirm my address',
      done: 'Thank you: your e-mail address is confirmed.',
      // The browser that verifies stays signed in; the account's other sessions end (first verification).
      spend: (token: string, request: FastifyRequest) =>
        verifyEmail(app.deps, token, clientInfo(request), request.page ? { userId: request.page.user.id, sessionId: request.page.session.id } : undefined),
    },
    {
      path: '/confirm-email',
      title: 'Confirm your new e-mail address',
      intro: 'Press the button to move your account to this address.',
      button: 'Use this address',
      done: 'Your account now uses this e-mail address.',
      spend: (token: string, request: FastifyRequest) => confirmEmailChange(app.deps, token, clientInfo(request)),
    },
  ];
  for (const flow of confirmations) {
    app.get(flow.path, { schema: { hide: true, querystring: RedirectQuery } }, async (request, reply) =>
      tokenOf(request) === '' ? render(request, reply, settings, 'message', expired, 400) : render(request, reply, settings, 'confirm', { ...flow, token: tokenOf(request) }),
    );
    app.post(flow.path, page, async (request, reply) => {
      try {
        await flow.spend((request.body as Body)['token'] ?? '', request);
        return render(request, reply, settings, 'message', { title: flow.title, text: flow.done, account: true });
      } catch (error) {
        if (isCode(error, 'INVALID_MAIL_TOKEN')) return render(request, reply, settings, 'message', expired, 400);
        const { status, state } = refusal(error, undefined, {}, []);
        return render(request, reply, settings, 'message', { title: flow.title, text: state.alert, alert: true }, status);
      }
    });
  }
}
