// Provider: we are an OpenID provider other applications sign in through (issue 23). clients.ts registers
// those applications; storage-adapter.ts keeps oidc-provider's records in our database; configuration.ts
// builds the provider. Not to be confused with federation/ (signing in with ANOTHER provider).
import { clientSecret, newClientId, newClientSalt } from '../../crypto/client-secrets.js';
import type { Clock } from '../../clock.js';
import type { Database } from '../../db/client.js';
import type { ProviderClientRow } from '../../db/schema.js';
import { DomainError, InvalidInputError, type FieldError } from '../../errors.js';
import {
  deleteProviderClient,
  findProviderClient,
  insertProviderClient,
  listProviderClients,
  updateProviderClient,
} from '../../repositories/provider/clients.js';

export const CLIENT_GRANT_TYPES = ['authorization_code', 'refresh_token', 'client_credentials'] as const;
export type ClientGrantType = (typeof CLIENT_GRANT_TYPES)[number];

export interface ClientDeps {
  db: Database;
  clock: Clock;
  /** deriveKey(SECRET_KEY, 'provider-client-secret'). */
  clientSecretKey: Buffer;
}

export interface ClientInput {
  name: string;
  redirectUris: string[];
  postLogoutRedirectUris: string[];
  grantTypes: ClientGrantType[];
  /** A browser or mobile app: no secret (it could not keep one), PKCE alone proves the code's requester. */
  public: boolean;
  /** Our own application: no consent page. */
  firstParty: boolean;
}

export interface ClientView {
  client_id: string;
  name: string;
  public: boolean;
  first_party: boolean;
  redirect_uris: string[];
  post_logout_redirect_uris: string[];
  grant_types: string[];
  created_at: string;
}

export const toClientView = (row: ProviderClientRow): ClientView => ({
  client_id: row.clientId,
  name: row.name,
  public: row.secretSalt === null,
  first_party: row.firstParty,
  redirect_uris: row.redirectUris,
  post_logout_redirect_uris: row.postLogoutRedirectUris,
  grant_types: row.grantTypes,
  created_at: row.createdAt.toISOString(),
});

const LOOPBACK_HOSTS = new Set(['127.0.0.1', '[::1]', 'localhost']);

/**
 * A redirect URI is absolute, has no fragment, and is https — or http on a loopback address (a native app
 * or a developer's machine, RFC 8252 §7.3). It is then matched exactly by oidc-provider.
 * @see RFC 9700 §2.1 (exact matching); OAuth 2.1 §2.3.1
 */
function redirectUriProblem(value: string): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return 'is not an absolute URL';
  }
  if (url.hash !== '' || value.includes('#')) return 'must not have a fragment';
  if (url.username !== '' || url.password !== '') return 'must not carry user information';
  if (url.protocol === 'https:') return undefined;
  if (url.protocol === 'http:' && LOOPBACK_HOSTS.has(url.hostname)) return undefined;
  return 'must be https (http only on a loopback address)';
}

function checkClientInput(input: ClientInput): void {
  const errors: FieldError[] = [];
  const field = (loc: string, msg: string, type = 'value_error') => errors.push({ loc: ['body', loc], msg, type });
  if (input.name.trim() === '') field('name', 'A client needs a name: the consent page shows it');
  input.redirectUris.forEach((uri, i) => {
    const problem = redirectUriProblem(uri);
    if (problem) errors.push({ loc: ['body', 'redirect_uris', i], msg: `Redirect URI ${problem}`, type: 'value_error' });
  });
  input.postLogoutRedirectUris.forEach((uri, i) => {
    const problem = redirectUriProblem(uri);
    if (problem) errors.push({ loc: ['body', 'post_logout_redirect_uris', i], msg: `Post-logout redirect URI ${problem}`, type: 'value_error' });
  });
  if (input.grantTypes.length === 0) field('grant_types', 'A client needs at least one grant type');
  if (input.grantTypes.includes('authorization_code') && input.redirectUris.length === 0) field('redirect_uris', 'The authorization_code grant needs a redirect URI');
  if (input.grantTypes.includes('refresh_token') && !input.grantTypes.includes('authorization_code')) field('grant_types', 'refresh_token comes with authorization_code');
  // A public client cannot authenticate, so a token for the client itself would be anyone's.
  if (input.public && input.grantTypes.includes('client_credentials')) field('grant_types', 'A public client cannot use client_credentials');
  if (errors.length > 0) throw new InvalidInputError(errors);
}

/** Registers a client; a confidential one's secret is returned here once and never again. */
export async function createClient(deps: ClientDeps, input: ClientInput): Promise<{ client: ClientView; clientSecret?: string }> {
  checkClientInput(input);
  const row: ProviderClientRow = {
    clientId: newClientId(),
    name: input.name.trim(),
    secretSalt: input.public ? null : newClientSalt(),
    redirectUris: input.redirectUris,
    postLogoutRedirectUris: input.postLogoutRedirectUris,
    grantTypes: [...new Set(input.grantTypes)],
    firstParty: input.firstParty,
    createdAt: deps.clock.now(),
  };
  await insertProviderClient(deps.db, row);
  return { client: toClientView(row), ...(row.secretSalt !== null && { clientSecret: clientSecret(deps.clientSecretKey, row.clientId, row.secretSalt) }) };
}

export const listClients = async (deps: Pick<ClientDeps, 'db'>) => (await listProviderClients(deps.db)).map(toClientView);

export async function getClient(deps: Pick<ClientDeps, 'db'>, clientId: string): Promise<ClientView> {
  const row = await findProviderClient(deps.db, clientId);
  if (row === undefined) throw new DomainError('CLIENT_NOT_FOUND');
  return toClientView(row);
}

/** Changes what an admin may change; whether the client is public is fixed at registration. */
export async function updateClient(
  deps: ClientDeps,
  clientId: string,
  changes: Partial<Omit<ClientInput, 'public'>>,
): Promise<ClientView> {
  const current = await findProviderClient(deps.db, clientId);
  if (current === undefined) throw new DomainError('CLIENT_NOT_FOUND');
  const merged: ClientInput = {
    name: changes.name ?? current.name,
    redirectUris: changes.redirectUris ?? current.redirectUris,
    postLogoutRedirectUris: changes.postLogoutRedirectUris ?? current.postLogoutRedirectUris,
    grantTypes: changes.grantTypes ?? (current.grantTypes as ClientGrantType[]),
    public: current.secretSalt === null,
    firstParty: changes.firstParty ?? current.firstParty,
  };
  checkClientInput(merged);
  const row = await updateProviderClient(deps.db, clientId, {
    name: merged.name.trim(),
    redirectUris: merged.redirectUris,
    postLogoutRedirectUris: merged.postLogoutRedirectUris,
    grantTypes: merged.grantTypes,
    firstParty: merged.firstParty,
  });
  if (row === undefined) throw new DomainError('CLIENT_NOT_FOUND');
  return toClientView(row);
}

export async function deleteClient(deps: Pick<ClientDeps, 'db'>, clientId: string): Promise<void> {
  if (!(await deleteProviderClient(deps.db, clientId))) throw new DomainError('CLIENT_NOT_FOUND');
}

/** A new secret for a confidential client; the old one stops working at once. */
export async function rotateClientSecret(deps: ClientDeps, clientId: string): Promise<{ client_id: string; client_secret: string }> {
  const current = await findProviderClient(deps.db, clientId);
  if (current === undefined) throw new DomainError('CLIENT_NOT_FOUND');
  if (current.secretSalt === null) throw new DomainError('PUBLIC_CLIENT_HAS_NO_SECRET');
  const salt = newClientSalt();
  await updateProviderClient(deps.db, clientId, { secretSalt: salt });
  return { client_id: clientId, client_secret: clientSecret(deps.clientSecretKey, clientId, salt) };
}

/**
 * The client as oidc-provider reads it: metadata per OpenID Connect Dynamic Client Registration §2, the
 * secret made again from the salt. Authorization-code clients get `response_types: ['code']` only: no
 * implicit or hybrid flow (OAuth 2.1, RFC 9700 §2.1.2).
 */
export function providerClientMetadata(row: ProviderClientRow, clientSecretKey: Buffer): Record<string, unknown> {
  const isPublic = row.secretSalt === null;
  return {
    client_id: row.clientId,
    client_name: row.name,
    ...(!isPublic && { client_secret: clientSecret(clientSecretKey, row.clientId, row.secretSalt!) }),
    redirect_uris: row.redirectUris,
    post_logout_redirect_uris: row.postLogoutRedirectUris,
    grant_types: row.grantTypes,
    response_types: row.grantTypes.includes('authorization_code') ? ['code'] : [],
    token_endpoint_auth_method: isPublic ? 'none' : 'client_secret_basic',
    application_type: 'web',
    'urn:user-services:first_party': row.firstParty,
  };
}
