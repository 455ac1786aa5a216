import type { Clock } from '../../clock.js';
import type { Database } from '../../db/client.js';
import { findProviderClient } from '../../repositories/provider/clients.js';
import {
  consumeProviderRecord,
  deleteProviderGrant,
  deleteProviderRecord,
  findProviderRecord,
  upsertProviderRecord,
} from '../../repositories/provider/records.js';
import { providerClientMetadata } from './clients.js';

/** A record as oidc-provider hands it over and expects it back (its `AdapterPayload`). */
export type ProviderPayload = Record<string, unknown> & {
  accountId?: string;
  grantId?: string;
  uid?: string;
  userCode?: string;
  consumed?: unknown;
};

/** The adapter interface of oidc-provider (lib/adapters/memory_adapter.js is its reference). */
export interface ProviderAdapter {
  upsert(id: string, payload: ProviderPayload, expiresIn?: number): Promise<void>;
  find(id: string): Promise<ProviderPayload | undefined>;
  findByUid(uid: string): Promise<ProviderPayload | undefined>;
  findByUserCode(userCode: string): Promise<ProviderPayload | undefined>;
  consume(id: string): Promise<void>;
  destroy(id: string): Promise<void>;
  revokeByGrantId(grantId: string): Promise<void>;
}

export interface StorageDeps {
  db: Database;
  clock: Clock;
  clientSecretKey: Buffer;
}

/**
 * oidc-provider's storage on our database, one class per model name as the library asks (`new Adapter(name)`).
 * Clients are not the library's records but our `provider_clients` rows, read on every use: a client
 * deleted or changed by an admin is so at once on every instance.
 * @see https://github.com/panva/node-oidc-provider/blob/main/docs/README.md#adapter
 */
export function storageAdapter(deps: StorageDeps): new (model: string) => ProviderAdapter {
  const { db, clock } = deps;
  const payloadOf = (row: { payload: unknown; consumedAt: Date | null } | undefined): ProviderPayload | undefined => {
    if (row === undefined) return undefined;
    const payload = row.payload as ProviderPayload;
    // The library refuses a consumed code or refresh token and revokes the grant it came from (replay).
    return row.consumedAt === null ? payload : { ...payload, consumed: Math.floor(row.consumedAt.getTime() / 1000) };
  };
  return class DatabaseAdapter implements ProviderAdapter {
    constructor(private readonly model: string) {}

    async upsert(id: string, payload: ProviderPayload, expiresIn?: number): Promise<void> {
      await upsertProviderRecord(db, {
        model: this.model,
        id,
        payload,
        grantId: payload.grantId ?? null,
        uid: payload.uid ?? null,
        userCode: payload.userCode ?? null,
        accountId: payload.accountId ?? null,
        expiresAt: expiresIn ? new Date(clock.now().getTime() + expiresIn * 1000) : null,
      });
    }

    async find(id: string): Promise<ProviderPayload | undefined> {
      if (this.model === 'Client') {
        const row = await findProviderClient(db, id);
        return row && (providerClientMetadata(row, deps.clientSecretKey) as ProviderPayload);
      }
      return payloadOf(await findProviderRecord(db, this.model, 'id', id, clock.now()));
    }

    async findByUid(uid: string) {
      return payloadOf(await findProviderRecord(db, this.model, 'uid', uid, clock.now()));
    }

    async findByUserCode(userCode: string) {
      return payloadOf(await findProviderRecord(db, this.model, 'userCode', userCode, clock.now()));
    }

    async consume(id: string) {
      await consumeProviderRecord(db, this.model, id, clock.now());
    }

    async destroy(id: string) {
      await deleteProviderRecord(db, this.model, id);
    }

    async revokeByGrantId(grantId: string) {
      await deleteProviderGrant(db, grantId);
    }
  };
}
