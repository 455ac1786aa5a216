import type { Database } from '../../db/client.js';
import { deleteGrantsOfAccountForClient, deleteProviderRecordsOfAccount, listGrantsOfAccount } from '../../repositories/provider/records.js';

/**
 * Ends what applications hold through us for an account (grants, codes, access and refresh tokens, the
 * provider's sessions) when our own sessions end: logout-all, a password change or reset, an admin's
 * revocation, disabling, banning, deletion, a new second factor. Every way in ends when the owner recovers.
 * @see issue 23 ("Accounts"); issue 21
 */
export async function endProviderAccess(db: Database, userId: number): Promise<number> {
  return deleteProviderRecordsOfAccount(db, String(userId));
}

export interface AppWithAccess {
  clientId: string;
  name: string;
  scopes: string[];
}

/** "Apps with access" on the account page: each application the account granted, once, with its scopes. */
export async function listAppsWithAccess(db: Database, userId: number, now: Date): Promise<AppWithAccess[]> {
  const apps = new Map<string, AppWithAccess>();
  for (const grant of await listGrantsOfAccount(db, String(userId), now)) {
    const app = apps.get(grant.clientId) ?? { clientId: grant.clientId, name: grant.clientName, scopes: [] };
    for (const scope of (grant.scope ?? '').split(' ').filter(Boolean)) if (!app.scopes.includes(scope)) app.scopes.push(scope);
    apps.set(grant.clientId, app);
  }
  return [...apps.values()];
}

/** The owner takes an application's access back: its grants, codes and tokens end at once. */
export async function revokeAppAccess(db: Database, userId: number, clientId: string): Promise<boolean> {
  return (await deleteGrantsOfAccountForClient(db, String(userId), clientId)) > 0;
}
