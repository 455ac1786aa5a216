import assert from 'node:assert/strict';
import { test } from 'node:test';
import { deriveKey } from '../../src/crypto/aead.js';
import { hashMailedCode, hashScreenCode, newMailedCode, newScreenCode } from '../../src/services/passwordless/codes.js';

const key = deriveKey('test-secret-key-0123456789abcdef', 'passwordless-code');

test('mailed codes: 8 digits, leading zeros kept, every digit position used', () => {
  const codes = Array.from({ length: 2000 }, newMailedCode);
  for (const code of codes) assert.match(code, /^\d{8}$/);
  assert.ok(new Set(codes).size > 1990, 'no repeats to speak of');
  for (let position = 0; position < 8; position++) assert.equal(new Set(codes.map((c) => c[position])).size, 10, `position ${position}`);
});

test('a mailed code hash is keyed, bound to the address (any letter case), and ignores spaces and hyphens', () => {
  const hash = hashMailedCode(key, 'Alice@Example.com', '1234 5678');
  assert.equal(hashMailedCode(key, 'alice@example.com', '1234-5678'), hash);
  assert.notEqual(hashMailedCode(key, 'bob@example.com', '12345678'), hash, 'another address');
  assert.notEqual(hashMailedCode(deriveKey('another-secret-key-0123456789abcd', 'passwordless-code'), 'alice@example.com', '12345678'), hash, 'another key');
  assert.doesNotMatch(hash, /12345678/);
});

test('screen codes: 60 bits in xxxx-xxxx-xxxx, hashed per link, letter case and hyphens aside', () => {
  const code = newScreenCode();
  assert.match(code, /^[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{4}$/);
  assert.equal(hashScreenCode(key, 'link-a', code.toUpperCase().replaceAll('-', '')), hashScreenCode(key, 'link-a', code));
  assert.notEqual(hashScreenCode(key, 'link-b', code), hashScreenCode(key, 'link-a', code), 'bound to its link');
});
