import type { FastifyInstance } from 'fastify';
import { buildApp } from './app.js';
import { ConfigError, environmentWithDotEnv, loadConfig, type Config } from './config.js';
import { openDatabase, type DatabaseHandle } from './db/client.js';
import { migrate } from './db/migrate.js';
import cluster from 'node:cluster';
import { readdirSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { setPriority } from 'node:os';
import { loggerOptions } from './logging.js';
import { loadOrCreateSecretKey } from './secret-key.js';
import { pruneMailRecords, pruneSecurityRecords } from './services/housekeeping.js';

/** Reads and validates the environment; prints every problem and exits 1 when it is wrong. */
export function configFromProcess(): Config {
  try {
    return loadConfig(environmentWithDotEnv(process.env));
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
}

/**
 * PostgreSQL means several instances may share one database: they must share the key, so it is required.
 * PGlite is one process on one machine: a key is generated once and kept in DATA_DIR.
 */
export function resolveSecretKey(config: Config): { key: string; warning?: string } {
  if (config.secretKey !== undefined) return { key: config.secretKey };
  if (config.databaseUrl !== undefined) {
    process.stderr.write(
      'SECRET_KEY is required when DATABASE_URL is set: every instance must sign and verify tokens with the same key.\n' +
        'Set it in the environment or in .env (for example: SECRET_KEY=$(openssl rand -hex 32)).\n',
    );
    process.exit(1);
  }
  const { key, created, path } = loadOrCreateSecretKey(config.dataDir);
  if (!created) return { key };
  return { key, warning: `SECRET_KEY is not set: generated one and stored it in ${path} (mode 0600). Set SECRET_KEY to choose your own.` };
}

export async function openMigratedDatabase(config: Config): Promise<DatabaseHandle> {
  const handle = await openDatabase(config.databaseUrl, config.dataDir);
  try {
    await migrate(handle);
  } catch (error) {
    await handle.close();
    throw error;
  }
  return handle;
}

/**
 * Scheduling priority (nice) of every thread of the process but the event loop's: libuv's pool (where
 * bcrypt hashes), V8's helpers. When both want a core, the kernel gives the event loop about ten times a
 * helper's share (weights 1024 and 110), so a flood of logins cannot starve the requests that need no
 * hash; when nothing else wants the CPU, the hashes still get all of it, so login throughput is unchanged.
 * Measured in docs/PERFORMANCE.md (the "mixed" scenario).
 */
export const HELPER_THREAD_NICE = 10;

/** Lowers the helper threads' priority (Linux applies nice per thread). Elsewhere, does nothing. */
async function yieldHelperThreadsToEventLoop(): Promise<void> {
  // libuv starts its pool on first use: make sure it is there, so its threads are among those lowered.
  await stat('.');
  let threads: string[];
  try {
    threads = readdirSync('/proc/self/task');
  } catch {
    return;
  }
  for (const thread of threads) {
    // The main thread's id is the process id.
    if (Number(thread) === process.pid) continue;
    try {
      setPriority(Number(thread), HELPER_THREAD_NICE);
    } catch {
      // Gone meanwhile, or not permitted: it keeps its priority.
    }
  }
}

const PRUNE_INTERVAL_MS = 3600_000;
/** How often the outbox is looked at: a mailed link arrives within about a second of being asked for. */
const MAIL_POLL_INTERVAL_MS = 1000;

/** Hourly, and once shortly after start: old audit events and stale failure counters go. */
function schedulePruning(app: FastifyInstance, auditRetentionDays: number): void {
  const prune = () =>
    Promise.all([pruneSecurityRecords(app.deps, auditRetentionDays), pruneMailRecords(app.deps)]).then(
      ([security, mail]) => app.log.info({ deleted: { ...security, ...mail } }, 'pruned security records'),
      (error) => app.log.warn({ err: error }, 'pruning security records failed'),
    );
  const first = setTimeout(prune, 10_000).unref();
  const timer = setInterval(prune, PRUNE_INTERVAL_MS).unref();
  app.addHook('preClose', async () => {
    clearTimeout(first);
    clearInterval(timer);
  });
}

/** The process edge: config → database → migrations → app → listen; closes cleanly on SIGTERM/SIGINT. */
export async function serve(config: Config): Promise<FastifyInstance> {
  const secret = resolveSecretKey(config);
  // Cluster workers start after the primary has migrated; everyone else migrates here.
  const handle = cluster.isWorker ? await openDatabase(config.databaseUrl, config.dataDir) : await openMigratedDatabase(config);
  const app = await buildApp({ config, db: handle.db, secretKey: secret.key, logger: loggerOptions(config) });
  if (secret.warning) app.log.warn(secret.warning);
  app.addHook('onClose', () => handle.close());
  // onClose hooks run last-added first: the sender stops, and deferred work ends, before the database closes.
  app.mailSender.start(MAIL_POLL_INTERVAL_MS);
  app.addHook('onClose', async () => {
    await app.mailSender.stop();
    await app.deps.deferred.settled();
  });
  schedulePruning(app, config.auditRetentionDays);
  let closing = false;
  const shutdown = (signal: string) => {
    if (closing) return;
    closing = true;
    app.log.info({ signal }, 'shutting down: finishing in-flight requests');
    // A connection kept alive after its last response would hold the close up for the keep-alive timeout
    // (72 s): the socket of each request still in flight is closed as soon as its response is sent.
    app.server.keepAliveTimeout = 1;
    // Stop accepting, let in-flight requests finish, then close the database (onClose hook).
    app.close().then(
      () => process.exit(0),
      (error) => {
        app.log.error({ err: error }, 'error while shutting down');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
  await yieldHelperThreadsToEventLoop();
  await app.listen({ port: config.port, host: config.host });
  return app;
}
