import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';

const read = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');
/** The Security section and its ASVS table moved from the README to docs/SECURITY.md. */
const SECURITY = read('docs/SECURITY.md');
const start = SECURITY.indexOf('## OWASP ASVS 5.0.0');
const end = SECURITY.indexOf('\n## ', start + 1);
const section = start < 0 ? '' : SECURITY.slice(start, end < 0 ? undefined : end);
/** Every document a requirement may be cited in: the README and every page under docs/. */
const DOCUMENTS = ['README.md', ...readdirSync(new URL('../../docs/', import.meta.url)).filter((name) => name.endsWith('.md')).map((name) => `docs/${name}`)];

test('docs/SECURITY.md maps the service to ASVS 5.0.0, each row covered (with its test), not applicable, or a gap', () => {
  assert.ok(section, 'an "OWASP ASVS 5.0.0" section under Security');
  for (const path of DOCUMENTS) {
    assert.doesNotMatch(read(path), /ASVS 4\.0\.3 §|ASVS \d\.\d\.\d;|ASVS 2\.\d\.\d/, `no requirement cited by its 4.0.3 number in ${path}`);
  }
  const rows = section.split('\n').filter((line) => /^\| \d/.test(line));
  assert.ok(rows.length >= 40, `rows: ${rows.length}`);
  const chapters = new Set<string>();
  for (const row of rows) {
    const [ids, level, , status, where] = row.split('|').slice(1).map((cell) => cell.trim());
    for (const id of ids!.split(/,\s*/)) {
      assert.match(id, /^(6|7|9|10|16)\.\d+\.(\d+|x)(–\d+\.\d+\.\d+)?$/, `an ASVS 5.0 identifier in the chapters asked for: ${id}`);
      chapters.add(id.split('.').slice(0, 2).join('.'));
    }
    assert.match(level!, /^[12](–2)?$/, `level 1 or 2: ${row}`);
    assert.match(status!, /^(covered|not applicable|gap)\b/, `a status: ${row}`);
    for (const file of where!.match(/test\/[\w/.-]+\.test\.ts/g) ?? []) {
      assert.ok(existsSync(new URL(`../../${file}`, import.meta.url)), `${file} exists`);
    }
  }
  for (const needed of ['6.2', '6.3', '7.2', '7.3', '7.4', '9.1', '9.2', '10.4', '16.3']) assert.ok(chapters.has(needed), `section ${needed}`);
});

test('docs/SECURITY.md says the password grant is kept for compatibility although RFC 9700 advises against it', () => {
  assert.match(section, /password grant is kept for compatibility/i);
  assert.match(section, /RFC 9700/);
});
