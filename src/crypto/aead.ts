import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

/**
 * A 256-bit key of its own for one purpose, derived from SECRET_KEY with HKDF (as the signing keys' is),
 * so the HS256 secret is never used directly as an encryption or MAC key.
 * @see RFC 5869
 */
export function deriveKey(secretKey: string, purpose: string): Buffer {
  return Buffer.from(hkdfSync('sha256', secretKey, `user-services/${purpose}`, `${purpose} v1`, 32));
}

const VERSION = 'v1';

/**
 * AES-256-GCM with a random 96-bit IV. `context` is authenticated data: a sealed value copied onto
 * another row (another user) does not open there.
 * @see NIST SP 800-38D
 */
export function seal(plaintext: string, key: Buffer, context: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv).setAAD(Buffer.from(context));
  const sealed = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return [VERSION, iv.toString('base64url'), sealed.toString('base64url'), cipher.getAuthTag().toString('base64url')].join('.');
}

/** The plaintext, or undefined when the value was sealed under another key or context, or altered. */
export function open(sealed: string, key: Buffer, context: string): string | undefined {
  const [version, iv, data, tag] = sealed.split('.');
  if (version !== VERSION || iv === undefined || data === undefined || tag === undefined) return undefined;
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'))
      .setAAD(Buffer.from(context))
      .setAuthTag(Buffer.from(tag, 'base64url'));
    return Buffer.concat([decipher.update(Buffer.from(data, 'base64url')), decipher.final()]).toString('utf8');
  } catch {
    return undefined;
  }
}
