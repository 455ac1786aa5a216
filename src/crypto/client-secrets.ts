import { createHmac, randomBytes } from 'node:crypto';

/**
 * A confidential OAuth client's secret, made again from its id and salt whenever it is needed instead of
 * being stored: HMAC-SHA256 under a key derived from SECRET_KEY (deriveKey(…, 'provider-client-secret')).
 * A copy of the database holds only the salt, which is worthless without SECRET_KEY; a new salt is a new
 * secret (rotation), and the old one stops working at once.
 * @see issue 23 ("never stored in clear")
 */
export function clientSecret(key: Buffer, clientId: string, salt: string): string {
  return createHmac('sha256', key).update(`${clientId}.${salt}`).digest('base64url');
}

export const newClientSalt = () => randomBytes(16).toString('base64url');

/** 128 random bits, URL-safe: a client id is public, but must not be guessable from another's. */
export const newClientId = () => randomBytes(16).toString('base64url');
