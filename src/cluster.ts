import cluster from 'node:cluster';
import { sql } from 'drizzle-orm';
import { AggregatorRegistry } from 'prom-client';
import type { Config } from './config.js';
import { openPostgres } from './db/client.js';
import { buildManagementApp } from './http/management.js';
import { listenManagement, openMigratedDatabase } from './server.js';

/**
 * WEB_CONCURRENCY > 1: the primary applies migrations once, then forks that many workers sharing the
 * listening port (node:cluster). A worker that dies unexpectedly is replaced; SIGTERM/SIGINT is passed to
 * every worker, which finishes its in-flight requests, and the primary exits when all have.
 *
 * The management listener is the primary's, not the workers': a port shared by workers would hand each
 * scrape to one worker at random. Its `/metrics` sums every worker's (prom-client's cluster aggregation, over
 * the cluster IPC channel), and its `/readyz` says whether a worker listens and the database answers.
 */
export async function runPrimary(config: Config, workers: number): Promise<void> {
  const migrated = await openMigratedDatabase(config);
  await migrated.close();
  // One connection is all the readiness probe needs; the workers hold the pools that serve requests.
  const probe = await openPostgres(config.databaseUrl!, 1);
  const aggregator = new AggregatorRegistry();
  const listening = new Set<number>();
  const management = await buildManagementApp({
    metrics: async () => ({ contentType: aggregator.contentType, body: await aggregator.clusterMetrics() }),
    ready: async () => listening.size > 0 && (await probe.db.execute(sql`select 1`), true),
  });
  await listenManagement(management, config, (message, address) => process.stderr.write(`${message}: ${address}\n`));

  let stopping = false;
  const fork = () => cluster.fork({ USER_SERVICES_WORKER: '1' });
  for (let i = 0; i < workers; i++) fork();
  cluster.on('listening', (worker) => listening.add(worker.id));
  cluster.on('exit', (worker, code, signal) => {
    listening.delete(worker.id);
    if (stopping) {
      if (Object.keys(cluster.workers ?? {}).length === 0) {
        void Promise.allSettled([management.close(), probe.close()]).then(() => process.exit(0));
      }
      return;
    }
    process.stderr.write(`worker ${worker.process.pid} exited (${signal ?? code}); starting a new one\n`);
    fork();
  });
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill(signal);
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}
