import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { buildApp } from './app.js';
import { createPasswordHasher } from './crypto/passwords.js';
import { openPglite } from './db/client.js';
import Value from 'typebox/value';
import { RegisterBody } from './http/schemas/user.js';
import { DomainError, InvalidInputError, StartupError } from './errors.js';
import { configFromProcess, openMigratedDatabase, resolveSecretKey, serve } from './server.js';
import cluster from 'node:cluster';
import { runPrimary } from './cluster.js';
import { loadPasswordBlocklist } from './services/account/password-blocklist.js';
import { registerUser } from './services/account/registration.js';
import { systemClock } from './clock.js';
import type { AsymmetricAlgorithm } from './crypto/jwt.js';
import { listUsableSigningKeys } from './repositories/sessions/signing-keys.js';
import { rotateSigningKey } from './services/sessions/signing-keys.js';
import pino from 'pino';
import { loggerOptions } from './logging.js';
import { CLIENTS_USAGE, manageClients } from './cli-clients.js';
import { listSecurityEvents } from './services/audit.js';
import { clearLockouts } from './services/sign-in/lockout.js';
import { ADMIN_ROLE, changeUserRole, isValidRole, ROLE_RULE, rolesOf } from './services/admin/roles.js';

const USAGE = `Usage: user-services [command] [options]

Commands:
  serve                      start the HTTP API (default)
  migrate                    apply database migrations and exit
  create-user --username U --email E [--admin]
                             create a user; the password is prompted for (or read from stdin);
                             --admin gives it the admin role (there is never a default admin)
  roles add LOGIN ROLE       give the account a role (e.g. admin)
  roles remove LOGIN ROLE    take a role away
  roles list LOGIN           print the account's roles, one per line
${CLIENTS_USAGE}
  routes                     print every route the API serves
  keys rotate                start signing with a new key (asymmetric JWT_ALGORITHM); old tokens keep verifying
  keys list                  print the signing keys: kid, algorithm, created, retired
  unlock LOGIN               end the lockout of a username or e-mail (and of the account's other name)
  audit [--user LOGIN] [--type TYPE] [--limit N]
                             print the newest security events as JSON lines (default 50)
  help                       show this text

Configuration comes from the environment and an optional .env file (see docs/CONFIGURATION.md).`;

/** Reads a password without echoing it on a terminal, or one line from piped stdin. */
async function readPassword(prompt: string): Promise<string> {
  const input = process.stdin;
  if (!input.isTTY) {
    const rl = createInterface({ input });
    for await (const line of rl) return line.replace(/\r$/, '');
    return '';
  }
  process.stderr.write(prompt);
  input.setRawMode(true);
  input.resume();
  input.setEncoding('utf8');
  return new Promise((resolve, reject) => {
    let value = '';
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n') {
          input.setRawMode(false);
          input.pause();
          input.off('data', onData);
          process.stderr.write('\n');
          return resolve(value);
        }
        if (ch === '\u0003') return reject(new Error('cancelled'));
        if (ch === '\u007f') value = value.slice(0, -1);
        else value += ch;
      }
    };
    input.on('data', onData);
  });
}

async function createUser(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      username: { type: 'string' },
      email: { type: 'string' },
      'password-stdin': { type: 'boolean', default: false },
      admin: { type: 'boolean', default: false },
    },
  });
  if (values.username === undefined || values.email === undefined) {
    process.stderr.write('create-user needs --username and --email\n');
    return 2;
  }
  const config = configFromProcess();
  // Opened before the prompt: a database that is in use or out of reach is reported before anyone types.
  const handle = await openMigratedDatabase(config);
  try {
    const password = await readPassword('Password: ');
    const input = { username: values.username, email: values.email, password };
    // The same schema the HTTP API applies, so the CLI cannot create a user the API would refuse.
    const problems = [...Value.Errors(RegisterBody, input)].map((e) => `${e.instancePath.slice(1)} ${e.message}`);
    if (problems.length > 0) {
      process.stderr.write(`Invalid user:\n  ${problems.join('\n  ')}\n`);
      return 1;
    }
    const passwordPolicy = { minLength: config.passwordMinLength, blocklist: await loadPasswordBlocklist() };
    const user = await registerUser({ db: handle.db, clock: systemClock, hasher: createPasswordHasher(config.passwordHashing), passwordPolicy }, input);
    if (!values.admin) {
      process.stdout.write(`${JSON.stringify(user)}\n`);
      return 0;
    }
    const roles = await changeUserRole({ db: handle.db, clock: systemClock, log: stderrLog(config) }, user.username, ADMIN_ROLE, 'add');
    process.stdout.write(`${JSON.stringify({ ...user, roles })}\n`);
    return 0;
  } catch (error) {
    if (error instanceof DomainError || error instanceof InvalidInputError) {
      process.stderr.write(`${error.message}\n`);
      return 1;
    }
    throw error;
  } finally {
    await handle.close();
  }
}

async function printRoutes(): Promise<number> {
  // Routes do not depend on the algorithm; HS256 keeps the in-memory database free of a key ring.
  const config = { ...configFromProcess(), jwt: { algorithm: 'HS256' as const, issuer: undefined, audience: undefined } };
  // An in-memory database: listing routes must not touch (or lock) the real one.
  const memory = await openPglite(undefined);
  const routes: string[] = [];
  const app = await buildApp({
    config,
    db: memory.db,
    secretKey: 'routes-listing-only-key',
    onRoute: (method, url) => routes.push(`${method.padEnd(7)} ${url}`),
  });
  await app.close();
  await memory.close();
  process.stdout.write(`${routes.join('\n')}\n`);
  return 0;
}

async function manageKeys(args: string[]): Promise<number> {
  const [action] = args;
  if (action !== 'rotate' && action !== 'list') {
    process.stderr.write('Usage: user-services keys rotate | keys list\n');
    return 2;
  }
  const config = configFromProcess();
  const { algorithm } = config.jwt;
  if (action === 'rotate' && algorithm === 'HS256') {
    process.stderr.write('JWT_ALGORITHM is HS256: tokens are signed with SECRET_KEY and there is no key to rotate.\n');
    return 2;
  }
  const secret = resolveSecretKey(config);
  const handle = await openMigratedDatabase(config);
  try {
    const deps = { db: handle.db, clock: systemClock };
    if (action === 'list') {
      for (const key of await listUsableSigningKeys(handle.db, new Date(0))) {
        const state = key.retiredAt === null ? 'active' : `retired ${key.retiredAt.toISOString()}`;
        process.stdout.write(`${key.kid}  ${key.algorithm.padEnd(5)}  created ${key.createdAt.toISOString()}  ${state}\n`);
      }
      return 0;
    }
    const { kid, retired } = await rotateSigningKey(deps, { algorithm: algorithm as AsymmetricAlgorithm, secretKey: secret.key });
    process.stdout.write(`New ${algorithm} signing key ${kid}; retired: ${retired.join(', ') || 'none'}.\n`);
    process.stdout.write('Running instances sign with it within a minute; tokens of the retired key verify until they expire.\n');
    return 0;
  } finally {
    await handle.close();
  }
}

/** Security events of operator commands are logged like the server's, on stderr, so stdout keeps only the answer. */
function stderrLog(config: ReturnType<typeof configFromProcess>) {
  const { stream, ...options } = loggerOptions(config, pino.destination({ dest: 2, sync: true }));
  return pino(options, stream);
}

const ROLES_USAGE = 'Usage: user-services roles add LOGIN ROLE | roles remove LOGIN ROLE | roles list LOGIN\n';

/** Roles of an account, by its username or e-mail. This is how the first admin is made. */
async function manageRoles(args: string[]): Promise<number> {
  const [action, login, role] = args;
  const changing = action === 'add' || action === 'remove';
  if (login === undefined || (changing ? role === undefined || args.length > 3 : action !== 'list' || args.length > 2)) {
    process.stderr.write(ROLES_USAGE);
    return 2;
  }
  if (changing && !isValidRole(role!)) {
    process.stderr.write(`${ROLE_RULE}\n`);
    return 2;
  }
  const config = configFromProcess();
  const handle = await openMigratedDatabase(config);
  try {
    const deps = { db: handle.db, clock: systemClock, log: stderrLog(config) };
    const roles = changing ? await changeUserRole(deps, login, role!, action) : await rolesOf(deps, login);
    if (roles === undefined) {
      process.stderr.write(`No account is named ${login}.\n`);
      return 1;
    }
    process.stdout.write(roles.map((r) => `${r}\n`).join(''));
    return 0;
  } finally {
    await handle.close();
  }
}

/** For support: a user locked out (by their own typos or by someone guessing) can be let in at once. */
async function unlock(args: string[]): Promise<number> {
  const [login] = args;
  if (login === undefined) {
    process.stderr.write('Usage: user-services unlock <username or e-mail>\n');
    return 2;
  }
  const config = configFromProcess();
  const handle = await openMigratedDatabase(config);
  try {
    const cleared = await clearLockouts({ db: handle.db, clock: systemClock, log: stderrLog(config) }, login);
    process.stdout.write(`Cleared ${cleared} lockout count${cleared === 1 ? '' : 's'} for ${login}.\n`);
    return 0;
  } finally {
    await handle.close();
  }
}

async function printAudit(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { user: { type: 'string' }, type: { type: 'string' }, limit: { type: 'string', default: '50' } } });
  const limit = Number(values.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 10000) {
    process.stderr.write('--limit must be a whole number from 1 to 10000\n');
    return 2;
  }
  const handle = await openMigratedDatabase(configFromProcess());
  try {
    const events = await listSecurityEvents({ db: handle.db }, { login: values.user, type: values.type, limit });
    for (const event of events) process.stdout.write(`${JSON.stringify(event)}\n`);
    return 0;
  } finally {
    await handle.close();
  }
}

async function runCommand(argv: string[]): Promise<number> {
  const [command = 'serve', ...rest] = argv;
  switch (command) {
    case 'serve': {
      const config = configFromProcess();
      if (config.webConcurrency > 1 && !cluster.isWorker) {
        if (config.databaseUrl === undefined) {
          process.stderr.write('WEB_CONCURRENCY > 1 needs DATABASE_URL: the embedded database belongs to one process.\n');
          return 1;
        }
        resolveSecretKey(config);
        await runPrimary(config, config.webConcurrency);
        return -1;
      }
      await serve(config);
      return -1;
    }
    case 'migrate': {
      const handle = await openMigratedDatabase(configFromProcess());
      await handle.close();
      process.stdout.write('Migrations applied.\n');
      return 0;
    }
    case 'create-user':
      return createUser(rest);
    case 'routes':
      return printRoutes();
    case 'keys':
      return manageKeys(rest);
    case 'unlock':
      return unlock(rest);
    case 'roles':
      return manageRoles(rest);
    case 'clients':
      return manageClients(rest);
    case 'audit':
      return printAudit(rest);
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(`${USAGE}\n`);
      return 0;
    default:
      process.stderr.write(`Unknown command: ${command}\n\n${USAGE}\n`);
      return 2;
  }
}

/** Runs one command; returns its exit code, or -1 when it keeps running (the server). */
export async function main(argv: string[]): Promise<number> {
  try {
    return await runCommand(argv);
  } catch (error) {
    // Problems the operator must fix are explained in one message, without a stack trace.
    if (!(error instanceof StartupError)) throw error;
    process.stderr.write(`${error.message}\n`);
    return 1;
  }
}
