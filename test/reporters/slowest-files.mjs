// A node:test reporter that prints, at the end of a run, the test files that took longest (wall time of
// each file's process) — where to look first when the suite gets slow. Used by test/run.mjs beside the
// usual reporter; on its own: node --import tsx --test --test-reporter=./test/reporters/slowest-files.mjs …
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

const SHOWN = Number(process.env.TEST_SLOWEST_FILES ?? 15);
/** Where test/run.mjs keeps each file's last duration (it starts the longest first next time). */
const RECORD = process.env.TEST_TIMINGS_FILE;

function record(files) {
  if (!RECORD) return;
  let known = {};
  try {
    known = JSON.parse(readFileSync(RECORD, 'utf8'));
  } catch {
    // First run, or an unreadable record: start afresh.
  }
  for (const f of files) known[f.name] = Math.round(f.ms);
  mkdirSync(dirname(RECORD), { recursive: true });
  writeFileSync(RECORD, `${JSON.stringify(known, null, 2)}\n`);
}

export default async function* slowestFiles(source) {
  const files = [];
  for await (const event of source) {
    // Each file run in a process of its own ends with a `test:complete` named after the file itself.
    if (event.type !== 'test:complete' || event.data.nesting !== 0 || !event.data.file?.endsWith(event.data.name)) continue;
    files.push({ name: event.data.name, ms: event.data.details.duration_ms, ok: event.data.details.passed });
  }
  if (files.length === 0) return;
  record(files);
  files.sort((a, b) => b.ms - a.ms);
  const total = files.reduce((sum, f) => sum + f.ms, 0);
  yield `\nslowest test files (${files.length} files, ${(total / 1000).toFixed(1)} s of file time):\n`;
  for (const f of files.slice(0, SHOWN)) yield `  ${(f.ms / 1000).toFixed(1).padStart(7)} s  ${f.name}${f.ok ? '' : '  (failed)'}\n`;
}
