import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK, exportPKCS8, generateKeyPair, importJWK, importPKCS8, type JWK } from 'jose';
import type { AsymmetricAlgorithm, PublicJwk } from './jwt.js';
import { StartupError } from '../errors.js';

export interface GeneratedSigningKey {
  /** RFC 7638 thumbprint of the public key: stable, and says nothing about the key's age or order. */
  kid: string;
  algorithm: AsymmetricAlgorithm;
  publicJwk: PublicJwk;
  privateKeyPem: string;
}

export async function generateSigningKey(algorithm: AsymmetricAlgorithm): Promise<GeneratedSigningKey> {
  const options = algorithm === 'RS256' ? { extractable: true, modulusLength: 2048 } : { extractable: true };
  const { publicKey, privateKey } = await generateKeyPair(algorithm, options);
  const jwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(jwk);
  return { kid, algorithm, publicJwk: { ...jwk, kty: jwk.kty!, kid, alg: algorithm, use: 'sig' }, privateKeyPem: await exportPKCS8(privateKey) };
}

export const importPublicKey = (jwk: JWK, algorithm: AsymmetricAlgorithm) => importJWK(jwk, algorithm) as Promise<CryptoKey>;
export const importPrivateKey = (pem: string, algorithm: AsymmetricAlgorithm) => importPKCS8(pem, algorithm);

/** The private key can be read only with the SECRET_KEY it was sealed under. */
export class SealedKeyError extends StartupError {
  constructor(kid: string) {
    super(`The private half of signing key ${kid} cannot be decrypted with this SECRET_KEY. Use the SECRET_KEY it was ` +
      'created with, or run `user-services keys rotate` to start signing with a new key.');
    this.name = 'SealedKeyError';
  }
}

const VERSION = 'v1';

/** A key of its own for this purpose, so the HS256 secret is never used as an encryption key directly. */
function encryptionKey(secretKey: string): Buffer {
  return Buffer.from(hkdfSync('sha256', secretKey, 'user-services/signing-keys', 'private key encryption v1', 32));
}

/**
 * AES-256-GCM; the kid is authenticated data, so a sealed key copied onto another row does not open.
 * @see NIST SP 800-38D
 */
export function sealPrivateKey(pem: string, secretKey: string, kid: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', encryptionKey(secretKey), iv).setAAD(Buffer.from(kid));
  const sealed = Buffer.concat([cipher.update(pem, 'utf8'), cipher.final()]);
  return [VERSION, iv, sealed, cipher.getAuthTag()].map((part) => (typeof part === 'string' ? part : part.toString('base64url'))).join('.');
}

export function openPrivateKey(sealed: string, secretKey: string, kid: string): string {
  const [version, iv, data, tag] = sealed.split('.');
  if (version !== VERSION || iv === undefined || data === undefined || tag === undefined) throw new SealedKeyError(kid);
  try {
    const decipher = createDecipheriv('aes-256-gcm', encryptionKey(secretKey), Buffer.from(iv, 'base64url'))
      .setAAD(Buffer.from(kid))
      .setAuthTag(Buffer.from(tag, 'base64url'));
    return Buffer.concat([decipher.update(Buffer.from(data, 'base64url')), decipher.final()]).toString('utf8');
  } catch (error) {
    throw Object.assign(new SealedKeyError(kid), { cause: error });
  }
}
