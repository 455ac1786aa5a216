import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import cookie from '@fastify/cookie';
import csrf from '@fastify/csrf-protection';
import fastifyStatic from '@fastify/static';
import view from '@fastify/view';
import type { FastifyError, FastifyInstance, FastifyRequest } from 'fastify';
import { Eta } from 'eta';
import { DomainError, InvalidInputError } from '../../errors.js';
import { browserPrincipal } from '../../services/sessions/browser-sessions.js';
import { statusOf } from '../errors.js';
import type { ProviderRegistry } from '../../services/federation/provider-registry.js';
import { accountHomePages } from './account-home.js';
import { oidcPages } from './federation-pages.js';
import { render, type PageSettings } from './page-kit.js';
import { passkeyPages } from './passkey-pages.js';
import { providerPages } from './provider-pages.js';
import type Provider from 'oidc-provider';
import { passwordlessPages } from './passwordless-pages.js';
import { signInPages } from './sign-in-pages.js';

const HERE = dirname(fileURLToPath(import.meta.url));
/** The browser half of @simplewebauthn, served as it ships (its UMD bundle): no build step of ours. */
const WEBAUTHN_BROWSER_DIR = join(dirname(createRequire(import.meta.url).resolve('@simplewebauthn/browser')), '..', 'dist', 'bundle');

export interface SiteOptions {
  appName: string;
  publicUrl: string;
  allowedRedirectOrigins: readonly string[];
  sessionMaxLifetimeSeconds: number;
  /** Sign-in with other OpenID providers (issue 17); absent or empty: no provider buttons, no /account/oauth routes. */
  oidc?: { registry: ProviderRegistry; flowKey: Buffer };
  /** Being an OpenID provider (issue 23): its login and consent steps are our pages. */
  provider?: Provider;
}

/**
 * The CSP of the account pages, stricter than the API's default: no inline script or style at all,
 * scripts and styles only from this origin, and forms may post only here — and, since a form's
 * redirect counts too, to the origins sign-in may send the browser back to.
 */
function pageCsp(allowedOrigins: readonly string[]): string {
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    `form-action 'self'${allowedOrigins.map((o) => ` ${o}`).join('')}`,
    "frame-ancestors 'none'",
    "base-uri 'none'",
  ].join('; ');
}

/**
 * A state-changing request must come from our own pages: a browser says where a request comes from in
 * Sec-Fetch-Site (all current ones) and Origin (on every POST). Either naming another site is refused,
 * before the CSRF token is even looked at (defence in depth: OWASP CSRF Prevention Cheat Sheet).
 */
function fromOurOwnPages(request: FastifyRequest, publicOrigin: string): boolean {
  const site = request.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin' && site !== 'none') return false;
  const origin = request.headers.origin;
  if (origin === undefined) return true;
  // The request's own origin also counts (the service reached under another name than PUBLIC_URL, e.g.
  // localhost and 127.0.0.1): a browser cannot be made to send a Host that differs from the page it posts to.
  const own = `${request.protocol}://${request.host}`;
  return origin === publicOrigin || origin === own;
}

/** `__Host-` (RFC 6265bis): only over https, path /, no Domain — a sibling subdomain cannot plant one. */
export const pageSessionCookie = (publicUrl: string) => (publicUrl.startsWith('https:') ? '__Host-account_session' : 'account_session');

/**
 * The account signed in to the pages in the browser that sent `cookieHeader`, if its session is live: what
 * the OpenID provider checks before it lets an authorization skip sign-in (issue 23).
 */
export async function pageSessionAccount(app: FastifyInstance, publicUrl: string, cookieHeader: string | undefined): Promise<string | undefined> {
  const name = pageSessionCookie(publicUrl);
  const token = cookieHeader?.split(/;\s*/).find((pair) => pair.startsWith(`${name}=`))?.slice(name.length + 1);
  if (token === undefined || token.length > 128) return undefined;
  const principal = await browserPrincipal(app.deps, token);
  return principal && String(principal.user.id);
}

/**
 * The account pages under /account (issue 15): server-rendered (Eta), a cookie session tied to the
 * sessions table, CSRF tokens on every form, the same services as the API.
 */
export async function accountSite(app: FastifyInstance, options: SiteOptions): Promise<void> {
  const secure = options.publicUrl.startsWith('https:');
  const publicOrigin = new URL(options.publicUrl).origin;
  const settings: PageSettings = {
    appName: options.appName,
    publicUrl: options.publicUrl,
    allowedRedirectOrigins: options.allowedRedirectOrigins,
    secure,
    // `__Host-` (RFC 6265bis): only over https, path /, no Domain — a sibling subdomain cannot plant one.
    sessionCookie: pageSessionCookie(options.publicUrl),
    sessionMaxAgeSeconds: options.sessionMaxLifetimeSeconds,
    providers: (options.oidc?.registry.configured ?? []).map(({ name, label }) => ({ name, label })),
    passwordless: app.deps.passwordless.enabled,
    provider: options.provider !== undefined,
  };
  // A provider's authorization endpoint is where the link form's redirect goes, so form-action names it.
  const formOrigins = () => [...options.allowedRedirectOrigins, ...(options.oidc?.registry.origins() ?? [])];

  await app.register(cookie);
  await app.register(csrf, {
    cookieKey: secure ? '__Host-account_csrf' : 'account_csrf',
    cookieOpts: { path: '/', sameSite: 'strict', httpOnly: true, secure },
  });
  const eta = new Eta({ views: join(HERE, 'views'), cache: true, autoEscape: true });
  await app.register(view, { engine: { eta }, root: join(HERE, 'views'), viewExt: 'eta' });
  await app.register(fastifyStatic, { root: [join(HERE, 'assets'), WEBAUTHN_BROWSER_DIR], prefix: '/assets/', maxAge: '1h', index: false });

  app.decorateRequest('page', null);
  app.addHook('onRequest', async (request, reply) => {
    reply.header('content-security-policy', pageCsp(formOrigins()));
    // helmet's `no-referrer` makes Chromium send `Origin: null` with a form post, which the check below
    // must refuse; `same-origin` keeps the real Origin on our own posts and still tells other sites
    // nothing (the reset page's URL holds its token).
    reply.header('referrer-policy', 'same-origin');
    // Static files need no session (and should not touch it three times per page view).
    if (request.url.startsWith('/account/assets/')) return;
    reply.header('cache-control', 'no-store');
    if (request.method !== 'GET' && request.method !== 'HEAD' && !fromOurOwnPages(request, publicOrigin)) {
      throw Object.assign(new Error('cross-site request refused'), { statusCode: 403, code: 'CROSS_SITE' });
    }
    const token = request.cookies[settings.sessionCookie];
    if (token !== undefined && token.length <= 128) request.page = (await browserPrincipal(app.deps, token)) ?? null;
    // The account's request budgets (throttles keyed by user) count page requests as they count API ones.
    if (request.page !== null) request.user = request.page.user;
  });
  // Every form and script request carries the token (field `_csrf`, or the `x-csrf-token` header).
  app.addHook('preValidation', (request, reply, done) => {
    if (request.method === 'GET' || request.method === 'HEAD') return done();
    app.csrfProtection(request, reply, done);
  });

  app.setErrorHandler(async (error: FastifyError, request, reply) => {
    const wantsJson = request.headers['content-type']?.startsWith('application/json') ?? false;
    const { status, text } = pageError(error);
    if (status >= 500) request.log.error({ err: error }, 'unhandled error');
    if (error instanceof DomainError && error.retryAfterSeconds !== undefined) reply.header('retry-after', String(error.retryAfterSeconds));
    if (wantsJson) return reply.code(status).send({ detail: text });
    return render(request, reply, settings, 'message', { title: status === 403 ? 'Request refused' : 'Something went wrong', text, alert: true }, status);
  });

  await app.register(signInPages, settings);
  await app.register(accountHomePages, settings);
  await app.register(passkeyPages, settings);
  if (settings.passwordless) await app.register(passwordlessPages, settings);
  if (options.provider) await app.register(providerPages, { ...settings, oidcProvider: options.provider });
  if (options.oidc && options.oidc.registry.configured.length > 0) await app.register(oidcPages, { ...settings, ...options.oidc });
}

/** Words for people; the status as the API would give it. A 5xx names nothing internal. */
function pageError(error: FastifyError): { status: number; text: string } {
  if (error instanceof DomainError) return { status: statusOf(error.code), text: error.message };
  if (error instanceof InvalidInputError) return { status: 422, text: error.message };
  if (error.validation) return { status: 422, text: 'The form was incomplete or had a value that is not allowed. Go back and try again.' };
  const status = error.statusCode ?? 500;
  if (status === 403) return { status, text: 'This form has expired or came from another site. Go back, reload the page and try again.' };
  if (status >= 400 && status < 500) return { status, text: 'The request could not be understood. Go back and try again.' };
  return { status: 500, text: 'Something went wrong on our side. Try again in a moment.' };
}

