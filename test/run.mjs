#!/usr/bin/env node
// `npm test`: every test/*/*.test.ts, in two groups, one after the other.
//  1. Files that share nothing timing-sensitive (test/unit, test/http): several at once, each in its own
//     process with its own databases (TEST_CONCURRENCY, default 3: most of a test's time is spent waiting
//     for PostgreSQL or PGlite, so a third process keeps both cores busy).
//  2. test/e2e (real processes, nginx, Chromium, throwaway servers) and every file that says so with a line
//     `// test-runner: alone (why)`, such as those measuring times or the event loop: one at a time, with
//     the machine to themselves.
// Arguments: test files to run just those (one at a time), and/or node --test options passed through
// (e.g. --test-name-pattern=…). At the end each group lists its slowest files (test/reporters/); their
// durations are kept in test-results/file-timings.json, and the next run starts the longest first.
// @see issue 22 ("The test suite")
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const args = process.argv.slice(2);
const options = args.filter((a) => a.startsWith('-'));
const chosen = args.filter((a) => !a.startsWith('-'));
const concurrency = Number(process.env.TEST_CONCURRENCY ?? 3);

const ALONE = /^\/\/ test-runner: alone\b/m;
const allFiles = readdirSync(join(root, 'test'), { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .flatMap((d) => readdirSync(join(root, 'test', d.name)).filter((f) => f.endsWith('.test.ts')).map((f) => `test/${d.name}/${f}`))
  .sort();
// Longest first (by their last run, test-results/file-timings.json; new files count as long): with several
// files at a time, a long file started last would leave the others' slots idle while it finishes.
const timingsFile = join(root, 'test-results', 'file-timings.json');
let lastDurations = {};
try {
  lastDurations = JSON.parse(readFileSync(timingsFile, 'utf8'));
} catch {
  // No record yet: alphabetical order.
}
const longestFirst = (files) => [...files].sort((a, b) => (lastDurations[b] ?? Infinity) - (lastDurations[a] ?? Infinity) || a.localeCompare(b));
const alone = (file) => file.startsWith('test/e2e/') || ALONE.test(readFileSync(join(root, file), 'utf8'));

const groups = chosen.length > 0
  ? [{ files: chosen, concurrency: 1 }]
  : [
      { files: longestFirst(allFiles.filter((f) => !alone(f))), concurrency },
      { files: allFiles.filter(alone), concurrency: 1 },
    ];

// The usual reporter on stdout (as node --test chooses it), plus the slowest files, unless one is asked for.
const reporters = options.some((o) => o.startsWith('--test-reporter'))
  ? []
  : ['--test-reporter', process.stdout.isTTY ? 'spec' : 'tap', '--test-reporter-destination', 'stdout',
     '--test-reporter', './test/reporters/slowest-files.mjs', '--test-reporter-destination', 'stdout'];

const startedAll = Date.now();
let failed = false;
for (const { files, concurrency: n } of groups) {
  if (files.length === 0) continue;
  const started = Date.now();
  const run = spawnSync(process.execPath, ['--import', 'tsx', '--test', `--test-concurrency=${n}`, ...reporters, ...options, ...files], {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, TEST_TIMINGS_FILE: timingsFile },
  });
  process.stdout.write(`# ${files.length} files, ${n} at a time: ${((Date.now() - started) / 1000).toFixed(0)} s, exit ${run.status ?? run.signal}\n`);
  if (run.status !== 0) failed = true;
}
// The whole suite's wall time, for `npm run bench` (its target: ≤ 8 min, issue 22). Partial runs are not recorded.
if (chosen.length === 0 && !options.some((o) => o.startsWith('--test-name-pattern') || o.startsWith('--test-skip-pattern'))) {
  const wallSeconds = Math.round((Date.now() - startedAll) / 1000);
  process.stdout.write(`# npm test: ${allFiles.length} files in ${(wallSeconds / 60).toFixed(1)} min\n`);
  mkdirSync(join(root, 'test-results'), { recursive: true });
  const record = { finishedAt: new Date().toISOString(), wallSeconds, files: allFiles.length, failed, node: process.version, concurrency };
  writeFileSync(join(root, 'test-results', 'npm-test.json'), `${JSON.stringify(record, null, 2)}\n`);
}
process.exit(failed ? 1 : 0);
