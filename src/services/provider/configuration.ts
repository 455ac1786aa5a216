import Provider, { interactionPolicy, type Configuration, type KoaContextWithOIDC } from 'oidc-provider';
import type { Clock } from '../../clock.js';
import type { Database } from '../../db/client.js';
import { findUserById } from '../../repositories/users.js';
import { findGrantIdFor } from '../../repositories/provider/records.js';
import { accountStatus } from '../account-status.js';
import { providerSigningKey } from './signing-key.js';
import { storageAdapter } from './storage-adapter.js';

export interface ProviderSettings {
  /** PUBLIC_URL + '/oidc': the provider's issuer and the base of its endpoints. */
  issuer: string;
  /** Where the library sends the browser for login and consent: our own pages. */
  interactionPath: (uid: string) => string;
  secretKey: string;
  clientSecretKey: Buffer;
  cookieKeys: string[];
  trustProxy: boolean;
  /** The account signed in to our pages in the browser that sent these cookies, if any. */
  accountOfPageSession: (cookieHeader: string | undefined) => Promise<string | undefined>;
  /** Lifetimes, in seconds, from the service's own settings: a grant lives no longer than our sessions would. */
  lifetimes: { accessToken: number; refreshToken: number; session: number };
}

/** Sign-in and consent take at most this long; an authorization code is exchanged at once (RFC 6749 §4.1.2: 10 min at most). */
const INTERACTION_SECONDS = 600;
const CODE_SECONDS = 60;

/**
 * The library's prompts, with one more check on login: the browser must still be signed in to our pages as
 * the account the library remembers. The provider's own session cookie never outlives ours: signed out of
 * /account (or the session ended by logout-all, a reset, an admin), the next authorization asks again.
 * @see issue 23 ("One account session")
 */
function interactionPrompts(accountOfPageSession: ProviderSettings['accountOfPageSession']) {
  const prompts = interactionPolicy.base();
  const login = prompts.get('login')!;
  login.checks.add(
    new interactionPolicy.Check('account_session', 'The browser is not signed in to the account pages', async (ctx) => {
      const remembered = ctx.oidc.session?.accountId;
      if (remembered === undefined) return interactionPolicy.Check.REQUEST_PROMPT;
      const signedIn = await accountOfPageSession(ctx.get('cookie') || undefined);
      return signedIn === remembered ? interactionPolicy.Check.NO_NEED_TO_PROMPT : interactionPolicy.Check.REQUEST_PROMPT;
    }),
  );
  return prompts;
}

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** The scopes and the claims each releases (OpenID Connect Core §5.4, plus our `roles`). */
const CLAIMS = {
  openid: ['sub'],
  profile: ['preferred_username', 'name'],
  email: ['email', 'email_verified'],
  roles: ['roles'],
};

/**
 * panva's oidc-provider (OpenID Certified), configured as our authorization server. We supply the storage,
 * the accounts, the keys and the login/consent pages; the protocol is the library's.
 * @see issue 23; RFC 9700 (OAuth 2.0 Security BCP); OAuth 2.1
 */
export async function createOpenIdProvider(deps: { db: Database; clock: Clock }, settings: ProviderSettings): Promise<Provider> {
  const { db, clock } = deps;
  const configuration: Configuration = {
    adapter: storageAdapter({ db, clock, clientSecretKey: settings.clientSecretKey }) as never,
    jwks: { keys: [(await providerSigningKey(db, settings.secretKey)) as never] },
    cookies: { keys: settings.cookieKeys },
    claims: CLAIMS,
    scopes: ['openid', 'offline_access', ...Object.keys(CLAIMS).filter((s) => s !== 'openid')],
    // `sub` is the account's id: stable across renames and address changes, never the username.
    async findAccount(_ctx, sub) {
      const id = Number(sub);
      if (!Number.isSafeInteger(id)) return undefined;
      const user = await findUserById(db, id);
      // A disabled, banned or deleted account has no claims: its tokens stop working at userinfo and
      // introspection, and the library refuses to finish a login for it.
      if (user === undefined || accountStatus(user, clock.now()) !== 'active') return undefined;
      return {
        accountId: sub,
        async claims() {
          return {
            sub,
            preferred_username: user.username,
            name: user.username,
            email: user.email,
            email_verified: user.emailVerified,
            roles: user.roles,
          };
        },
      };
    },
    // PKCE S256 for every client, confidential ones too (OAuth 2.1 §4.1.1; RFC 9700 §2.1.1). The library
    // knows no `plain` method.
    pkce: { required: () => true },
    responseTypes: ['code'],
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: { enabled: true },
      revocation: { enabled: true },
      rpInitiatedLogout: { enabled: true },
      userinfo: { enabled: true },
    },
    ttl: {
      AccessToken: settings.lifetimes.accessToken,
      ClientCredentials: settings.lifetimes.accessToken,
      IdToken: settings.lifetimes.accessToken,
      AuthorizationCode: CODE_SECONDS,
      Interaction: INTERACTION_SECONDS,
      Session: settings.lifetimes.session,
      Grant: settings.lifetimes.refreshToken,
      RefreshToken: settings.lifetimes.refreshToken,
    },
    // The library's default error page loads a web font from another site; ours names the error only.
    renderError(ctx, out) {
      ctx.type = 'html';
      ctx.body = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Sign-in error</title></head><body><h1>This sign-in request cannot go on</h1><p>${escapeHtml(String(out['error_description'] ?? out['error']))}</p><p>Go back to the application and try again.</p></body></html>`;
    },
    interactions: { url: (_ctx, interaction) => settings.interactionPath(interaction.uid), policy: interactionPrompts(settings.accountOfPageSession) },
    // Every use of a refresh token gives a new one; the used one presented again ends the grant (RFC 9700 §4.14.2).
    rotateRefreshToken: () => true,
    // Cross-origin calls to the token and userinfo endpoints only from an origin a client redirects to.
    clientBasedCORS(_ctx, origin, client) {
      return client.redirectUris?.some((uri) => new URL(uri).origin === origin) ?? false;
    },
    // A consent given to a client is remembered for the account across sign-ins, until revoked.
    async loadExistingGrant(ctx: KoaContextWithOIDC) {
      const session = ctx.oidc.session;
      const client = ctx.oidc.client;
      if (session?.accountId === undefined || client === undefined) return undefined;
      const grantId = ctx.oidc.result?.consent?.grantId ?? session.grantIdFor(client.clientId) ?? (await findGrantIdFor(db, session.accountId, client.clientId, clock.now()));
      return grantId === undefined ? undefined : ctx.oidc.provider.Grant.find(grantId);
    },
  };
  const provider = new Provider(settings.issuer, configuration);
  provider.proxy = settings.trustProxy;
  return provider;
}
