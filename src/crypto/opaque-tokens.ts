import { createHash, randomBytes } from 'node:crypto';

/** 256 bits of randomness, URL-safe. Sent once to the client; only its hash is stored. */
export function newOpaqueToken(): string {
  return randomBytes(32).toString('base64url');
}

/** SHA-256 is enough here (no salt, no stretching): the input is 256 random bits, not a human secret. */
export function hashOpaqueToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}
