import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { EnvSchema } from '../../src/config.js';

const read = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');
const README = read('README.md');
/** The reference pages under docs/, by file name. */
const PAGES = new Map(readdirSync(new URL('../../docs/', import.meta.url)).filter((name) => name.endsWith('.md')).map((name) => [name, read(`docs/${name}`)]));

test('docs/CONFIGURATION.md documents every setting, with its default', () => {
  const page = PAGES.get('CONFIGURATION.md') ?? '';
  const start = page.indexOf('# Configuration');
  assert.ok(start >= 0, 'docs/CONFIGURATION.md has a "Configuration" heading');
  const next = page.indexOf('\n#', start + 1);
  const section = page.slice(start, next < 0 ? undefined : next);
  const rows = section.split('\n').filter((line) => line.startsWith('| `'));
  for (const [name, schema] of Object.entries(EnvSchema.properties)) {
    const row = rows.find((line) => line.split('|')[1]!.includes(`\`${name}\``));
    assert.ok(row, `${name} has a row in the Configuration table`);
    const fallback = (schema as { default?: unknown }).default;
    if (fallback !== undefined && fallback !== '') assert.ok(row.includes(`\`${String(fallback)}\``), `${name}'s row gives its default, ${String(fallback)}`);
  }
});

/** Pages other branches are writing: on the map before they arrive, and then held to every rule here. */
const PENDING = ['docs/PROVIDER.md', 'docs/EVENTS.md', 'docs/PASSWORDLESS.md'];

/** The README's map: the table between "## Map" and the next section. */
const mapSection = () => {
  const start = README.indexOf('## Map');
  return start < 0 ? '' : README.slice(start, README.indexOf('\n## ', start + 1));
};

test("the README starts with the quick start, then the map, then the seed's API, and stays short", () => {
  const order = ['## Quick start', '## Map', '## API'].map((heading) => README.indexOf(`\n${heading}\n`));
  assert.ok(order.every((at) => at > 0), `sections found at ${order.join(', ')}`);
  assert.deepEqual([...order].sort((a, b) => a - b), order, 'quick start, map, API in that order');
  assert.match(README, /npm ci && npm start/);
  assert.match(README, /npm ci && npm test/);
  const lines = README.split('\n').length;
  assert.ok(lines <= 320, `the README has ${lines} lines`);
});

test("every page under docs/ is on the README's map, and so are the pages being written", () => {
  const rows = mapSection().split('\n').filter((line) => /^\| [^-]/.test(line)).slice(1);
  const linked = rows.map((row) => /\]\(docs\/([A-Z][A-Z-]*\.md)\)/.exec(row.split('|')[2] ?? '')?.[1]);
  assert.ok(linked.every(Boolean), `each row of the map links one docs/ page: ${rows.filter((_, i) => !linked[i]).join('\n')}`);
  for (const name of PAGES.keys()) assert.ok(linked.includes(name), `docs/${name} is on the map`);
  for (const path of PENDING) assert.ok(linked.includes(path.slice('docs/'.length)), `${path} is on the map`);
});

/** GitHub's anchor of a heading: lower case, punctuation dropped, spaces → hyphens. */
const slug = (heading: string) => heading.trim().toLowerCase().replace(/[^\p{L}\p{N} _-]/gu, '').replace(/ /g, '-');
const outsideCode = (text: string) => text.replace(/^```[\s\S]*?^```$/gm, '').replace(/`[^`\n]*`/g, '');
const anchors = (text: string) => new Set(outsideCode(text).split('\n').filter((line) => /^#{1,6} /.test(line)).map((line) => slug(line.replace(/^#+ /, ''))));

test('relative links and images in the README and docs/ point at files and headings that exist', () => {
  const files: [string, string][] = [['README.md', README], ...[...PAGES].map(([name, text]): [string, string] => [`docs/${name}`, text])];
  let checked = 0;
  for (const [path, text] of files) {
    const body = outsideCode(text);
    const targets = [...body.matchAll(/\]\(([^)\s]+)\)/g), ...body.matchAll(/<img src="([^"]+)"/g)].map((match) => match[1]!);
    for (const target of targets.filter((link) => !/^[a-z]+:/.test(link))) {
      const [file, anchor] = target.split('#') as [string, string | undefined];
      const resolved = file === '' ? path : new URL(file, new URL(path, 'file:///')).pathname.slice(1);
      const exists = existsSync(new URL(`../../${resolved}`, import.meta.url));
      if (!exists && PENDING.includes(resolved) && path === 'README.md') continue;
      assert.ok(exists, `${path}: ${target} → ${resolved} exists`);
      if (anchor !== undefined) assert.ok(anchors(read(resolved)).has(anchor), `${path}: ${target} → a heading of ${resolved}`);
      checked += 1;
    }
  }
  assert.ok(checked >= 20, `links checked: ${checked}`);
});
