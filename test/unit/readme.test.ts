import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { EnvSchema } from '../../src/config.js';

const README = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

test('the README documents every setting, with its default', () => {
  const section = README.slice(README.indexOf('## Configuration'), README.indexOf('\n## ', README.indexOf('## Configuration') + 1));
  const rows = section.split('\n').filter((line) => line.startsWith('| `'));
  for (const [name, schema] of Object.entries(EnvSchema.properties)) {
    const row = rows.find((line) => line.split('|')[1]!.includes(`\`${name}\``));
    assert.ok(row, `${name} has a row in the Configuration table`);
    const fallback = (schema as { default?: unknown }).default;
    if (fallback !== undefined && fallback !== '') assert.ok(row.includes(`\`${String(fallback)}\``), `${name}'s row gives its default, ${String(fallback)}`);
  }
});
