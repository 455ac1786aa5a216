import { parseArgs } from 'node:util';
import { systemClock } from './clock.js';
import { deriveKey } from './crypto/aead.js';
import { DomainError, InvalidInputError } from './errors.js';
import { configFromProcess, openMigratedDatabase, resolveSecretKey } from './server.js';
import { CLIENT_GRANT_TYPES, createClient, deleteClient, listClients, rotateClientSecret, type ClientGrantType } from './services/provider/clients.js';

export const CLIENTS_USAGE = `  clients create --name NAME --redirect-uri URI [--redirect-uri URI…] [--public] [--first-party]
          [--grant authorization_code|client_credentials|refresh_token…] [--post-logout-redirect-uri URI…]
                             register an application that signs its users in through us (PROVIDER_ENABLED);
                             prints JSON with client_id and, unless --public, client_secret (shown once)
  clients list               print the registered applications as JSON lines
  clients delete ID          remove an application
  clients rotate-secret ID   print a new secret for the application; the old one stops working at once`;

/** `user-services clients …` (issue 23): the CLI twin of /admin/clients. */
export async function manageClients(args: string[]): Promise<number> {
  const [action, ...rest] = args;
  const config = configFromProcess();
  const handle = await openMigratedDatabase(config);
  const deps = { db: handle.db, clock: systemClock, clientSecretKey: deriveKey(resolveSecretKey(config).key, 'provider-client-secret') };
  const print = (value: unknown) => process.stdout.write(`${JSON.stringify(value)}\n`);
  try {
    switch (action) {
      case 'create': {
        const { values } = parseArgs({
          args: rest,
          options: {
            name: { type: 'string' },
            'redirect-uri': { type: 'string', multiple: true, default: [] },
            'post-logout-redirect-uri': { type: 'string', multiple: true, default: [] },
            grant: { type: 'string', multiple: true },
            public: { type: 'boolean', default: false },
            'first-party': { type: 'boolean', default: false },
          },
        });
        const grants = values.grant ?? ['authorization_code', 'refresh_token'];
        const unknown = grants.filter((g) => !(CLIENT_GRANT_TYPES as readonly string[]).includes(g));
        if (unknown.length > 0 || values.name === undefined) {
          process.stderr.write(unknown.length > 0 ? `Unknown grant type: ${unknown.join(', ')} (${CLIENT_GRANT_TYPES.join(', ')})\n` : 'clients create needs --name\n');
          return 2;
        }
        const created = await createClient(deps, {
          name: values.name,
          redirectUris: values['redirect-uri'],
          postLogoutRedirectUris: values['post-logout-redirect-uri'],
          grantTypes: grants as ClientGrantType[],
          public: values.public,
          firstParty: values['first-party'],
        });
        print({ ...created.client, ...(created.clientSecret !== undefined && { client_secret: created.clientSecret }) });
        return 0;
      }
      case 'list':
        for (const client of await listClients(deps)) print(client);
        return 0;
      case 'delete':
        await deleteClient(deps, rest[0] ?? '');
        return 0;
      case 'rotate-secret':
        print(await rotateClientSecret(deps, rest[0] ?? ''));
        return 0;
      default:
        process.stderr.write(`Usage:\n${CLIENTS_USAGE}\n`);
        return 2;
    }
  } catch (error) {
    if (error instanceof InvalidInputError || error instanceof DomainError) {
      process.stderr.write(`${error.message}\n`);
      return 1;
    }
    throw error;
  } finally {
    await handle.close();
  }
}
