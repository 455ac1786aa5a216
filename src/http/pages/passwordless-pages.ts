import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { DomainError, MfaRequiredError, type ErrorCode } from '../../errors.js';
import { startPasswordless } from '../../services/passwordless/request.js';
import { linkOpenedIn, loginWithEmailCode, loginWithEmailLink } from '../../services/passwordless/sign-in.js';
import type { LoginTokens } from '../../services/sign-in/login-session.js';
import { clientInfo } from '../auth-guard.js';
import { EmailBody } from '../schemas/account.js';
import { emptyForm, finishSignIn, refusal, render, schemaErrors, type PageSettings } from './page-kit.js';
import { safeRedirectTarget } from './redirect-target.js';
import { PageBody } from './sign-in-pages.js';

type Body = Record<string, string>;
const FORM_LIMIT = 16 * 1024;
const isCode = (error: unknown, code: ErrorCode) => error instanceof DomainError && error.code === code;
const EXPIRED = { title: 'This link no longer works', text: 'This sign-in link is invalid, used or expired. Ask for a new code.', alert: true };

/**
 * The cookie that lets a mailed link sign in the browser that asked for it (issue 25): a random value
 * whose hash is stored with the code. HttpOnly; SameSite=Lax, since the link arrives as a top-level GET
 * from the mail client; it lives as long as the code.
 */
function bindingCookie(settings: PageSettings, maxAge: number) {
  const name = settings.secure ? '__Host-account_passwordless' : 'account_passwordless';
  const options = { path: '/', httpOnly: true, secure: settings.secure, sameSite: 'lax' as const };
  return {
    read: (request: FastifyRequest) => {
      const value = request.cookies[name];
      return value !== undefined && value.length <= 128 ? value : undefined;
    },
    set: (reply: FastifyReply, value: string) => reply.setCookie(name, value, { ...options, maxAge }),
    clear: (reply: FastifyReply) => reply.clearCookie(name, options),
  };
}

/**
 * Sign-in by a mailed code or link (issue 25): "Email me a sign-in code", the code step, and the link's
 * landing page, whose GET spends nothing (mail scanners follow links) and whose button signs in only
 * this browser when it asked, or one that types the code shown on the asking screen.
 */
export async function passwordlessPages(app: FastifyInstance, settings: PageSettings): Promise<void> {
  const page = { schema: { hide: true, body: PageBody }, bodyLimit: FORM_LIMIT } as const;
  const target = (given: string | undefined) => safeRedirectTarget(given, { publicUrl: settings.publicUrl, allowedOrigins: settings.allowedRedirectOrigins });
  const binding = bindingCookie(settings, app.deps.passwordless.codeTtlSeconds);

  /** Signed in, or on to the second factor, as after a password (sign-in-pages.ts). */
  async function outcome(request: FastifyRequest, reply: FastifyReply, login: () => Promise<LoginTokens>, redirectTo: string) {
    try {
      const tokens = await login();
      binding.clear(reply);
      return await finishSignIn(app, reply, settings, tokens, target(redirectTo));
    } catch (error) {
      if (!(error instanceof MfaRequiredError)) throw error;
      binding.clear(reply);
      return render(request, reply, settings, 'login-second-factor', { mfaToken: error.mfaToken, redirectTo, state: { ...emptyForm(), focus: 'otp' } });
    }
  }

  app.get('/login/email', { schema: { hide: true } }, async (request, reply) => {
    const { redirect_to } = request.query as { redirect_to?: string };
    return render(request, reply, settings, 'login-email', { redirectTo: target(redirect_to) ?? '' });
  });

  app.post('/login/email', { ...page, onRequest: app.throttles.registerPerIp }, async (request, reply) => {
    const body = request.body as Body;
    const redirectTo = target(body['redirect_to']) ?? '';
    const invalid = schemaErrors(EmailBody, { email: body['email'] ?? '' });
    if (invalid) {
      const { status, state } = refusal(invalid, undefined, body, ['email']);
      return render(request, reply, settings, 'login-email', { redirectTo, state }, status);
    }
    // The same page for every address: the lookup and the mail happen after it is sent.
    const { browserBinding, screenCode } = startPasswordless(app.deps, body['email']!, clientInfo(request), { redirectTo });
    binding.set(reply, browserBinding);
    return render(request, reply, settings, 'login-email-code', { email: body['email'], screenCode, redirectTo, state: { ...emptyForm(), focus: 'otp' } });
  });

  app.post('/login/email/code', { ...page, onRequest: app.throttles.loginPerIp, preHandler: app.throttles.loginPerAccount }, async (request, reply) => {
    const body = request.body as Body;
    const redirectTo = target(body['redirect_to']) ?? '';
    try {
      return await outcome(request, reply, () => loginWithEmailCode(app.deps, body['email'] ?? '', body['otp'] ?? '', clientInfo(request)), redirectTo);
    } catch (error) {
      const { status, state } = refusal(error, undefined, body, ['otp']);
      if (isCode(error, 'INVALID_SIGN_IN_CODE')) state.errors['otp'] = 'That code is wrong, used or expired. Check the newest mail, or ask for a new code.';
      if (state.errors['otp']) state.alert = undefined;
      return render(request, reply, settings, 'login-email-code', { email: body['email'] ?? '', screenCode: body['screen_code'] ?? '', redirectTo, state: { ...state, focus: 'otp' } }, status);
    }
  });

  const tokenOf = (request: FastifyRequest) => (request.query as { token?: string }).token ?? '';

  app.get('/login/email/link', { schema: { hide: true } }, async (request, reply) => {
    const token = tokenOf(request);
    const opened = token === '' || token.length > 512 ? undefined : await linkOpenedIn(app.deps, token, binding.read(request));
    if (opened === undefined) return render(request, reply, settings, 'message', EXPIRED, 400);
    return render(request, reply, settings, 'login-email-link', { token, sameBrowser: opened.sameBrowser, state: { ...emptyForm(), focus: opened.sameBrowser ? undefined : 'screen_code' } });
  });

  app.post('/login/email/link', { ...page, onRequest: app.throttles.loginPerIp }, async (request, reply) => {
    const body = request.body as Body;
    const token = body['token'] ?? '';
    const screenCode = body['screen_code'] ?? '';
    const client = clientInfo(request);
    const opened = token === '' ? undefined : await linkOpenedIn(app.deps, token, binding.read(request));
    if (opened === undefined) return render(request, reply, settings, 'message', EXPIRED, 400);
    if (!opened.sameBrowser && screenCode === '') {
      return render(request, reply, settings, 'login-email-link', { token, sameBrowser: false, state: { ...emptyForm(), errors: { screen_code: 'Type the code shown where you asked to sign in.' }, focus: 'screen_code' } }, 422);
    }
    const proof = opened.sameBrowser ? { browserBinding: binding.read(request)! } : { screenCode };
    try {
      // Back where the asking page meant to go, checked against the allow-list again (it may have changed).
      return await outcome(request, reply, () => loginWithEmailLink(app.deps, token, proof, client), opened.redirectTo ?? '');
    } catch (error) {
      if (isCode(error, 'INVALID_MAIL_TOKEN')) return render(request, reply, settings, 'message', EXPIRED, 400);
      const { status, state } = refusal(error, undefined, body, ['screen_code']);
      if (isCode(error, 'INVALID_SIGN_IN_CODE')) {
        state.errors['screen_code'] = 'That code is not the one shown where you asked. After 5 wrong codes the link stops working.';
        state.alert = undefined;
      }
      return render(request, reply, settings, 'login-email-link', { token, sameBrowser: opened.sameBrowser, state: { ...state, focus: 'screen_code' } }, status);
    }
  });
}
