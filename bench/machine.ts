import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism, loadavg, release, totalmem } from 'node:os';

export interface Machine {
  cores: number;
  cpuModel: string;
  memoryGiB: number;
  kernel: string;
  node: string;
  postgres: string | undefined;
  /** `uptime` when the run started: other work on the machine skews every number. */
  uptime: string;
}

export function describeMachine(postgresVersion: string | undefined): Machine {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  let uptime: string;
  try {
    uptime = execFileSync('uptime', { encoding: 'utf8' }).trim();
  } catch {
    uptime = `load average: ${loadavg().map((l) => l.toFixed(2)).join(', ')}`;
  }
  return {
    cores: availableParallelism(),
    cpuModel: /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1] ?? 'unknown',
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    kernel: release(),
    node: process.version,
    postgres: postgresVersion,
    uptime,
  };
}

/** The 1-minute load average, as `uptime` shows it. */
export const load1 = () => Number(loadavg()[0]!.toFixed(2));
