import cluster from 'node:cluster';
import type { Config } from './config.js';
import { openMigratedDatabase } from './server.js';

/**
 * WEB_CONCURRENCY > 1: the primary applies migrations once, then forks that many workers sharing the
 * listening port (node:cluster). A worker that dies unexpectedly is replaced; SIGTERM/SIGINT is passed to
 * every worker, which finishes its in-flight requests, and the primary exits when all have.
 */
export async function runPrimary(config: Config, workers: number): Promise<void> {
  const handle = await openMigratedDatabase(config);
  await handle.close();
  let stopping = false;
  const fork = () => cluster.fork({ USER_SERVICES_WORKER: '1' });
  for (let i = 0; i < workers; i++) fork();
  cluster.on('exit', (worker, code, signal) => {
    if (stopping) {
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0);
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
