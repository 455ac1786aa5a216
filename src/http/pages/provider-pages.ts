import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type Provider from 'oidc-provider';
import Type from 'typebox';
import { getClient } from '../../services/provider/clients.js';
import { grantConsent, loginStep, missingConsent } from '../../services/provider/interactions.js';
import { render, type PageSettings } from './page-kit.js';

/** Words a person reads on the consent page for each scope. */
const SCOPE_WORDS: Record<string, string> = {
  openid: 'know who you are (your account id)',
  profile: 'see your username',
  email: 'see your e-mail address and whether it is confirmed',
  roles: 'see your roles',
  offline_access: 'keep access while you are away (a refresh token)',
};

const Params = Type.Object({ uid: Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$' }) });
const Decision = Type.Object({ decision: Type.Union([Type.Literal('allow'), Type.Literal('deny')]), _csrf: Type.Optional(Type.String()) });

/**
 * The provider's login and consent steps are these pages (issue 23): oidc-provider sends the browser to
 * /account/authorize/:uid, which signs it in with our own pages (password, second factor, passkey,
 * "sign in with…"), asks a third-party client's consent, and hands the result back to the library.
 */
export async function providerPages(app: FastifyInstance, options: PageSettings & { oidcProvider: Provider }): Promise<void> {
  const provider = options.oidcProvider;
  const back = (uid: string) => `/account/authorize/${uid}`;

  /** The library writes its redirect on the raw response: Fastify must not answer too. */
  const finish = async (request: FastifyRequest, reply: FastifyReply, result: Parameters<Provider['interactionFinished']>[2], merge: boolean) => {
    reply.hijack();
    await provider.interactionFinished(request.raw, reply.raw, result, { mergeWithLastSubmission: merge });
  };

  app.get('/authorize/:uid', { schema: { params: Params } }, async (request, reply) => {
    const { uid } = request.params as { uid: string };
    const interaction = await provider.interactionDetails(request.raw, reply.raw);
    if (interaction.uid !== uid) return reply.redirect(back(interaction.uid), 303);
    if (interaction.prompt.name === 'login') {
      const step = loginStep(interaction, request.page);
      if (step.kind === 'sign-in') return reply.redirect(`/account/login?redirect_to=${encodeURIComponent(back(uid))}&prompt=login`, 303);
      if (step.kind === 'finished') return finish(request, reply, step.result, false);
    }
    // Consent: the page session must still be the account the library signed in.
    if (request.page === null || interaction.session?.accountId !== String(request.page.user.id)) {
      return reply.redirect(`/account/login?redirect_to=${encodeURIComponent(back(uid))}`, 303);
    }
    const client = await getClient(app.deps, interaction.params['client_id'] as string);
    // Our own applications do not ask: the person is already trusting us with the account.
    if (client.first_party) return finish(request, reply, { consent: { grantId: await grantConsent(provider, interaction) } }, true);
    const { scopes } = missingConsent(interaction);
    return render(request, reply, options, 'authorize-consent', {
      uid,
      clientName: client.name,
      scopes: scopes.map((scope) => SCOPE_WORDS[scope] ?? scope),
    });
  });

  app.post('/authorize/:uid', { schema: { params: Params, body: Decision } }, async (request, reply) => {
    const interaction = await provider.interactionDetails(request.raw, reply.raw);
    if (request.page === null || interaction.prompt.name !== 'consent' || interaction.session?.accountId !== String(request.page.user.id)) {
      return reply.redirect(back(interaction.uid), 303);
    }
    const { decision } = request.body as { decision: 'allow' | 'deny' };
    if (decision === 'deny') return finish(request, reply, { error: 'access_denied', error_description: 'The person declined the request' }, false);
    return finish(request, reply, { consent: { grantId: await grantConsent(provider, interaction) } }, true);
  });
}
