import { createHash, timingSafeEqual } from 'node:crypto';
import { hashOpaqueToken } from '../../crypto/opaque-tokens.js';
import type { UserRow } from '../../db/schema.js';
import { DomainError } from '../../errors.js';
import { findRefreshTokenWithSession } from '../../repositories/sessions/refresh-tokens.js';
import { amrClaim } from './token-pairs.js';
import { revokeSession } from '../../repositories/sessions/sessions.js';
import { findUserById } from '../../repositories/users.js';
import { authenticateAccessToken } from './access-tokens.js';
import { recordSecurityEvent } from '../audit.js';
import type { ClientInfo, ServiceDeps } from '../deps.js';
import { isSessionActive } from './sessions.js';
import { accountStatus } from '../account-status.js';

const looksLikeJwt = (token: string) => token.split('.').length === 3;

/** The session a token belongs to, if the token is one of ours and still valid. */
async function sessionOfToken(deps: ServiceDeps, token: string): Promise<{ sessionId: string; userId: number } | undefined> {
  if (looksLikeJwt(token)) {
    try {
      const { user, claims } = await authenticateAccessToken(deps, token);
      return claims.sid === undefined ? undefined : { sessionId: claims.sid, userId: user.id };
    } catch (error) {
      if (error instanceof DomainError) return undefined;
      throw error;
    }
  }
  const found = await findRefreshTokenWithSession(deps.db, hashOpaqueToken(token));
  return found && { sessionId: found.session.id, userId: found.session.userId };
}

/**
 * Token revocation. Either kind of token ends its whole session: a refresh token's access tokens must die
 * with it (RFC 7009 §2.1 "SHOULD"), and an access token's refresh token likewise. Unknown and invalid
 * tokens are not an error: the answer never tells whether a token existed.
 * @see RFC 7009 §2.2
 */
export async function revokeToken(deps: ServiceDeps, token: string, client: ClientInfo): Promise<void> {
  const target = await sessionOfToken(deps, token);
  if (target === undefined) return;
  if (await revokeSession(deps.db, { id: target.sessionId }, deps.clock.now(), 'token_revoked')) {
    await recordSecurityEvent(deps, { type: 'token_revoked', userId: target.userId, client, details: { sessionId: target.sessionId } });
  }
}

export type Introspection =
  | { active: false }
  | {
      active: true;
      token_type: 'access_token' | 'refresh_token';
      sub: string;
      username: string;
      uid: number;
      sid?: string;
      roles?: string[];
      exp: number;
      iat?: number;
      jti?: string;
      /** Sessions opened with the second factor: `["pwd", "otp"]` (RFC 8176), as in their access tokens. */
      amr?: string[];
      scope: string;
    };

/** The user's current roles (from the row, not the token: a change shows at once), omitted when none, as in tokens. */
const rolesOf = (user: UserRow) => (user.roles.length > 0 ? { roles: user.roles } : {});

/** @see RFC 7662 §2.2 — anything but a currently valid token of ours is just `{"active": false}`. */
export async function introspectToken(deps: ServiceDeps, token: string): Promise<Introspection> {
  if (looksLikeJwt(token)) {
    try {
      const { user, claims } = await authenticateAccessToken(deps, token);
      return {
        active: true,
        token_type: 'access_token',
        sub: claims.sub,
        username: user.username,
        uid: user.id,
        ...(claims.sid === undefined ? {} : { sid: claims.sid }),
        ...rolesOf(user),
        exp: claims.exp,
        ...(claims.iat === undefined ? {} : { iat: claims.iat }),
        ...(claims.jti === undefined ? {} : { jti: claims.jti }),
        ...amrClaim(claims.amr),
        scope: '',
      };
    } catch (error) {
      if (error instanceof DomainError) return { active: false };
      throw error;
    }
  }
  const now = deps.clock.now();
  const found = await findRefreshTokenWithSession(deps.db, hashOpaqueToken(token));
  if (found === undefined || found.token.usedAt !== null || found.token.expiresAt <= now) return { active: false };
  if (!isSessionActive(found.session, now, deps.sessionPolicy)) return { active: false };
  const user = await findUserById(deps.db, found.session.userId);
  if (user === undefined || accountStatus(user, now) !== 'active') return { active: false };
  return {
    active: true,
    token_type: 'refresh_token',
    sub: user.username,
    username: user.username,
    uid: user.id,
    sid: found.session.id,
    ...rolesOf(user),
    exp: Math.floor(found.token.expiresAt.getTime() / 1000),
    iat: Math.floor(found.token.createdAt.getTime() / 1000),
    ...amrClaim(found.session.amr),
    scope: '',
  };
}

/** RFC 6749 §2.3.1: Basic credentials are form-encoded first; a malformed escape is just a wrong secret. */
function formDecode(value: string): string | undefined {
  try {
    return decodeURIComponent(value.replace(/\+/g, ' '));
  } catch {
    return undefined;
  }
}

const digest = (value: string) => createHash('sha256').update(value).digest();

/**
 * Resource servers authenticate to the introspection endpoint with the shared INTROSPECTION_SECRET, as
 * the password of HTTP Basic (any client id) or as a bearer token — so it is no token oracle for the public.
 * Compared in constant time (over digests, so the lengths do not leak either).
 */
export function assertIntrospectionClient(secret: string | undefined, authorization: string | undefined): void {
  if (secret === undefined) throw new DomainError('INTROSPECTION_DISABLED');
  let presented: string | undefined;
  const [scheme, value] = (authorization ?? '').split(/[ \t]+/, 2);
  if (/^basic$/i.test(scheme ?? '') && value) {
    const decoded = Buffer.from(value, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    presented = colon === -1 ? undefined : formDecode(decoded.slice(colon + 1));
  } else if (/^bearer$/i.test(scheme ?? '') && value) {
    presented = value;
  }
  if (presented === undefined || !timingSafeEqual(digest(presented), digest(secret))) throw new DomainError('INVALID_CLIENT');
}
