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
