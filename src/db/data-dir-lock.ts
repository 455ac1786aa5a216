import { linkSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { StartupError } from '../errors.js';

/**
 * PGlite keeps the database in the memory of the process that opened it and writes it back to DATA_DIR:
 * a second process on the same directory (a `create-user` while the server runs, a second `npm start`)
 * would work on its own copy, and whichever closes last would overwrite the other's writes. So the
 * directory is locked for as long as one process has it open.
 */
export const LOCK_FILE = 'user-services.lock';

export class DataDirLockedError extends StartupError {
  constructor(dataDir: string, pid: number | undefined) {
    super(
      `The embedded database in ${dataDir} is in use by another process${pid === undefined ? '' : ` (pid ${pid})`}: it belongs to one process at a time.\n` +
        'Stop that process first (the CLI commands need the server stopped), or use DATABASE_URL to share a PostgreSQL database.\n' +
        `If no such process runs, delete ${join(dataDir, LOCK_FILE)}.`,
    );
    this.name = 'DataDirLockedError';
  }
}

export interface DataDirLock {
  release(): void;
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function holderOf(path: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(path, 'utf8'), 10);
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function removeIfPresent(path: string): void {
  try {
    unlinkSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}

/**
 * Takes the lock, or throws `DataDirLockedError` naming the process that holds it. The lock file appears
 * whole (written aside, then hard-linked into place, which fails if it exists), so no one ever reads a
 * half-written one. A lock left by a process that no longer runs (killed, power loss) is taken over; so
 * is one naming this very process: after a container restart the new process often gets the old one's pid.
 */
export function lockDataDir(dataDir: string): DataDirLock {
  const path = join(dataDir, LOCK_FILE);
  const draft = `${path}.${process.pid}`;
  writeFileSync(draft, `${process.pid}\n`, { mode: 0o600 });
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        linkSync(draft, path);
        break;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
      const holder = holderOf(path);
      const stale = holder === undefined || holder === process.pid || !isRunning(holder);
      // One take-over only: if another process takes the lock meanwhile, the next look sees theirs.
      if (!stale || attempt > 0) throw new DataDirLockedError(dataDir, holder);
      removeIfPresent(path);
    }
  } finally {
    removeIfPresent(draft);
  }
  let held = true;
  return {
    release() {
      if (!held) return;
      held = false;
      if (holderOf(path) === process.pid) removeIfPresent(path);
    },
  };
}
