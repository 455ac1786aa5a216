import { exportJWK, importPKCS8, type JWK } from 'jose';
import { generateSigningKey, openPrivateKey, sealPrivateKey } from '../../crypto/signing-keys.js';
import type { Database } from '../../db/client.js';
import { insertProviderRecordOnce } from '../../repositories/provider/records.js';

/**
 * The RS256 key that signs the provider's ID tokens and JWT access tokens: RS256 is the one algorithm
 * every OpenID client must accept (OpenID Connect Core §15.1), whatever JWT_ALGORITHM our own access
 * tokens use. Made once, stored sealed under SECRET_KEY; instances starting together agree on one.
 */
export async function providerSigningKey(db: Database, secretKey: string): Promise<JWK> {
  const fresh = await generateSigningKey('RS256');
  const stored = await insertProviderRecordOnce(db, {
    model: 'SigningKey',
    id: 'RS256',
    payload: { kid: fresh.kid, sealed: sealPrivateKey(fresh.privateKeyPem, secretKey, fresh.kid) },
    grantId: null,
    uid: null,
    userCode: null,
    accountId: null,
    expiresAt: null,
  });
  const kid = stored['kid'] as string;
  const pem = openPrivateKey(stored['sealed'] as string, secretKey, kid);
  const jwk = await exportJWK(await importPKCS8(pem, 'RS256', { extractable: true }));
  return { ...jwk, kid, alg: 'RS256', use: 'sig' };
}
