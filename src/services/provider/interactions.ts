import type Provider from 'oidc-provider';
import type { InteractionResults } from 'oidc-provider';
import type { SessionRow, UserRow } from '../../db/schema.js';

type Interaction = Awaited<ReturnType<Provider['interactionDetails']>>;

/** What the login/consent page has to do for an authorization request (our pages decide how). */
export type InteractionStep =
  | { kind: 'sign-in'; prompt?: 'login'; stale?: string }
  | { kind: 'finished'; result: InteractionResults };

/**
 * Login is the browser's own page session: an already signed-in browser is not asked again, unless the
 * request says `prompt=login` or its `max_age` has passed (reasons the library puts on the login prompt).
 * Then the person signs in anew: the page session present when we asked (`stale`, or '-' for none) does not
 * count, whatever its age — comparing times would let a session opened in the same second pass.
 * @see OpenID Connect Core §3.1.2.1 (prompt, max_age)
 */
export function loginStep(interaction: Interaction, page: { user: UserRow; session: SessionRow } | null, stale: string | undefined): InteractionStep {
  const reasons = interaction.prompt.reasons;
  const freshNeeded = reasons.includes('login_prompt') || reasons.includes('max_age');
  if (freshNeeded && stale === undefined) return { kind: 'sign-in', prompt: 'login', stale: page?.session.id ?? '-' };
  if (page === null || (freshNeeded && page.session.id === stale)) return { kind: 'sign-in', ...(freshNeeded && { prompt: 'login' as const, stale: stale ?? '-' }) };
  return {
    kind: 'finished',
    result: { login: { accountId: String(page.user.id), ts: Math.floor(page.session.createdAt.getTime() / 1000), amr: page.session.amr, remember: false } },
  };
}

/** The scopes and claims the client asks for and the account has not granted it yet. */
export function missingConsent(interaction: Interaction): { scopes: string[]; claims: string[] } {
  const details = interaction.prompt.details as { missingOIDCScope?: string[]; missingOIDCClaims?: string[] };
  return { scopes: details.missingOIDCScope ?? [], claims: details.missingOIDCClaims ?? [] };
}

/** Records the consent as a grant (the library's model, kept by our storage adapter) and returns its id. */
export async function grantConsent(provider: Provider, interaction: Interaction): Promise<string> {
  const accountId = interaction.session?.accountId;
  const clientId = interaction.params['client_id'] as string;
  if (accountId === undefined) throw new Error('a consent without a signed-in account');
  const grant = interaction.grantId ? await provider.Grant.find(interaction.grantId) : new provider.Grant({ accountId, clientId });
  if (grant === undefined) throw new Error('the grant of this interaction is gone');
  const { scopes, claims } = missingConsent(interaction);
  if (scopes.length > 0) grant.addOIDCScope(scopes.join(' '));
  if (claims.length > 0) grant.addOIDCClaims(claims);
  const details = interaction.prompt.details as { missingResourceScopes?: Record<string, string[]> };
  for (const [resource, resourceScopes] of Object.entries(details.missingResourceScopes ?? {})) grant.addResourceScope(resource, resourceScopes.join(' '));
  return grant.save();
}
