// Sessions: the rows every way in opens (sessions.ts), the tokens they issue and refresh (token-pairs.ts),
// access-token checks (access-tokens.ts), page cookies (browser-sessions.ts), RFC 7009/7662 endpoints
// (revocation-and-introspection.ts) and the signing-key ring (signing-keys.ts).
import type { SessionRow, UserRow } from '../../db/schema.js';
import { DomainError } from '../../errors.js';
import { findOpenSessions, insertSession, revokeSession, revokeUserSessions } from '../../repositories/sessions/sessions.js';
import { bumpSecurityStamp, revokeAccessTokensIssuedBefore } from '../../repositories/users.js';
import { recordSecurityEvent } from '../audit.js';
import { storedIp, storedUserAgent } from '../client-info.js';
import { endProviderAccess } from '../provider/grants.js';
import type { ClientInfo, ServiceDeps, SessionPolicy } from '../deps.js';

/** Open and not idle for longer than the policy allows. */
export function isSessionActive(session: Pick<SessionRow, 'revokedAt' | 'expiresAt' | 'lastUsedAt'>, now: Date, policy: SessionPolicy): boolean {
  return (
    session.revokedAt === null &&
    session.expiresAt.getTime() > now.getTime() &&
    session.lastUsedAt.getTime() + policy.idleTimeoutSeconds * 1000 > now.getTime()
  );
}

/**
 * Opens the session of a login, only while the account still holds the credentials the login verified
 * (`user` as read then): undefined when a password change or logout-all committed meanwhile. Past
 * MAX_SESSIONS_PER_USER, the user's least recently used session ends. `amr` (RFC 8176): how the login was
 * authenticated, kept for the session's tokens and its refreshes.
 */
export async function startSession(
  deps: ServiceDeps,
  user: Pick<UserRow, 'id' | 'hashPassword' | 'securityStamp'>,
  client: ClientInfo,
  amr: string[] = ['pwd'],
): Promise<SessionRow | undefined> {
  const now = deps.clock.now();
  return insertSession(deps.db, {
    userId: user.id,
    now,
    expiresAt: new Date(now.getTime() + deps.sessionPolicy.maxLifetimeSeconds * 1000),
    userAgent: storedUserAgent(client),
    ip: storedIp(client),
    verified: { hashPassword: user.hashPassword, securityStamp: user.securityStamp },
    maxOpen: deps.sessionPolicy.maxSessionsPerUser,
    amr,
  });
}

export interface SessionView {
  id: string;
  created_at: string;
  last_used_at: string;
  expires_at: string;
  user_agent: string | null;
  ip: string | null;
  current: boolean;
  amr: string[];
}

export async function listSessions(deps: ServiceDeps, userId: number, currentSessionId: string | undefined): Promise<SessionView[]> {
  const now = deps.clock.now();
  const open = await findOpenSessions(deps.db, userId, now);
  return open
    .filter((s) => isSessionActive(s, now, deps.sessionPolicy))
    .map((s) => ({
      id: s.id,
      created_at: s.createdAt.toISOString(),
      last_used_at: s.lastUsedAt.toISOString(),
      expires_at: s.expiresAt.toISOString(),
      user_agent: s.userAgent,
      ip: s.ip,
      current: s.id === currentSessionId,
      amr: s.amr,
    }));
}

/** Ends one of the user's own sessions; anyone else's (or an unknown id) is "not found". */
export async function endSession(
  deps: ServiceDeps,
  userId: number,
  sessionId: string,
  client: ClientInfo,
  reason: 'logout' | 'session_revoked',
): Promise<void> {
  const ended = await revokeSession(deps.db, { id: sessionId, userId }, deps.clock.now(), reason);
  if (!ended) throw new DomainError('SESSION_NOT_FOUND');
  await recordSecurityEvent(deps, { type: reason, userId, client, details: { sessionId } });
}

/** Ends the session a request's token belongs to; tokens of the Python service have none (nothing to end). */
export async function logout(deps: ServiceDeps, userId: number, sessionId: string | undefined, client: ClientInfo) {
  if (sessionId === undefined) return;
  await revokeSession(deps.db, { id: sessionId, userId }, deps.clock.now(), 'logout');
  await recordSecurityEvent(deps, { type: 'logout', userId, client, details: { sessionId } });
}

export async function logoutEverywhere(deps: ServiceDeps, userId: number, client: ClientInfo): Promise<void> {
  const ended = await endAllSessions(deps, userId, 'logout_all');
  await recordSecurityEvent(deps, { type: 'logout_all', userId, client, details: { sessions: ended } });
}

/**
 * Revokes every session and, through `tokens_valid_after`, every access token without a session too.
 * Used by logout-all and password change.
 */
export async function endAllSessions(deps: Pick<ServiceDeps, 'db' | 'clock'>, userId: number, reason: string): Promise<number> {
  const now = deps.clock.now();
  return deps.db.transaction(async (tx) => {
    await revokeAccessTokensIssuedBefore(tx, userId, now);
    await endProviderAccess(tx, userId);
    return revokeUserSessions(tx, userId, now, reason);
  });
}

/**
 * Ends every session of the user but `keep` (the session that made the change: enabling a second factor, a
 * first verification), and moves the security stamp on so a login already past its password check opens
 * nothing. Without `keep` it is `endAllSessions`. Access tokens of the kept session stay valid, so
 * `tokens_valid_after` is left alone: the other sessions' tokens die with their sessions.
 * @see issue 21, findings 1 and 2; ASVS 5.0 7.4.3
 */
export async function endOtherSessions(deps: Pick<ServiceDeps, 'db' | 'clock'>, userId: number, keep: string | undefined, reason: string): Promise<number> {
  if (keep === undefined) return endAllSessions(deps, userId, reason);
  return deps.db.transaction(async (tx) => {
    await bumpSecurityStamp(tx, userId);
    await endProviderAccess(tx, userId);
    return revokeUserSessions(tx, userId, deps.clock.now(), reason, keep);
  });
}
