import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { LoadSpec } from './load.js';
import { load1 } from './machine.js';
import { cpuSecondsOf, postgresCpuMeter, type RunningProcess } from './process.js';
import type { LoadResult } from './stats.js';

const BENCH = new URL('.', import.meta.url).pathname;

/** CPU used in the measured window, in microseconds per successful request of the first (measured) run. */
export interface CpuPerRequest {
  server: number;
  postgres: number;
  loadGenerator: number;
}

/** One row of the results: a load result with where it ran and what the server's memory did. */
export interface Measurement extends LoadResult {
  scenario: string;
  /** postgres, pglite, or floor (the bare server). */
  target: string;
  workers: number;
  users: number;
  /** Highest VmRSS sampled during the run, over the server's processes (each worker when clustered). */
  peakRssMb: number;
  peakRssPerProcessMb: number[];
  /** Only on the measured run; with a background run (mixed) it includes that run's work too. */
  cpuMicrosecondsPerRequest: CpuPerRequest | undefined;
  /** 1-minute load average when the scenario started. */
  load1: number;
}

interface CpuMark {
  server: number;
  postgres: number;
  loadGenerator: number;
}

/**
 * Runs the load generator as its own process (never in this one) and returns its results, with CPU
 * counters of the server, PostgreSQL and the generator read at the start and end of the measured window.
 */
export async function generateLoad(
  spec: LoadSpec,
  serverCpu: () => number = () => NaN,
  database?: string,
): Promise<{ results: LoadResult[]; cpu: CpuMark | undefined }> {
  const dir = mkdtempSync(join(tmpdir(), 'user-services-bench-'));
  try {
    const file = join(dir, 'spec.json');
    writeFileSync(file, JSON.stringify(spec));
    const child = spawn(process.execPath, ['--import', 'tsx', join(BENCH, 'load.ts'), file], { stdio: ['ignore', 'pipe', 'pipe'] });
    const killer = setTimeout(() => child.kill('SIGKILL'), (spec.warmup + spec.duration + 120) * 1000);
    const mark = () => ({
      server: serverCpu(),
      postgres: database === undefined ? undefined : postgresCpuMeter(database),
      loadGenerator: cpuSecondsOf(child.pid!),
    });
    let start: ReturnType<typeof mark> | undefined;
    let cpu: CpuMark | undefined;
    let stderr = '';
    createInterface({ input: child.stderr }).on('line', (line) => {
      if (line === 'window-start') start = mark();
      else if (line === 'window-end' && start) {
        cpu = {
          server: serverCpu() - start.server,
          postgres: start.postgres?.stop() ?? NaN,
          loadGenerator: cpuSecondsOf(child.pid!) - start.loadGenerator,
        };
      } else stderr += `${line}\n`;
    });
    let stdout = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
    clearTimeout(killer);
    if (cpu === undefined) start?.postgres?.stop();
    if (code !== 0) throw new Error(`load generator exited with ${code}:\n${stderr}`);
    return { results: JSON.parse(stdout.trim().split('\n').at(-1)!) as LoadResult[], cpu };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface Where {
  target: string;
  workers: number;
  users: number;
  /** The PostgreSQL database the server uses (its backends' CPU is counted); none for PGlite. */
  database?: string;
}

const perRequest = (seconds: number, requests: number) => Math.round((seconds * 1e6) / requests);

/** Load against a running server while sampling its memory: one Measurement per run of the spec (named as the run). */
export async function measure(server: RunningProcess, where: Where, spec: LoadSpec): Promise<Measurement[]> {
  const load = load1();
  const stopSampling = server.sampleMemory();
  const { results, cpu } = await generateLoad(spec, () => server.cpuSeconds(), where.database);
  const { peakRssMb } = stopSampling();
  return results.map((result, i) => ({
    ...result,
    scenario: result.name,
    target: where.target,
    workers: where.workers,
    users: where.users,
    peakRssMb: Math.max(...peakRssMb),
    peakRssPerProcessMb: peakRssMb.map((m) => Math.round(m)),
    cpuMicrosecondsPerRequest:
      i === 0 && cpu && result.ok > 0
        ? {
            server: perRequest(cpu.server, result.ok),
            postgres: Number.isNaN(cpu.postgres) ? NaN : perRequest(cpu.postgres, result.ok),
            loadGenerator: perRequest(cpu.loadGenerator, result.ok),
          }
        : undefined,
    load1: load,
  }));
}
