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

/** Made by passlib 1.7.4: `bcrypt_sha256.using(rounds=...).hash(password)`. */
const PASSLIB_BCRYPT_SHA256: [string, string][] = [
  ['pässwörd-'.repeat(10), '$bcrypt-sha256$v=2,t=2b,r=4$KOCeRXxFvMqWz7jfOljEDu$XYStVGBGV/mVKpRcGf34GpL/Ui68Tfy'],
  [
    'пароль-密码-пароль-密码-пароль-密码-пароль-密码-пароль-密码-пароль-密码-паро',
    '$bcrypt-sha256$v=2,t=2b,r=5$2pL8mqb3.egVKgqMAPQZt.$nOcRTgrs55ZoQ2ckyLgEEGERV39EISC',
  ],
];

test("passwords past bcrypt's 72 bytes are hashed as passlib's bcrypt_sha256, and passlib's verify", async () => {
  const hasher = createBcryptHasher(4);
  for (const [password, hash] of PASSLIB_BCRYPT_SHA256) {
    assert.equal(await hasher.verify(password, hash), true);
    assert.equal(await hasher.verify(password.slice(0, -1), hash), false);
    assert.equal(await hasher.verify(`${password}x`, hash), false);
  }
  const long = 'Ünïcödé-пароль-密码-'.repeat(5);
  const ours = await hasher.hash(long);
  assert.match(ours, /^\$bcrypt-sha256\$v=2,t=2b,r=4\$[./A-Za-z0-9]{22}\$[./A-Za-z0-9]{31}$/);
  assert.equal(await hasher.verify(long, ours), true);
  // Passwords sharing the first 72 bytes are still different passwords.
  assert.equal(await hasher.verify(`${long.slice(0, -1)}!`, ours), false);
  // Up to 72 bytes: plain $2b$, the Python service's own format.
  assert.match(await hasher.hash('p'.repeat(72)), /^\$2b\$04\$/);
});
