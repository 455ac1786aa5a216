import type { FastifyInstance } from 'fastify';
import { buildApp } from './app.js';
import { ConfigError, environmentWithDotEnv, loadConfig, type Config } from './config.js';
import { openDatabase, type DatabaseHandle } from './db/client.js';
import { migrate } from './db/migrate.js';
import cluster from 'node:cluster';
import { readdirSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { setPriority } from 'node:os';
import { AggregatorRegistry } from 'prom-client';
import { appManagementSources, buildManagementApp } from './http/management.js';
import { StartupError } from './errors.js';
import { loggerOptions } from './logging.js';
import { loadOrCreateSecretKey } from './secret-key.js';
import { pruneMailRecords, pruneProviderRecords, pruneSecurityRecords } from './services/housekeeping.js';

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
    Promise.all([pruneSecurityRecords(app.deps, auditRetentionDays), pruneMailRecords(app.deps), pruneProviderRecords(app.deps)]).then(
      ([security, mail, provider]) => app.log.info({ deleted: { ...security, ...mail, ...provider } }, 'pruned security records'),
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
  // Cluster workers share the primary's management listener, which asks each of them for its metrics.
  let management: FastifyInstance | undefined;
  if (cluster.isWorker) answerClusterMetricRequests(app);
  else management = await buildManagementApp(appManagementSources(app));
  handleShutdownSignals(app, config, management);
  await yieldHelperThreadsToEventLoop();
  if (management) {
    try {
      await listenManagement(management, config, (message, address) => app.log.info({ address }, message));
    } catch (error) {
      await app.close();
      throw error;
    }
  }
  await app.listen({ port: config.port, host: config.host });
  return app;
}

/** A cluster worker answers the primary's requests for its metrics over the IPC channel (cluster.ts). */
function answerClusterMetricRequests(app: FastifyInstance): void {
  // prom-client starts answering when an AggregatorRegistry is first made in the process, not before.
  new AggregatorRegistry();
  AggregatorRegistry.setRegistries([app.metrics.registry]);
}

/** Opens the management listener; its address is logged (MANAGEMENT_PORT=0 lets the system choose). */
export async function listenManagement(management: FastifyInstance, config: Config, log: (message: string, address: string) => void): Promise<void> {
  const { port, host } = config.management;
  try {
    log('management listener (metrics, probes) ready', await management.listen({ port, host }));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error;
    throw new StartupError(`MANAGEMENT_PORT ${port} on ${host} is already in use (another instance on this machine?): give each instance its own MANAGEMENT_PORT.`);
  }
}

/**
 * SIGTERM/SIGINT: stop accepting, finish what is in flight, then close the database and exit 0 — so a
 * rolling restart behind a proxy fails no request. New connections are refused at once (the proxy retries
 * them on another instance: nothing was sent); a request arriving on an existing keep-alive connection is
 * still served, with `Connection: close` (Fastify's closing state, return503OnClosing off in app.ts).
 */
function handleShutdownSignals(app: FastifyInstance, config: Config, management: FastifyInstance | undefined): void {
  let closing = false;
  const shutdown = (signal: string) => {
    if (closing) return;
    closing = true;
    app.log.info({ signal }, 'shutting down: finishing in-flight requests');
    // Node's server.close() also closes idle keep-alive connections. A proxy may be writing a request into
    // one at that very moment, and a POST that meets a closed connection is not retried (nginx never
    // retries a non-idempotent request once sent): it would fail. So idle connections are left to the proxy,
    // which closes them after its upstream keepalive_timeout, or uses them once more and gets
    // `Connection: close`. SHUTDOWN_TIMEOUT_SECONDS bounds the wait, for a client that does neither.
    app.server.closeIdleConnections = () => {};
    // A connection kept alive after its last response would hold the close up for the keep-alive timeout
    // (72 s): the socket of each request still in flight is closed as soon as its response is sent.
    app.server.keepAliveTimeout = 1;
    const deadline = setTimeout(() => {
      app.log.warn({ timeoutSeconds: config.shutdownTimeoutSeconds }, 'shutdown timeout: closing the remaining connections');
      app.server.closeAllConnections();
    }, config.shutdownTimeoutSeconds * 1000).unref();
    // Stop accepting, let in-flight requests finish, then close the database (onClose hook).
    Promise.all([app.close(), management?.close()]).then(
      () => {
        clearTimeout(deadline);
        process.exit(0);
      },
      (error) => {
        app.log.error({ err: error }, 'error while shutting down');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
}
