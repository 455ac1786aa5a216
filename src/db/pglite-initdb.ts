import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { StartupError } from '../errors.js';

const run = promisify(execFile);

/** Creates the cluster and closes it: run in a process of its own (see initialisePgliteDirectory). */
const INITDB_SCRIPT = `
const [url, path, ...startParams] = process.argv.slice(1);
const { PGlite } = await import(url);
const db = await PGlite.create(path, { startParams });
await db.close();
`;

/**
 * A new PGlite data directory is made by initdb, which in PGlite 0.5 runs a second PGlite instance and the
 * initdb WebAssembly module beside the first: ~770 MB resident at the peak, and ~110 MB of it still held
 * afterwards. Run in a short-lived child process instead, that memory is returned to the system when it
 * exits, and the service opens the finished directory as on any later start (docs/PERFORMANCE.md).
 */
export async function initialisePgliteDirectory(path: string, startParams: string[]): Promise<void> {
  if (existsSync(join(path, 'PG_VERSION'))) return;
  try {
    await run(process.execPath, ['--input-type=module', '-e', INITDB_SCRIPT, import.meta.resolve('@electric-sql/pglite'), path, ...startParams]);
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr?.trim();
    throw new StartupError(`Could not create the embedded database in ${path}${stderr ? `: ${stderr.split('\n').slice(-3).join(' ')}` : ''}`, { cause: error });
  }
}
