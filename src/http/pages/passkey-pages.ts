import type { FastifyInstance } from 'fastify';
import Type from 'typebox';
import type { AuthenticationResponseJSON, RegistrationResponseJSON } from '@simplewebauthn/server';
import { loginWithPasskey, passkeyLoginOptions, passkeyRegistrationOptions, registerPasskey } from '../../services/second-factor/passkeys.js';
import { clientInfo } from '../auth-guard.js';
import { requirePage, startPageSession, type PageSettings } from './page-kit.js';
import { safeRedirectTarget } from './redirect-target.js';
import { pageStepUp } from './step-up-fields.js';

/** What the browser's WebAuthn call returns, as @simplewebauthn/browser serialises it; the library checks the rest. */
const CredentialJson = Type.Object(
  {
    id: Type.String({ minLength: 1, maxLength: 1024 }),
    rawId: Type.String({ maxLength: 1024 }),
    type: Type.Literal('public-key'),
    response: Type.Object({ clientDataJSON: Type.String({ minLength: 1, maxLength: 4096 }) }, { additionalProperties: true }),
  },
  { additionalProperties: true },
);
const RegisterBody = Type.Object({ response: CredentialJson, name: Type.Optional(Type.String({ maxLength: 64 })), _csrf: Type.Optional(Type.String()) });
const LoginBody = Type.Object({ response: CredentialJson, redirect_to: Type.Optional(Type.String({ maxLength: 2048 })), _csrf: Type.Optional(Type.String()) });
const Empty = Type.Object({}, { additionalProperties: true });
const OptionsBody = Type.Object({ current_password: Type.String({ minLength: 1, maxLength: 1024 }) }, { additionalProperties: true });

/**
 * The passkey ceremonies, called by assets/passkeys.js with `fetch` (JSON, the CSRF token in a header):
 * the only part of the pages that needs JavaScript, since WebAuthn is a browser API.
 */
export async function passkeyPages(app: FastifyInstance, settings: PageSettings): Promise<void> {
  const json = { bodyLimit: 16 * 1024 } as const;

  app.post(
    '/passkeys/options',
    { ...json, schema: { hide: true, body: OptionsBody }, onRequest: app.throttles.passwordPerIp, preHandler: [requirePage, app.throttles.passwordPerAccount] },
    async (request) => {
      const fields = request.body as { current_password: string };
      // With the second factor on, the script also sends the code typed beside the password (issue 21).
      return passkeyRegistrationOptions(app.deps, request.page!.user, fields.current_password, clientInfo(request), pageStepUp(request.page!.session.amr, fields));
    },
  );

  app.post('/passkeys', { ...json, schema: { hide: true, body: RegisterBody }, preHandler: requirePage }, async (request, reply) => {
    const { response, name } = request.body as { response: RegistrationResponseJSON; name?: string };
    const passkey = await registerPasskey(app.deps, request.page!.user, { response, name }, clientInfo(request));
    return reply.code(201).send({ id: passkey.id, name: passkey.name });
  });

  app.post('/passkey-login/options', { ...json, schema: { hide: true, body: Empty }, onRequest: app.throttles.loginPerIp }, async () => passkeyLoginOptions(app.deps));

  app.post('/passkey-login', { ...json, schema: { hide: true, body: LoginBody }, onRequest: app.throttles.loginPerIp }, async (request, reply) => {
    const { response, redirect_to } = request.body as { response: AuthenticationResponseJSON; redirect_to?: string };
    const tokens = await loginWithPasskey(app.deps, response, clientInfo(request));
    const target = safeRedirectTarget(redirect_to, { publicUrl: settings.publicUrl, allowedOrigins: settings.allowedRedirectOrigins }) ?? '/account';
    await startPageSession(app, reply, settings, tokens);
    // The script navigates there itself: a fetch's redirect would not move the page.
    return { redirect: target };
  });
}
