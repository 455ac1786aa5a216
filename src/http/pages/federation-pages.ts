import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import Type from 'typebox';
import { DomainError, MfaRequiredError } from '../../errors.js';
import { authorizationRequest, callbackUrl, completeAuthorization } from '../../services/federation/authorization-flow.js';
import type { DiscoveredProvider, ProviderRegistry } from '../../services/federation/provider-registry.js';
import { linkIdentityTo, loginWithIdentity, reauthenticateForLink, recordFederatedFailure, unlinkIdentity } from '../../services/federation/linked-identities.js';
import { pageStepUp } from './step-up-fields.js';
import { clientInfo } from '../auth-guard.js';
import { FLOW_TTL_SECONDS, flowCookie } from './federation-cookie.js';
import { emptyForm, finishSignIn, render, requirePage, type PageSettings } from './page-kit.js';
import { safeRedirectTarget } from './redirect-target.js';
import { PageBody } from './sign-in-pages.js';

export interface OidcPageOptions extends PageSettings {
  registry: ProviderRegistry;
  /** Seals the flow cookie: derived from SECRET_KEY for this use alone. */
  flowKey: Buffer;
}

const NameParams = Type.Object({ name: Type.String({ pattern: '^[a-z][a-z0-9]{0,31}$' }) });
const StartQuery = Type.Object({ redirect_to: Type.Optional(Type.String({ maxLength: 2048 })) });
/** What a provider sends back (OpenID Connect Core §3.1.2.5–6); anything else is ignored, and bounded. */
const CallbackQuery = Type.Object(
  {
    code: Type.Optional(Type.String({ maxLength: 4096 })),
    state: Type.Optional(Type.String({ maxLength: 1024 })),
    error: Type.Optional(Type.String({ maxLength: 256 })),
    iss: Type.Optional(Type.String({ maxLength: 2048 })),
  },
  { additionalProperties: Type.String({ maxLength: 4096 }) },
);
const IdParams = Type.Object({ id: Type.String({ pattern: '^[0-9]{1,18}$' }) });

const LINK_REQUIRED =
  'An account with this e-mail address already exists. To use this provider with it, sign in to that account first (with its password or passkey), then link the provider from your account page.';

/**
 * Sign-in with other OpenID providers (issue 17): GET /account/oauth/<name> starts it, the provider comes
 * back to /account/oauth/<name>/callback; the account page links and unlinks identities.
 */
export async function oidcPages(app: FastifyInstance, options: OidcPageOptions): Promise<void> {
  const { registry, flowKey, ...settings } = options;
  const cookie = flowCookie(settings.secure);
  const target = (given: string | undefined) => safeRedirectTarget(given, { publicUrl: settings.publicUrl, allowedOrigins: settings.allowedRedirectOrigins });
  const name = (request: FastifyRequest) => (request.params as { name: string }).name;

  async function provider(providerName: string): Promise<DiscoveredProvider> {
    const found = await registry.lookup(providerName);
    if (found.status === 'unknown') throw new DomainError('OIDC_PROVIDER_NOT_FOUND');
    if (found.status === 'unavailable') throw new DomainError('OIDC_PROVIDER_UNAVAILABLE', { retryAfterSeconds: found.retryAfterSeconds });
    return found.provider;
  }

  /** Sends the browser to the provider, the checks sealed in its cookie. */
  async function start(request: FastifyRequest, reply: FastifyReply, redirectTo: string, linkUserId: number | null) {
    const discovered = await provider(name(request));
    const { url, checks } = await authorizationRequest(discovered, callbackUrl(settings.publicUrl, discovered.settings.name));
    const expiresAt = app.deps.clock.now().getTime() + FLOW_TTL_SECONDS * 1000;
    cookie.set(reply, flowKey, { ...checks, provider: discovered.settings.name, redirectTo, linkUserId, expiresAt });
    return reply.redirect(url.href, 303);
  }

  // A sign-in starts from the sign-in page's form (a POST with its CSRF token, from our origin): a link on
  // another site cannot start a flow in this browser (ASVS 5.0 7.6; issue 21, finding 7). A GET, an old
  // bookmark say, shows the sign-in page instead.
  app.get('/oauth/:name', { schema: { hide: true, params: NameParams, querystring: StartQuery } }, async (request, reply) => {
    const redirectTo = target((request.query as { redirect_to?: string }).redirect_to);
    if (request.page !== null) return reply.redirect(redirectTo ?? '/account', 303);
    return reply.redirect(`/account/login${redirectTo ? `?redirect_to=${encodeURIComponent(redirectTo)}` : ''}`, 303);
  });

  app.post('/oauth/:name', { schema: { hide: true, params: NameParams, body: PageBody }, bodyLimit: 16 * 1024 }, async (request, reply) => {
    const redirectTo = target((request.body as Record<string, string>)['redirect_to']) ?? '';
    if (request.page !== null) return reply.redirect(redirectTo || '/account', 303);
    return start(request, reply, redirectTo, null);
  });

  // Linking is a form (CSRF token, signed in): another site cannot start it in this browser. It asks who
  // you are first (password or second factor): a briefly stolen page session must not become a way in.
  app.post(
    '/oauth/:name/link',
    { schema: { hide: true, params: NameParams, body: PageBody }, bodyLimit: 16 * 1024, onRequest: app.throttles.passwordPerIp, preHandler: [requirePage, app.throttles.passwordPerAccount] },
    async (request, reply) => {
      const { user, session } = request.page!;
      const fields = request.body as Record<string, string>;
      const reauth = { currentPassword: fields['current_password'] ?? '', stepUp: pageStepUp(session.amr, fields), signedInAt: session.createdAt };
      await reauthenticateForLink(app.deps, user, reauth, clientInfo(request));
      return start(request, reply, '', user.id);
    },
  );

  // Each callback may cost a request to the provider: it counts as a sign-in attempt of this address.
  app.get('/oauth/:name/callback', { schema: { hide: true, params: NameParams, querystring: CallbackQuery }, onRequest: app.throttles.loginPerIp }, async (request, reply) => {
    const flow = cookie.take(request, reply, flowKey, app.deps.clock.now());
    const query = request.query as { error?: string };
    const refused = async (reason: string, text = 'The sign-in with the provider did not succeed. Start again from the sign-in page.') => {
      await recordFederatedFailure(app.deps, name(request), reason, clientInfo(request));
      return render(request, reply, settings, 'message', { title: 'Sign-in failed', text, alert: true, signIn: true }, 400);
    };
    // No flow of this browser (another browser's state, a replay after the cookie was spent, expired): refused
    // before the code is even redeemed.
    if (flow === undefined || flow.provider !== name(request)) return refused('no flow cookie for this provider');
    if (query.error !== undefined) return refused(`provider answered ${query.error}`, 'The provider did not sign you in. Start again from the sign-in page.');
    const discovered = await provider(flow.provider);
    // The URL the provider redirected to, rebuilt on PUBLIC_URL (never the Host header) with the query as received.
    const search = request.url.includes('?') ? request.url.slice(request.url.indexOf('?')) : '';
    let identity;
    try {
      identity = await completeAuthorization(discovered, new URL(`${callbackUrl(settings.publicUrl, flow.provider)}${search}`), flow);
    } catch (error) {
      return refused(String((error as Error).cause instanceof Error ? ((error as Error).cause as Error).message : (error as Error).message));
    }
    const client = clientInfo(request);
    if (flow.linkUserId !== null) {
      // The browser must still be signed in to the account that asked for the link.
      if (request.page === null || request.page.user.id !== flow.linkUserId) return refused('link flow finished by another account');
      try {
        await linkIdentityTo(app.deps, request.page.user, identity, client);
      } catch (error) {
        if (error instanceof DomainError && error.code === 'OIDC_IDENTITY_IN_USE') {
          return render(request, reply, settings, 'message', { title: 'Not linked', text: error.message, alert: true, account: true }, 409);
        }
        throw error;
      }
      return reply.redirect('/account?notice=identity_linked', 303);
    }
    try {
      return await finishSignIn(app, reply, settings, await loginWithIdentity(app.deps, identity, client), target(flow.redirectTo));
    } catch (error) {
      if (error instanceof MfaRequiredError) {
        return render(request, reply, settings, 'login-second-factor', { mfaToken: error.mfaToken, redirectTo: flow.redirectTo, state: { ...emptyForm(), focus: 'otp' } });
      }
      if (error instanceof DomainError && error.code === 'OIDC_LINK_REQUIRED') {
        return render(request, reply, settings, 'message', { title: 'Sign in to link this provider', text: LINK_REQUIRED, alert: true, signIn: true }, 409);
      }
      if (error instanceof DomainError && error.code === 'OIDC_EMAIL_NOT_VERIFIED') {
        return render(request, reply, settings, 'message', { title: 'E-mail address not confirmed', text: error.message, alert: true, signIn: true }, 403);
      }
      if (error instanceof DomainError && error.code === 'EMAIL_NOT_VERIFIED') {
        return render(request, reply, settings, 'message', { title: 'Check your mail', text: 'Confirm your e-mail address first: open the link we mailed to it, then sign in.' }, 403);
      }
      throw error;
    }
  });

  app.post('/identities/:id/unlink', { schema: { hide: true, params: IdParams, body: PageBody }, bodyLimit: 16 * 1024, preHandler: requirePage }, async (request, reply) => {
    try {
      await unlinkIdentity(app.deps, request.page!.user, Number((request.params as { id: string }).id), clientInfo(request));
    } catch (error) {
      if (error instanceof DomainError && error.code === 'LAST_SIGN_IN_METHOD') {
        return render(request, reply, settings, 'message', { title: 'Not unlinked', text: error.message, alert: true, account: true }, 409);
      }
      throw error;
    }
    return reply.redirect('/account?notice=identity_unlinked', 303);
  });
}
