import type { Database } from '../../db/client.js';
import { deleteProviderRecordsOfAccount } from '../../repositories/provider/records.js';

/**
 * Ends what applications hold through us for an account (grants, codes, access and refresh tokens, the
 * provider's sessions) when our own sessions end: logout-all, a password change or reset, an admin's
 * revocation, disabling, banning, deletion, a new second factor. Every way in ends when the owner recovers.
 * @see issue 23 ("Accounts"); issue 21
 */
export async function endProviderAccess(db: Database, userId: number): Promise<number> {
  return deleteProviderRecordsOfAccount(db, String(userId));
}
