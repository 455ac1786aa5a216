import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** The status of GET `path`, on a connection of its own (0 when nothing answers). */
export function statusOf(port: number, path: string, timeoutMs = 1000): Promise<number> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false, timeout: timeoutMs }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', () => resolve(0));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

/** Memory of one process from /proc, in MiB: resident now and its high-water mark since it started. */
export function memoryOf(pid: number): { rss: number; hwm: number } | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN);
    return { rss: kib('VmRSS') / 1024, hwm: kib('VmHWM') / 1024 };
  } catch {
    return undefined;
  }
}

const TICKS_PER_SECOND = 100;

/** CPU seconds (user + system) a process has used so far, from /proc/<pid>/stat; NaN once it is gone. */
export function cpuSecondsOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
  } catch {
    return NaN;
  }
}

/**
 * CPU seconds so far of each PostgreSQL backend serving `database` (their process title names it), so
 * other databases' work on the same server is not counted.
 */
export function postgresBackendCpuSeconds(database: string): Map<number, number> {
  const backends = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const title = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (title.startsWith('postgres: ') && title.split(' ').includes(database)) {
        const seconds = cpuSecondsOf(Number(entry));
        if (!Number.isNaN(seconds)) backends.set(Number(entry), seconds);
      }
    } catch {
      // gone meanwhile
    }
  }
  return backends;
}

/**
 * PostgreSQL's CPU over a window. Backends come and go (a pool closes idle connections), and an exited
 * backend's counter is gone with it: so each backend is sampled while the window lasts, and what counts
 * is how far each one's counter rose from the start (or from 0, for a backend born meanwhile) to its last
 * sample. A backend exits only after idling (the pool's idle timeout), so its last interval holds no work.
 */
export function postgresCpuMeter(database: string, intervalMs = 1000): { stop(): number } {
  const first = postgresBackendCpuSeconds(database);
  const last = new Map(first);
  const sample = () => {
    for (const [pid, seconds] of postgresBackendCpuSeconds(database)) last.set(pid, seconds);
  };
  const timer = setInterval(sample, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      sample();
      let total = 0;
      for (const [pid, seconds] of last) total += seconds - (first.get(pid) ?? 0);
      return total;
    },
  };
}

/** The process and, clustered, its workers (the primary's children). */
export function processTree(pid: number): number[] {
  const path = `/proc/${pid}/task/${pid}/children`;
  const children = existsSync(path) ? readFileSync(path, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number) : [];
  return [pid, ...children];
}

export interface MemoryPeak {
  /** Highest VmRSS sampled while load ran, per process (the primary first when clustered). */
  peakRssMb: number[];
}

export interface RunningProcess {
  child: ChildProcess;
  /** Milliseconds from spawn to the first 200 of the readiness path. */
  readyMs: number;
  /** CPU seconds used so far by the process tree. */
  cpuSeconds(): number;
  /** Samples VmRSS of the process tree every 100 ms until the returned function is called. */
  sampleMemory(): () => MemoryPeak;
  /** VmHWM of every process of the tree: the peak since each started. */
  highWaterMarks(): number[];
  /** SIGTERM, then waits for the exit (SIGKILL after 15 s). */
  stop(): Promise<number | null>;
  log(): string;
}

export interface StartOptions {
  command: string[];
  env: NodeJS.ProcessEnv;
  cwd: string;
  port: number;
  readyPath: string;
  logFile: string;
  timeoutMs?: number;
}

export async function startProcess(options: StartOptions): Promise<RunningProcess> {
  const fd = openSync(options.logFile, 'a');
  const started = performance.now();
  const child = spawn(options.command[0]!, options.command.slice(1), { cwd: options.cwd, env: options.env, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const log = () => (existsSync(options.logFile) ? readFileSync(options.logFile, 'utf8') : '');
  const deadline = started + (options.timeoutMs ?? 60_000);
  let readyMs = NaN;
  while (performance.now() < deadline && child.exitCode === null) {
    if ((await statusOf(options.port, options.readyPath)) === 200) {
      readyMs = performance.now() - started;
      break;
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  if (Number.isNaN(readyMs)) {
    child.kill('SIGKILL');
    throw new Error(`${options.command.join(' ')} did not become ready:\n${log().slice(-4000)}`);
  }
  const pid = child.pid!;
  return {
    child,
    readyMs,
    sampleMemory() {
      const peaks = new Map<number, number>();
      const sample = () => {
        for (const p of processTree(pid)) {
          const memory = memoryOf(p);
          if (memory) peaks.set(p, Math.max(peaks.get(p) ?? 0, memory.rss));
        }
      };
      sample();
      const timer = setInterval(sample, 100);
      return () => {
        clearInterval(timer);
        sample();
        return { peakRssMb: [...peaks.values()] };
      };
    },
    cpuSeconds: () => processTree(pid).reduce((sum, p) => sum + (cpuSecondsOf(p) || 0), 0),
    highWaterMarks: () => processTree(pid).map((p) => memoryOf(p)?.hwm ?? NaN),
    async stop() {
      if (child.exitCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
    log,
  };
}
