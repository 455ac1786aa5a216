import { createHmac } from 'node:crypto';
import { hashOpaqueToken, newOpaqueToken } from '../../crypto/opaque-tokens.js';
import type { SessionRow, UserRow } from '../../db/schema.js';
import { DomainError } from '../../errors.js';
import {
  findRefreshToken,
  findRefreshTokenWithSession,
  insertRefreshToken,
  markRefreshTokenUsed,
} from '../../repositories/sessions/refresh-tokens.js';
import { revokeSession, touchSession } from '../../repositories/sessions/sessions.js';
import { findUserById } from '../../repositories/users.js';
import { recordSecurityEvent } from '../audit.js';
import type { ClientInfo, ServiceDeps } from '../deps.js';
import { isSessionActive } from './sessions.js';
import { accountStatus } from '../account-status.js';

export interface TokenPair {
  access_token: string;
  token_type: 'bearer';
  expires_in: number;
  refresh_token: string;
}

/**
 * The successor of a refresh token is derived from it (HMAC with a server key) rather than drawn at random,
 * so a retired token presented again inside the reuse interval can be answered with the *same* successor
 * without ever storing a token in clear. Unpredictable without both the parent token and the key.
 */
function successorOf(deps: ServiceDeps, refreshToken: string): string {
  return createHmac('sha256', deps.refreshTokenKey).update(`refresh-successor\0${refreshToken}`).digest('base64url');
}

async function storeRefreshToken(deps: ServiceDeps, db: ServiceDeps['db'], sessionId: string, token: string, now: Date) {
  await insertRefreshToken(db, {
    sessionId,
    tokenHash: hashOpaqueToken(token),
    createdAt: now,
    expiresAt: new Date(now.getTime() + deps.sessionPolicy.refreshTokenTtlSeconds * 1000),
  });
}

/**
 * `amr` (RFC 8176) goes into every token whose session was opened by anything but the password alone:
 * `["pwd","otp"]` (second factor), `["hwk","mfa"]` (passkey), `["fed","idp:<name>"]` (an OpenID provider,
 * with `"otp"` after a second factor). A password login's token keeps the Python service's shape and size:
 * a token without `amr` means exactly "password". Refreshes keep the session's value.
 * @see RFC 8176 §2; issues 14, 15 and 17
 */
export const amrClaim = (amr: unknown): { amr?: string[] } =>
  Array.isArray(amr) && amr.every((method) => typeof method === 'string') && !(amr.length === 1 && amr[0] === 'pwd') ? { amr: amr as string[] } : {};

type TokenSubject = Pick<UserRow, 'id' | 'username' | 'roles'>;

async function pair(deps: ServiceDeps, user: TokenSubject, session: SessionRow, refreshToken: string): Promise<TokenPair> {
  return {
    access_token: await deps.accessTokens.sign({ userId: user.id, username: user.username, sessionId: session.id, ...amrClaim(session.amr), roles: user.roles }),
    token_type: 'bearer',
    expires_in: deps.accessTokenTtlSeconds,
    refresh_token: refreshToken,
  };
}

/** The first tokens of a new session. */
export async function issueTokens(deps: ServiceDeps, user: TokenSubject, session: SessionRow): Promise<TokenPair> {
  const refreshToken = newOpaqueToken();
  await storeRefreshToken(deps, deps.db, session.id, refreshToken, deps.clock.now());
  return pair(deps, user, session, refreshToken);
}

type Rotation =
  | { kind: 'rotated'; session: SessionRow; refreshToken: string }
  | { kind: 'reused'; session: SessionRow }
  | { kind: 'invalid' };

/**
 * The refresh grant with rotation: the presented token is retired and a successor issued. A retired token
 * presented again is treated as theft and ends the whole session (its newest token too) — unless it comes
 * within the reuse interval, when it gets the same successor (two tabs refreshing at once).
 * @see RFC 6749 §6; RFC 9700 §4.14.2 (refresh token rotation and reuse detection)
 */
export async function refreshTokens(deps: ServiceDeps, refreshToken: string, client: ClientInfo): Promise<TokenPair> {
  const now = deps.clock.now();
  const rotation = await deps.db.transaction(async (tx): Promise<Rotation> => {
    const found = await findRefreshTokenWithSession(tx, hashOpaqueToken(refreshToken), { forUpdate: true });
    if (found === undefined || !isSessionActive(found.session, now, deps.sessionPolicy)) return { kind: 'invalid' };
    const { token, session } = found;
    const successor = successorOf(deps, refreshToken);
    if (token.usedAt !== null) {
      const withinInterval = now.getTime() - token.usedAt.getTime() <= deps.sessionPolicy.reuseIntervalSeconds * 1000;
      const next = withinInterval ? await findRefreshToken(tx, hashOpaqueToken(successor)) : undefined;
      if (next !== undefined && next.usedAt === null) return { kind: 'rotated', session, refreshToken: successor };
      // Revocation must commit even though the request fails, so it happens here, not by throwing.
      await revokeSession(tx, { id: session.id }, now, 'refresh_token_reuse');
      return { kind: 'reused', session };
    }
    if (token.expiresAt.getTime() <= now.getTime()) return { kind: 'invalid' };
    if (!(await markRefreshTokenUsed(tx, token.id, now))) return { kind: 'invalid' };
    await storeRefreshToken(deps, tx, session.id, successor, now);
    await touchSession(tx, session.id, now);
    return { kind: 'rotated', session, refreshToken: successor };
  });

  if (rotation.kind === 'reused') {
    await recordSecurityEvent(deps, {
      type: 'refresh_token_reused',
      userId: rotation.session.userId,
      client,
      details: { sessionId: rotation.session.id },
    });
  }
  if (rotation.kind !== 'rotated') throw new DomainError('INVALID_REFRESH_TOKEN');
  const user = await findUserById(deps.db, rotation.session.userId);
  if (user === undefined || accountStatus(user, now) !== 'active') throw new DomainError('INVALID_REFRESH_TOKEN');
  return pair(deps, user, rotation.session, rotation.refreshToken);
}
