#!/usr/bin/env node
// Entry point of the `user-services` command. The TypeScript sources run with no build step: on start they
// are bundled (esbuild, the transpiler tsx itself uses) with the pure-JavaScript packages they import into
// one module under node_modules/.cache, keyed by their contents and the lockfile, and imported from there.
// A start with unchanged sources reuses the cache (a few milliseconds of hashing). One module instead of
// ~1,800 files: on Node 22 the service imports in ~0.55 s instead of ~1.8 s and holds ~60 MB less memory
// (resolving and compiling each file of drizzle-orm, fastify, typebox… was most of both; issue 22,
// docs/PERFORMANCE.md). Packages that read their own files or are native stay outside (EXTERNAL). Where
// the cache cannot be written, tsx's loader runs the sources as they are.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SOURCES = join(ROOT, 'src');
const CACHE = join(ROOT, 'node_modules', '.cache', 'user-services');
/** Bumped whenever the build options below change, so old caches are not reused. */
const FORMAT = 2;
/**
 * Left to Node's loader: native or WebAssembly packages, and packages that find their own files through
 * __dirname (static assets, worker scripts, Lua scripts), which a bundle would move away from them.
 */
const EXTERNAL = [
  '@electric-sql/pglite', 'bcrypt', '@node-rs/argon2', 'pg-native',
  'pino', 'thread-stream', '@fastify/swagger', '@fastify/swagger-ui', '@fastify/static', '@fastify/view', 'ioredis',
];
/** Cache entries kept besides the current one (others may still be running from them). */
const KEEP = 3;

function filesUnder(dir) {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath ?? entry.path, entry.name))
    .sort();
}

/** Old entries go, except the newest few (a process may still be loading modules from one). */
function prune(current) {
  const entries = readdirSync(CACHE)
    .filter((name) => /^[0-9a-f]{16}$/.test(name) && name !== current)
    .map((name) => ({ name, mtime: statSync(join(CACHE, name)).mtimeMs }))
    .sort((a, b) => b.mtime - a.mtime);
  for (const { name } of entries.slice(KEEP)) rmSync(join(CACHE, name), { recursive: true, force: true });
}

/**
 * Inside the bundle every source file keeps its own `import.meta.url` (that of src/…/file.ts), so what it
 * finds next to itself (migrations, templates, package.json) is found where it is in the checkout.
 */
const ownUrls = {
  name: 'own-import-meta-url',
  setup(build) {
    build.onLoad({ filter: /\.ts$/ }, (args) => {
      if (!args.path.startsWith(SOURCES)) return undefined;
      const contents = readFileSync(args.path, 'utf8').replace(/\bimport\.meta\.url\b/g, JSON.stringify(pathToFileURL(args.path).href));
      return { contents, loader: 'ts', resolveDir: dirname(args.path) };
    });
  },
};

/** The bundle for the sources and packages as they are now; builds it when missing. */
async function bundledSources() {
  const esbuild = createRequire(import.meta.resolve('tsx'))('esbuild');
  const files = filesUnder(SOURCES);
  const hash = createHash('sha256').update(`${FORMAT}\0${esbuild.version}\0${process.version}\0`);
  const lockfile = join(ROOT, 'package-lock.json');
  for (const file of [...files, join(ROOT, 'package.json'), join(ROOT, 'tsconfig.json'), ...(existsSync(lockfile) ? [lockfile] : [])]) {
    hash.update(`${relative(ROOT, file)}\0`).update(readFileSync(file)).update('\0');
  }
  const key = hash.digest('hex').slice(0, 16);
  const target = join(CACHE, key);
  if (existsSync(join(target, 'complete'))) return target;

  mkdirSync(CACHE, { recursive: true });
  const building = join(CACHE, `building-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    await esbuild.build({
      entryPoints: [join(SOURCES, 'cli.ts')],
      outfile: join(building, 'cli.js'),
      bundle: true,
      external: EXTERNAL,
      format: 'esm',
      platform: 'node',
      target: `node${process.versions.node.split('.')[0]}`,
      // Bundled CommonJS packages still `require` Node's built-ins.
      banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" },
      plugins: [ownUrls],
      sourcemap: true,
      sourcesContent: false,
      tsconfig: join(ROOT, 'tsconfig.json'),
      logLevel: 'silent',
    });
    writeFileSync(join(building, 'complete'), '');
    try {
      renameSync(building, target);
    } catch (error) {
      // Another process built the same entry first: use theirs.
      if (!existsSync(join(target, 'complete'))) throw error;
    }
  } finally {
    rmSync(building, { recursive: true, force: true });
  }
  try {
    prune(key);
  } catch {
    // Best effort: a stale entry costs only disk space.
  }
  return target;
}

/**
 * V8 settings for every command that opens the database, which only the command line can give (V8 sizes its heap when
 * the process starts): a young generation of 2 MB semi-spaces instead of Node 22's 16 MB (~30 MB less
 * resident memory, for slightly more frequent, shorter scavenges), and PGlite's WebAssembly compiled by the
 * baseline compiler only (Liftoff): the optimising tier's code was ~40-70 MB for about the same query speed
 * (docs/PERFORMANCE.md); a short-lived command also spends no CPU on optimising compiles it would never
 * use. Applied by replacing this process with one started with them (same pid, so
 * signals and supervisors are unaffected), unless the caller chose V8 flags of their own or
 * USER_SERVICES_TUNE_V8=0. Needs process.execve (Node >= 22.15); older Node runs untuned.
 */
const V8_FLAGS = ['--max-semi-space-size=2', '--liftoff-only'];
const callerChoseFlags = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)].some((flag) =>
  /^--(max-semi-space-size|liftoff|no-liftoff|liftoff-only|max-old-space-size)/.test(flag),
);
const NO_DATABASE = new Set([undefined, 'help', '--help', '-h', 'routes']);
if (!NO_DATABASE.has(process.argv[2]) && typeof process.execve === 'function' && process.env.USER_SERVICES_TUNE_V8 === undefined && !callerChoseFlags) {
  process.execve(process.execPath, [process.execPath, ...V8_FLAGS, ...process.execArgv, ...process.argv.slice(1)], {
    ...process.env,
    // Marks the replacement (and cluster workers, which inherit its flags) as done.
    USER_SERVICES_TUNE_V8: '1',
  });
}

let entry;
try {
  // The bundle's source map (cli.js.map) is not loaded by default: reading and indexing it was ~10% of the
  // start-up time. Stack traces name the bundle's lines, each function under a `// src/…/file.ts` comment;
  // NODE_OPTIONS=--enable-source-maps makes them point into src/*.ts, as under tsx.
  entry = pathToFileURL(join(await bundledSources(), 'cli.js')).href;
} catch {
  // A read-only install (or no esbuild): let tsx transpile as modules load.
  const { register } = await import('tsx/esm/api');
  register();
  entry = new URL('../src/cli.ts', import.meta.url).href;
}
const { main } = await import(entry);
const code = await main(process.argv.slice(2));
if (code >= 0) process.exit(code);
