import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createBcryptHasher } from '../../src/crypto/passwords.js';

/** passlib's bcrypt hash of "secret123" (cost 12), as the Python service stored it. */
const PASSLIB_2B = '$2b$12$BilYj29VSKT3TnuOe.D0RuRg39HVTn1SkBTjrZfP4T58BTl9SpOgq';

test('passlib hashes verify under every bcrypt prefix it writes ($2b$, $2a$, $2y$)', async () => {
  const hasher = createBcryptHasher(4);
  for (const prefix of ['$2b$', '$2a$', '$2y$']) {
    const hash = prefix + PASSLIB_2B.slice(4);
    assert.equal(await hasher.verify('secret123', hash), true, prefix);
    assert.equal(await hasher.verify('secret124', hash), false, prefix);
  }
});

test('a malformed stored hash is a failed login, not a crash', async () => {
  const hasher = createBcryptHasher(4);
  assert.equal(await hasher.verify('secret123', 'not-a-hash'), false);
});
