import { randomUUID, webcrypto } from 'node:crypto';
import { SignJWT, jwtVerify, errors as joseErrors, type JWK, type JWSHeaderParameters } from 'jose';
import type { Clock } from '../clock.js';
import { DomainError } from '../errors.js';

export type JwtAlgorithm = 'HS256' | 'EdDSA' | 'ES256' | 'RS256';
export type AsymmetricAlgorithm = Exclude<JwtAlgorithm, 'HS256'>;

export interface AccessTokenClaims {
  /** The username, as the Python service sets it. */
  sub: string;
  /** Our user id; absent in tokens the Python service issued. */
  uid?: number;
  /** The session the token belongs to; absent in tokens the Python service issued. */
  sid?: string;
  /** The user's roles when the token was signed; omitted when none. Our own checks read the row instead. */
  roles?: string[];
  iat?: number;
  exp: number;
  jti?: string;
  /** How the login was authenticated (RFC 8176); only in tokens of two-factor sessions. */
  amr?: string[];
}

export interface SigningKey {
  alg: JwtAlgorithm;
  /** Absent for HS256: the Python service's tokens have none, and there is only one secret. */
  kid?: string;
  key: CryptoKey | Uint8Array;
}

/** A published verification key: always with the `kid` tokens name and the one `alg` it verifies. */
export interface PublicJwk extends JWK {
  kty: string;
  kid: string;
  alg: AsymmetricAlgorithm;
  use: 'sig';
}

/** Where the keys come from: SECRET_KEY (HS256) or the key ring in the database (asymmetric). */
export interface JwtKeys {
  /** The only algorithms a token may declare; anything else is refused before a key is looked at. */
  readonly algorithms: JwtAlgorithm[];
  signingKey(): Promise<SigningKey>;
  /** The key for a token's header. Throws INVALID_TOKEN for an unknown `kid` or an `alg` not that key's. */
  verificationKey(header: JWSHeaderParameters): Promise<CryptoKey | Uint8Array>;
  /** The public keys other services verify with (empty for HS256: a shared secret is never published). */
  jwks(): Promise<{ keys: PublicJwk[] }>;
}

/**
 * HS256 with SECRET_KEY, byte-compatible with the Python service (python-jose signs with the UTF-8 bytes
 * of the key), so its tokens verify here and ours verify there.
 */
export function hmacKeys(secretKey: string): JwtKeys {
  // Imported once: handing jose raw bytes would import them again on every verification (~30% of its cost).
  const key = webcrypto.subtle.importKey('raw', new TextEncoder().encode(secretKey), { name: 'HMAC', hash: 'SHA-256' }, false, [
    'sign',
    'verify',
  ]);
  return {
    algorithms: ['HS256'],
    signingKey: async () => ({ alg: 'HS256', key: await key }),
    verificationKey: () => key,
    jwks: async () => ({ keys: [] }),
  };
}

export interface AccessTokenOptions {
  ttlSeconds: number;
  /** Set as `iss` and then required of every token. */
  issuer?: string | undefined;
  /** Set as `aud` and then required of every token. */
  audience?: string | undefined;
}

export interface AccessTokens {
  /** `amr` (RFC 8176) is set when given: how the session's login was authenticated; `roles` when there are any. */
  sign(subject: { userId: number; username: string; sessionId: string; amr?: string[]; roles?: readonly string[] }): Promise<string>;
  /** Throws `DomainError('INVALID_TOKEN')` for anything but a valid, unexpired access token of ours. */
  verify(token: string): Promise<AccessTokenClaims>;
}

/** `users.id` is a PostgreSQL `integer` (serial). */
const MAX_USER_ID = 2 ** 31 - 1;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Clock skew tolerated between the signer and us, for `exp` too far ahead and `iat` in the future. */
export const CLOCK_SKEW_SECONDS = 60;

/**
 * No access token we (or the Python service, with the same ACCESS_TOKEN_EXPIRE_MINUTES) would sign lives
 * longer than `ttlSeconds` or was issued in the future: one that claims so was made with the key but not by
 * us, and a thousand-year `exp` would make a leaked token permanent.
 * @see RFC 8725 §3.10 (validate all claims); issue 12, point 9
 */
function lifetimeIsPlausible(payload: { exp?: number; iat?: number }, now: number, ttlSeconds: number): boolean {
  if (payload.exp! > now + ttlSeconds + CLOCK_SKEW_SECONDS) return false;
  return payload.iat === undefined || payload.iat <= now + CLOCK_SKEW_SECONDS;
}

/**
 * Signs and verifies access tokens.
 * @see RFC 8725 §3.1 — algorithms are pinned: `none`, and every `alg` but the configured key's, are refused,
 * so a public key can never be used as an HMAC secret (algorithm confusion).
 */
export function createAccessTokens(keys: JwtKeys, options: AccessTokenOptions, clock: Clock): AccessTokens {
  const { ttlSeconds, issuer, audience } = options;
  return {
    async sign(subject) {
      const now = Math.floor(clock.now().getTime() / 1000);
      const { alg, kid, key } = await keys.signingKey();
      // No `roles` claim for a user without roles: an ordinary user's token keeps the Python service's shape.
      const roles = subject.roles?.length ? { roles: [...subject.roles] } : {};
      const jwt = new SignJWT({ uid: subject.userId, sid: subject.sessionId, ...(subject.amr && { amr: subject.amr }), ...roles })
        .setProtectedHeader(kid === undefined ? { alg, typ: 'JWT' } : { alg, kid, typ: 'JWT' })
        .setSubject(subject.username)
        .setIssuedAt(now)
        .setExpirationTime(now + ttlSeconds)
        .setJti(randomUUID());
      if (issuer !== undefined) jwt.setIssuer(issuer);
      if (audience !== undefined) jwt.setAudience(audience);
      return jwt.sign(key);
    },
    async verify(token) {
      try {
        const { payload, protectedHeader } = await jwtVerify(token, (header) => keys.verificationKey(header), {
          algorithms: keys.algorithms,
          requiredClaims: ['exp', 'sub'],
          currentDate: clock.now(),
          ...(issuer === undefined ? {} : { issuer }),
          ...(audience === undefined ? {} : { audience }),
        });
        // A token that declares another purpose (e.g. a refresh JWT) is never an access token.
        const declaredType = payload['type'] ?? payload['token_type'];
        if (declaredType !== undefined && declaredType !== 'access') throw new DomainError('INVALID_TOKEN');
        if (protectedHeader.typ !== undefined && !/^(JWT|at\+jwt)$/i.test(protectedHeader.typ)) {
          throw new DomainError('INVALID_TOKEN');
        }
        if (!lifetimeIsPlausible(payload, Math.floor(clock.now().getTime() / 1000), ttlSeconds)) throw new DomainError('INVALID_TOKEN');
        const { uid, sid } = payload;
        // Claims no row could match are refused here: PostgreSQL would answer a NUL in text, or an integer
        // past its `integer`, with an error. (The key may be shared with the Python service: well-signed is
        // not the same as well-formed.)
        if (
          typeof payload.sub !== 'string' ||
          payload.sub.includes('\0') ||
          (uid !== undefined && !(Number.isInteger(uid) && (uid as number) >= 1 && (uid as number) <= MAX_USER_ID)) ||
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
