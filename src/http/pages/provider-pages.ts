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
// The page session that was there when a fresh sign-in was asked for ('-': none); see loginStep.
const StaleQuery = Type.Object({ stale: Type.Optional(Type.String({ pattern: '^(-|[0-9a-f-]{36})$' })) });
const Decision = Type.Object({ decision: Type.Union([Type.Literal('allow'), Type.Literal('deny')]), _csrf: Type.Optional(Type.String()) });

/**
 * The provider's login and consent steps are these pages (issue 23): oidc-provider sends the browser to
 * /account/authorize/:uid, which signs it in with our own pages (password, second factor, passkey,
 * "sign in with…"), asks a third-party client's consent, and hands the result back to the library.
 */
export async function providerPages(app: FastifyInstance, options: PageSettings & { oidcProvider: Provider }): Promise<void> {
  const provider = options.oidcProvider;
  const back = (uid: string) => `/account/authorize/${uid}`;

  /**
   * Hands the step's result to the library and moves the browser on to it with a page that refreshes, not a
   * redirect: after a form (sign-in, consent), browsers apply the page's CSP `form-action` to every redirect
   * that follows, and the last one goes to the application's origin, which ours does not name.
   */
  const finish = async (request: FastifyRequest, reply: FastifyReply, clientName: string, result: Parameters<Provider['interactionResult']>[2], merge: boolean) => {
    const next = await provider.interactionResult(request.raw, reply.raw, result, { mergeWithLastSubmission: merge });
    return render(request, reply, options, 'authorize-continue', { title: 'Signing in', clientName, next, refreshTo: next });
  };

  const clientNameOf = async (interaction: Awaited<ReturnType<Provider['interactionDetails']>>) => (await getClient(app.deps, interaction.params['client_id'] as string)).name;

  app.get('/authorize/:uid', { schema: { params: Params, querystring: StaleQuery } }, async (request, reply) => {
    const { uid } = request.params as { uid: string };
    const { stale } = request.query as { stale?: string };
    const interaction = await provider.interactionDetails(request.raw, reply.raw);
    if (interaction.uid !== uid) return reply.redirect(back(interaction.uid), 303);
    if (interaction.prompt.name === 'login') {
      const step = loginStep(interaction, request.page, stale);
      if (step.kind === 'finished') return finish(request, reply, await clientNameOf(interaction), step.result, false);
      const target = step.stale === undefined ? back(uid) : `${back(uid)}?stale=${encodeURIComponent(step.stale)}`;
      return reply.redirect(`/account/login?redirect_to=${encodeURIComponent(target)}${step.prompt ? '&prompt=login' : ''}`, 303);
    }
    // Consent: the page session must still be the account the library signed in.
    if (request.page === null || interaction.session?.accountId !== String(request.page.user.id)) {
      return reply.redirect(`/account/login?redirect_to=${encodeURIComponent(back(uid))}`, 303);
    }
    const client = await getClient(app.deps, interaction.params['client_id'] as string);
    // Our own applications do not ask: the person is already trusting us with the account.
    if (client.first_party) return finish(request, reply, client.name, { consent: { grantId: await grantConsent(provider, interaction) } }, true);
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
    const clientName = await clientNameOf(interaction);
    if (decision === 'deny') return finish(request, reply, clientName, { error: 'access_denied', error_description: 'The person declined the request' }, false);
    return finish(request, reply, clientName, { consent: { grantId: await grantConsent(provider, interaction) } }, true);
  });
}
