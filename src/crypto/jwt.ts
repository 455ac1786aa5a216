import { randomUUID } from 'node:crypto';
import { SignJWT, jwtVerify, errors as joseErrors } from 'jose';
import type { Clock } from '../clock.js';
import { DomainError } from '../errors.js';

export interface AccessTokenClaims {
  /** The username, as the Python service sets it. */
  sub: string;
  /** Our user id; absent in tokens the Python service issued. */
  uid?: number;
  /** The session the token belongs to; absent in tokens the Python service issued. */
  sid?: string;
  iat?: number;
  exp: number;
  jti?: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface AccessTokens {
  sign(subject: { userId: number; username: string; sessionId: string }): Promise<string>;
  /** Throws `DomainError('INVALID_TOKEN')` for anything but a valid, unexpired access token of ours. */
  verify(token: string): Promise<AccessTokenClaims>;
}

/**
 * HS256 with SECRET_KEY, byte-compatible with the Python service (python-jose signs with the UTF-8 bytes
 * of the key), so its tokens verify here and ours verify there.
 * @see RFC 8725 §3.1 — the algorithm is pinned: `none` and every other `alg` are refused.
 */
export function createAccessTokens(secretKey: string, ttlSeconds: number, clock: Clock): AccessTokens {
  const key = new TextEncoder().encode(secretKey);
  return {
    async sign(subject) {
      const now = Math.floor(clock.now().getTime() / 1000);
      return new SignJWT({ uid: subject.userId, sid: subject.sessionId })
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
        .setSubject(subject.username)
        .setIssuedAt(now)
        .setExpirationTime(now + ttlSeconds)
        .setJti(randomUUID())
        .sign(key);
    },
    async verify(token) {
      try {
        const { payload, protectedHeader } = await jwtVerify(token, key, {
          algorithms: ['HS256'],
          requiredClaims: ['exp', 'sub'],
          currentDate: clock.now(),
        });
        // A token that declares another purpose (e.g. a refresh JWT) is never an access token.
        const declaredType = payload['type'] ?? payload['token_type'];
        if (declaredType !== undefined && declaredType !== 'access') throw new DomainError('INVALID_TOKEN');
        if (protectedHeader.typ !== undefined && !/^(JWT|at\+jwt)$/i.test(protectedHeader.typ)) {
          throw new DomainError('INVALID_TOKEN');
        }
        const { uid, sid } = payload;
        if (
          typeof payload.sub !== 'string' ||
          (uid !== undefined && !Number.isSafeInteger(uid)) ||
          (sid !== undefined && (typeof sid !== 'string' || !UUID.test(sid)))
        ) {
          throw new DomainError('INVALID_TOKEN');
        }
        return { ...payload, sub: payload.sub, exp: payload.exp as number, uid: uid as number | undefined, sid: sid as string | undefined };
      } catch (error) {
        if (error instanceof DomainError) throw error;
        if (error instanceof joseErrors.JOSEError || error instanceof TypeError) {
          throw new DomainError('INVALID_TOKEN', { cause: error });
        }
        throw error;
      }
    },
  };
}
