import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import { seededSessionId, seededUsername } from './database.js';

/** `count` seeded users spread evenly over 1..users, so lookups touch the whole table, not one corner. */
export function spreadUsers(users: number, count: number): number[] {
  const n = Math.min(users, count);
  return Array.from({ length: n }, (_, k) => 1 + Math.floor((k * users) / n));
}

/**
 * Access tokens exactly as src/crypto/jwt.ts signs them (HS256 with SECRET_KEY; sub, uid, sid, iat, exp,
 * jti), each naming the seeded, open session of its user: the service checks that session on every request.
 * Their lifetime is the service's default ACCESS_TOKEN_EXPIRE_MINUTES: a longer one is refused (issue 12, point 9).
 */
export async function mintAccessTokens(secretKey: string, userIds: number[], ttlSeconds = 30 * 60): Promise<string[]> {
  const key = new TextEncoder().encode(secretKey);
  const now = Math.floor(Date.now() / 1000);
  return Promise.all(
    userIds.map((id) =>
      new SignJWT({ uid: id, sid: seededSessionId(id) })
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
        .setSubject(seededUsername(id))
        .setIssuedAt(now)
        .setExpirationTime(now + ttlSeconds)
        .setJti(randomUUID())
        .sign(key),
    ),
  );
}
