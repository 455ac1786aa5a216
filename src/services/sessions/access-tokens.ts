import type { AccessTokenClaims } from '../../crypto/jwt.js';
import type { UserRow } from '../../db/schema.js';
import { DomainError } from '../../errors.js';
import { findPrincipal } from '../../repositories/sessions/principals.js';
import type { ServiceDeps } from '../deps.js';
import { accountStatus } from '../account-status.js';
import { isSessionActive } from './sessions.js';

export interface Authenticated {
  user: UserRow;
  claims: AccessTokenClaims;
}

/**
 * Verifies an access token and checks it has not been revoked since it was signed: its session must still
 * be active (not revoked, not past its absolute end, not idle: a session that can no longer be refreshed
 * or listed speaks for nobody), and it must be newer than the user's `tokens_valid_after` (password
 * change, logout-all).
 * Tokens of the Python service (only `sub`, `exp`) are looked up by username and have no session.
 */
export async function authenticateAccessToken(deps: ServiceDeps, token: string): Promise<Authenticated> {
  const claims = await deps.accessTokens.verify(token);
  const by = claims.uid === undefined ? { username: claims.sub } : { userId: claims.uid };
  const principal = await findPrincipal(deps.db, by, claims.sid);
  if (principal === undefined) throw new DomainError('USER_NOT_FOUND');
  const { user, session } = principal;
  // Disabling or banning also revokes every token; this catches anything issued in between.
  if (accountStatus(user, deps.clock.now()) !== 'active') throw new DomainError('INVALID_TOKEN');
  if (claims.sid !== undefined && (session === null || !isSessionActive(session, deps.clock.now(), deps.sessionPolicy))) {
    throw new DomainError('INVALID_TOKEN');
  }
  if (user.tokensValidAfter !== null) {
    const issuedAtMs = claims.iat === undefined ? -Infinity : claims.iat * 1000;
    if (issuedAtMs < user.tokensValidAfter.getTime()) throw new DomainError('INVALID_TOKEN');
  }
  return { user, claims };
}
