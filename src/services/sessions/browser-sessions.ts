import { hashOpaqueToken, newOpaqueToken } from '../../crypto/opaque-tokens.js';
import type { SessionRow, UserRow } from '../../db/schema.js';
import { deleteBrowserSession, findBrowserSession, insertBrowserSession } from '../../repositories/sessions/browser-sessions.js';
import { touchSession } from '../../repositories/sessions/sessions.js';
import type { ClientInfo, ServiceDeps } from '../deps.js';
import type { LoginTokens } from '../sign-in/login-session.js';
import { isSessionActive, logout } from './sessions.js';
import { accountStatus } from '../account-status.js';

/**
 * A browser signed in to the account pages (issue 15). The pages log in through the very services the
 * token endpoint uses — same lockout, same second factor, same session row — and then hand the browser
 * an opaque cookie token bound to that session instead of the token pair. The pair's refresh token never
 * leaves the process (only its hash was stored; it expires unused). The cookie token itself is stored
 * only as its SHA-256, like refresh tokens, so a copy of the database holds no usable cookie.
 */
export async function openBrowserSession(deps: ServiceDeps, tokens: LoginTokens): Promise<string> {
  const claims = await deps.accessTokens.verify(tokens.access_token);
  if (claims.sid === undefined) throw new Error('a login session without a session id');
  const cookieToken = newOpaqueToken();
  await insertBrowserSession(deps.db, { tokenHash: hashOpaqueToken(cookieToken), sessionId: claims.sid, createdAt: deps.clock.now() });
  return cookieToken;
}

export interface BrowserPrincipal {
  user: UserRow;
  session: SessionRow;
}

/**
 * The user and session behind a cookie, if the session is still open: ended from the sessions list,
 * by logout-all, a password change or reset, an idle spell or its absolute lifetime, the cookie ends too.
 * Each use counts as activity for the idle timeout, as a refresh does.
 */
export async function browserPrincipal(deps: ServiceDeps, cookieToken: string): Promise<BrowserPrincipal | undefined> {
  const found = await findBrowserSession(deps.db, hashOpaqueToken(cookieToken));
  if (found === undefined) return undefined;
  const now = deps.clock.now();
  // A disabled account, and a running ban too (issue 21, finding 7), as the access-token check refuses them.
  if (accountStatus(found.user, now) !== 'active' || !isSessionActive(found.session, now, deps.sessionPolicy)) return undefined;
  if (found.user.tokensValidAfter !== null && found.session.createdAt.getTime() < found.user.tokensValidAfter.getTime()) return undefined;
  await touchSession(deps.db, found.session.id, now);
  return found;
}

/** "Sign out": ends the session behind the cookie (as `POST /user/logout` does) and forgets the cookie. */
export async function endBrowserSession(deps: ServiceDeps, cookieToken: string, client: ClientInfo): Promise<void> {
  const tokenHash = hashOpaqueToken(cookieToken);
  const found = await findBrowserSession(deps.db, tokenHash);
  if (found === undefined) return;
  await logout(deps, found.user.id, found.session.id, client);
  await deleteBrowserSession(deps.db, tokenHash);
}
