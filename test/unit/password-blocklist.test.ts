import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadPasswordBlocklist } from '../../src/services/account/password-blocklist.js';

test('the blocklist holds over 100,000 common and breached passwords', async () => {
  const blocklist = await loadPasswordBlocklist();
  assert.ok(blocklist.size >= 100_000, `${blocklist.size} entries`);
});

test('lookups ignore letter case and Unicode compatibility forms, and pass unremarkable passwords', async () => {
  const blocklist = await loadPasswordBlocklist();
  for (const common of ['password123', 'PASSWORD123', 'PassWord123', 'qwertyuiop', 'QwErTyUiOp', 'ｐａｓｓｗｏｒｄ１２３', 'iloveyou', 'trustno1']) {
    assert.equal(blocklist.has(common), true, common);
  }
  for (const unremarkable of ['correct-horse-1', 'Mg8-vy-Tq', 'café-au-lait-7', 'Kaffee-１２３４５６']) {
    assert.equal(blocklist.has(unremarkable), false, unremarkable);
  }
});

test('the list is loaded once per process', async () => {
  assert.equal(await loadPasswordBlocklist(), await loadPasswordBlocklist());
});

test('the table made on the first load is kept, and a later process reads it back with the same answers', async () => {
  const { execFile } = await import('node:child_process');
  const { existsSync, rmSync } = await import('node:fs');
  const { promisify } = await import('node:util');
  const { blocklistTableFile } = await import('../../src/services/account/password-blocklist.js');
  const probe = `
    const { loadPasswordBlocklist } = await import(${JSON.stringify(new URL('../../src/services/account/password-blocklist.ts', import.meta.url).href)});
    const list = await loadPasswordBlocklist();
    console.log(JSON.stringify([list.size, ...['password123', 'ｐａｓｓｗｏｒｄ１２３', 'trustno1', 'correct-horse-1', 'café-au-lait-7'].map((p) => list.has(p))]));`;
  const load = async () => (await promisify(execFile)(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', probe])).stdout;
  const file = await blocklistTableFile();
  rmSync(file, { force: true });
  const parsed = await load();
  assert.ok(existsSync(file), `${file} was written`);
  const read = await load();
  assert.equal(read, parsed);
  assert.deepEqual(JSON.parse(read).slice(1), [true, true, true, false, false]);
});
