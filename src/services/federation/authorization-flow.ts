import * as client from 'openid-client';
import { DomainError } from '../../errors.js';
import type { DiscoveredProvider } from './provider-registry.js';

/** What the browser's flow cookie keeps between the redirect to the provider and its callback. */
export interface FlowChecks {
  state: string;
  nonce: string;
  codeVerifier: string;
}

/** What a provider's verified ID token says about the person. */
export interface ProviderIdentity {
  provider: string;
  subject: string;
  email: string | null;
  emailVerified: boolean;
}

/** The redirect URI registered with every provider: PUBLIC_URL/account/oauth/<name>/callback. */
export const callbackUrl = (publicUrl: string, provider: string) => `${publicUrl}/account/oauth/${provider}/callback`;

/**
 * The authorization request: code flow, PKCE S256, fresh `state` and `nonce`. The caller binds the checks
 * to this browser (a sealed cookie), so a callback can only finish the flow its own browser started.
 * @see OpenID Connect Core 1.0 §3.1.2.1; RFC 7636; RFC 9700 §2.1 (CSRF: state bound to the user agent)
 */
export async function authorizationRequest(provider: DiscoveredProvider, redirectUri: string): Promise<{ url: URL; checks: FlowChecks }> {
  const checks = { state: client.randomState(), nonce: client.randomNonce(), codeVerifier: client.randomPKCECodeVerifier() };
  const url = client.buildAuthorizationUrl(provider.configuration, {
    redirect_uri: redirectUri,
    scope: provider.settings.scopes,
    response_type: 'code',
    state: checks.state,
    nonce: checks.nonce,
    code_challenge: await client.calculatePKCECodeChallenge(checks.codeVerifier),
    code_challenge_method: 'S256',
  });
  return { url, checks };
}

/**
 * The callback: checks `state`, redeems the code with the PKCE verifier, and validates the ID token —
 * signature against the provider's JWKS with the pinned algorithm, `iss`, `aud` (and `azp`), `exp`, `iat`
 * and `nonce` (openid-client does each; none is skipped here). Any failure is the one OIDC_SIGN_IN_FAILED;
 * `reason` goes to the log only.
 * @see OpenID Connect Core 1.0 §3.1.3.7 (ID token validation)
 */
export async function completeAuthorization(
  provider: DiscoveredProvider,
  currentUrl: URL,
  checks: FlowChecks,
): Promise<ProviderIdentity> {
  let claims: client.IDToken | undefined;
  let stated: Record<string, unknown> | undefined;
  try {
    const tokens = await client.authorizationCodeGrant(provider.configuration, currentUrl, {
      pkceCodeVerifier: checks.codeVerifier,
      expectedState: checks.state,
      expectedNonce: checks.nonce,
      idTokenExpected: true,
    });
    claims = tokens.claims();
    if (claims === undefined || typeof claims.sub !== 'string' || claims.sub === '' || claims.sub.length > 255) throw new DomainError('OIDC_SIGN_IN_FAILED');
    stated = await emailClaims(provider, claims, tokens.access_token);
  } catch (error) {
    if (error instanceof DomainError) throw error;
    throw new DomainError('OIDC_SIGN_IN_FAILED', { cause: error });
  }
  const email = typeof stated['email'] === 'string' && stated['email'].length <= 254 ? stated['email'] : null;
  // Only a literal `true` counts (some providers send the string "true"; that is not what the spec says).
  const emailVerified = email !== null && stated['email_verified'] === true;
  return { provider: provider.settings.name, subject: claims.sub, email, emailVerified };
}

/**
 * Where the e-mail claims are: the ID token when it carries them; otherwise the UserInfo endpoint, which is
 * where OpenID Connect returns the claims of requested scopes when an access token is issued (a provider
 * in its default configuration — panva's oidc-provider, Okta's code flow — leaves them out of the ID
 * token). openid-client checks that UserInfo's `sub` is the ID token's (§5.3.2: else it may be a token
 * substitution) and refuses the answer otherwise.
 * @see OpenID Connect Core 1.0 §5.4, §5.3.2; issue 21, finding 8
 */
async function emailClaims(provider: DiscoveredProvider, claims: client.IDToken, accessToken: string): Promise<Record<string, unknown>> {
  const inIdToken = typeof claims['email'] === 'string' && claims['email_verified'] !== undefined;
  if (inIdToken || provider.configuration.serverMetadata().userinfo_endpoint === undefined) return claims;
  return client.fetchUserInfo(provider.configuration, accessToken, claims.sub);
}
