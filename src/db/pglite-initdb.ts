import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
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

/** Runs initdb for `path` in a child process (see initialisePgliteDirectory). */
async function runInitdb(path: string, startParams: string[]): Promise<void> {
  try {
    await run(process.execPath, ['--input-type=module', '-e', INITDB_SCRIPT, import.meta.resolve('@electric-sql/pglite'), path, ...startParams]);
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr?.trim();
    throw new StartupError(`Could not create the embedded database in ${path}${stderr ? `: ${stderr.split('\n').slice(-3).join(' ')}` : ''}`, { cause: error });
  }
}

/**
 * Where a pristine data directory (just initdb, nothing of ours) is kept for this PGlite version:
 * node_modules/.cache/user-services/, beside the package it was made by.
 */
function pristineDirectory(): string | undefined {
  try {
    return pristineDirectoryOf();
  } catch {
    return undefined;
  }
}

function pristineDirectoryOf(): string {
  // The package exports no package.json: walk up from its entry point to its folder.
  let folder = dirname(fileURLToPath(import.meta.resolve('@electric-sql/pglite')));
  while (!existsSync(join(folder, 'package.json')) || JSON.parse(readFileSync(join(folder, 'package.json'), 'utf8')).name !== '@electric-sql/pglite') {
    if (dirname(folder) === folder) throw new Error('@electric-sql/pglite has no package.json');
    folder = dirname(folder);
  }
  const { version } = JSON.parse(readFileSync(join(folder, 'package.json'), 'utf8')) as { version: string };
  return join(folder, '..', '..', '.cache', 'user-services', `pglite-initdb-${version}`);
}

/** The pristine directory, made by initdb the first time; undefined where node_modules cannot be written. */
async function ensurePristineDirectory(startParams: string[]): Promise<string | undefined> {
  const pristine = pristineDirectory();
  if (pristine === undefined) return undefined;
  if (existsSync(join(pristine, 'PG_VERSION'))) return pristine;
  const building = `${pristine}-building-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    mkdirSync(dirname(pristine), { recursive: true });
  } catch {
    return undefined;
  }
  try {
    await runInitdb(building, startParams);
    renameSync(building, pristine);
  } catch (error) {
    rmSync(building, { recursive: true, force: true });
    // Another process made it at the same time: use theirs. A failed initdb is reported as before.
    if (!existsSync(join(pristine, 'PG_VERSION'))) {
      if (error instanceof StartupError) throw error;
      return undefined;
    }
  }
  return pristine;
}

/**
 * A new PGlite data directory is made by initdb, which in PGlite 0.5 runs a second PGlite instance and the
 * initdb WebAssembly module beside the first: ~770 MB resident at the peak, and ~110 MB of it still held
 * afterwards, and 3-8 s. So initdb runs once per installed PGlite version, in a short-lived child process
 * (its memory is returned to the system when it exits), into node_modules/.cache; every new data
 * directory is then a copy of that pristine one (~0.1 s), and the service opens it as on any later start.
 * Where node_modules is read-only, initdb runs for the directory itself, as before (docs/PERFORMANCE.md).
 * @see issue 22 ("no initdb at the first start")
 */
export async function initialisePgliteDirectory(path: string, startParams: string[]): Promise<void> {
  if (existsSync(join(path, 'PG_VERSION'))) return;
  const pristine = await ensurePristineDirectory(startParams);
  if (pristine === undefined) return runInitdb(path, startParams);
  try {
    cpSync(pristine, path, { recursive: true, errorOnExist: true, force: false });
  } catch (error) {
    throw new StartupError(`Could not create the embedded database in ${path}: ${(error as Error).message}`, { cause: error });
  }
}
