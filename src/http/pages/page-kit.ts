import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { TSchema } from 'typebox';
import Value from 'typebox/value';
import type { UserRow } from '../../db/schema.js';
import { DomainError, InvalidInputError, type ErrorCode } from '../../errors.js';
import { statusOf } from '../errors.js';
import { PATTERN_MESSAGES } from '../schemas/common.js';
import { openBrowserSession, type BrowserPrincipal } from '../../services/sessions/browser-sessions.js';
import type { LoginTokens } from '../../services/sign-in/login-session.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The signed-in browser of an account page (cookie session), or null. */
    page: BrowserPrincipal | null;
  }
}

/** What a form shows again after a refusal: the values typed (never passwords), one message per field, or one for the form. */
export interface FormState {
  /** Which form on the page the state belongs to (the account page has several). */
  form?: string;
  values: Record<string, string>;
  errors: Record<string, string>;
  alert?: string;
  /** The field to focus: the first with an error (autofocus, no script). */
  focus?: string;
  /** A lockout or request budget said when to try again: sent as Retry-After. */
  retryAfter?: number;
}

export const emptyForm = (form?: string): FormState => ({ form, values: {}, errors: {} });

/** Fields whose value is never sent back to the browser. */
const SECRET_FIELDS = new Set(['password', 'current_password', 'new_password', 'otp', 'recovery_code', '_csrf', 'mfa_token', 'token']);

export function keptValues(body: Record<string, unknown>): Record<string, string> {
  return Object.fromEntries(Object.entries(body).filter(([k, v]) => typeof v === 'string' && !SECRET_FIELDS.has(k)) as [string, string][]);
}

/** The page field a domain error belongs to; the rest are shown for the whole form. */
const FIELD_OF: Partial<Record<ErrorCode, string>> = {
  INCORRECT_PASSWORD: 'current_password',
  INCORRECT_CODE: 'otp',
  INVALID_OTP: 'otp',
  USER_ALREADY_EXISTS: 'username',
};

/** A refusal of a service, turned into the state the form is shown again with; anything else is rethrown. */
export function refusal(error: unknown, form: string | undefined, body: Record<string, unknown>, order: string[]): { status: number; state: FormState } {
  const state: FormState = { form, values: keptValues(body), errors: {} };
  if (error instanceof InvalidInputError) {
    for (const e of error.errors) {
      const field = String(e.loc.at(-1));
      state.errors[field] ??= e.msg;
    }
    return { status: 422, state: withFocus(state, order) };
  }
  if (error instanceof DomainError) {
    const field = FIELD_OF[error.code];
    if (field && order.includes(field)) state.errors[field] = error.message;
    else state.alert = error.message;
    state.retryAfter = error.retryAfterSeconds;
    return { status: statusOf(error.code), state: withFocus(state, order) };
  }
  throw error;
}

export function withFocus(state: FormState, order: string[]): FormState {
  return { ...state, focus: order.find((field) => state.errors[field] !== undefined) };
}

/** A form checked against the API's own schema (the same rules as the API door), in words for people. */
export function schemaErrors(schema: TSchema, body: Record<string, unknown>): InvalidInputError | undefined {
  const errors = [...Value.Errors(schema, body)].map((e) => {
    const field = e.instancePath.slice(1) || String((e.params as { requiredProperties?: string[] }).requiredProperties?.[0] ?? 'form');
    return { loc: ['body', field], msg: describe(e.keyword, e.params as Record<string, unknown>, (e as { schema?: { description?: string } }).schema), type: e.keyword };
  });
  return errors.length > 0 ? new InvalidInputError(errors) : undefined;
}

function describe(keyword: string, params: Record<string, unknown>, schema: { description?: string } | undefined): string {
  switch (keyword) {
    case 'required':
      return 'This field is required';
    case 'minLength':
      return `Use at least ${params['limit']} characters`;
    case 'maxLength':
      return `Use at most ${params['limit']} characters`;
    case 'format':
      return params['format'] === 'email' ? 'Enter an e-mail address, like name@example.com' : 'This value is not valid';
    case 'pattern':
      return PATTERN_MESSAGES[String(params['pattern'])] ?? (schema?.description ? `Use ${schema.description}` : 'This value has characters that are not allowed');
    default:
      return 'This value is not valid';
  }
}

export interface PageSettings {
  appName: string;
  publicUrl: string;
  allowedRedirectOrigins: readonly string[];
  /** PUBLIC_URL is https: cookies are Secure and take the `__Host-` prefix. */
  secure: boolean;
  sessionCookie: string;
  sessionMaxAgeSeconds: number;
  /** The OpenID providers offered next to the password form (issue 17). */
  providers?: readonly { name: string; label: string }[];
  /** Sign-in by a mailed code or link is offered (PASSWORDLESS_ENABLED, issue 25). */
  passwordless?: boolean;
  /** We are an OpenID provider (PROVIDER_ENABLED, issue 23): the account page lists apps with access. */
  provider?: boolean;
}

/** Renders a page template with what every page needs (app name, CSRF token, the signed-in user). */
export async function render(
  request: FastifyRequest,
  reply: FastifyReply,
  settings: PageSettings,
  template: string,
  data: Record<string, unknown> = {},
  status = 200,
): Promise<FastifyReply> {
  const csrfToken = reply.generateCsrf();
  const user: UserRow | undefined = request.page?.user;
  const html = await reply.viewAsync(template, { appName: settings.appName, csrfToken, user, providers: settings.providers ?? [], passwordless: settings.passwordless ?? false, state: emptyForm(), ...data });
  const retryAfter = (data['state'] as FormState | undefined)?.retryAfter;
  if (retryAfter !== undefined) reply.header('retry-after', String(retryAfter));
  return reply.code(status).header('content-type', 'text/html; charset=utf-8').send(html);
}

export function setSessionCookie(reply: FastifyReply, settings: PageSettings, token: string): void {
  reply.setCookie(settings.sessionCookie, token, {
    path: '/',
    httpOnly: true,
    secure: settings.secure,
    sameSite: 'lax',
    maxAge: settings.sessionMaxAgeSeconds,
  });
}

export function clearSessionCookie(reply: FastifyReply, settings: PageSettings): void {
  reply.clearCookie(settings.sessionCookie, { path: '/', httpOnly: true, secure: settings.secure, sameSite: 'lax' });
}

/** preHandler of the pages that need a signed-in browser: others are sent to sign in, and back here after. */
export async function requirePage(request: FastifyRequest, reply: FastifyReply): Promise<void> {
  if (request.page !== null) return;
  const back = request.method === 'GET' ? request.url : '/account';
  return reply.redirect(`/account/login?redirect_to=${encodeURIComponent(back)}`, 303);
}

/**
 * The end of every page sign-in (password, second factor, passkey): the session the service opened gets
 * a cookie, and the browser goes on to the checked `redirect_to` or the account page.
 */
export async function finishSignIn(app: FastifyInstance, reply: FastifyReply, settings: PageSettings, tokens: LoginTokens, target: string | undefined) {
  await startPageSession(app, reply, settings, tokens);
  return reply.redirect(target ?? '/account', 303);
}

export async function startPageSession(app: FastifyInstance, reply: FastifyReply, settings: PageSettings, tokens: LoginTokens): Promise<void> {
  setSessionCookie(reply, settings, await openBrowserSession(app.deps, tokens));
}
