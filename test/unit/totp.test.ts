import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Secret, TOTP } from 'otpauth';
import { deriveKey, open, seal } from '../../src/crypto/aead.js';
import { hashRecoveryCode, newRecoveryCode, normaliseRecoveryCode } from '../../src/crypto/recovery-codes.js';
import { matchTotp, newTotpSecret, totpCode, totpStep, totpUri } from '../../src/crypto/totp.js';

/** RFC 6238 Appendix B, the SHA-1 rows: seed "12345678901234567890", 8 digits, 30-second steps. */
const RFC6238_SHA1 = [
  [59, '94287082'],
  [1111111109, '07081804'],
  [1111111111, '14050471'],
  [1234567890, '89005924'],
  [2000000000, '69279037'],
  [20000000000, '65353130'],
] as const;
const SEED = Secret.fromLatin1('12345678901234567890');

describe('TOTP (RFC 6238) through otpauth', () => {
  test('the known-answer vectors of RFC 6238 Appendix B (SHA-1, 8 digits)', () => {
    for (const [seconds, expected] of RFC6238_SHA1) {
      const code = TOTP.generate({ secret: SEED, algorithm: 'SHA1', digits: 8, period: 30, timestamp: seconds * 1000 });
      assert.equal(code, expected, `T = ${seconds}`);
    }
  });

  test('our 6-digit codes are the same vectors truncated (RFC 4226 §5.3: mod 10^6), and match at their step', () => {
    for (const [seconds, expected] of RFC6238_SHA1) {
      const at = new Date(seconds * 1000);
      assert.equal(totpCode(SEED.base32, at), expected.slice(-6), `T = ${seconds}`);
      assert.equal(matchTotp(SEED.base32, expected.slice(-6), at), Math.floor(seconds / 30));
    }
  });

  test('±1 step of drift is accepted, two steps are not; non-digits are simply wrong', () => {
    const secret = newTotpSecret();
    const now = new Date(Date.UTC(2026, 0, 1, 12, 0, 15));
    for (const [offset, expected] of [[-60, undefined], [-30, -1], [0, 0], [30, 1], [60, undefined]] as const) {
      const code = totpCode(secret, new Date(now.getTime() + offset * 1000));
      const step = matchTotp(secret, code, now);
      assert.equal(step === undefined ? undefined : step - totpStep(now), expected, `offset ${offset}s`);
    }
    for (const junk of ['', '12345', '1234567', 'abcdef', '١٢٣٤٥٦']) assert.equal(matchTotp(secret, junk, now), undefined);
  });

  test('a secret is 160 random bits in base32; the URI is what apps scan', () => {
    const secret = newTotpSecret();
    assert.match(secret, /^[A-Z2-7]{32}$/);
    assert.notEqual(newTotpSecret(), secret);
    const uri = new URL(totpUri(secret, 'auth.example.com', 'alice'));
    assert.equal(uri.protocol, 'otpauth:');
    assert.equal(uri.host, 'totp');
    assert.equal(decodeURIComponent(uri.pathname), '/auth.example.com:alice');
    assert.equal(uri.searchParams.get('secret'), secret);
    assert.equal(uri.searchParams.get('issuer'), 'auth.example.com');
    assert.equal(uri.searchParams.get('digits'), '6');
    assert.equal(uri.searchParams.get('period'), '30');
  });
});

describe('sealing and recovery codes', () => {
  test('a sealed secret opens only with its key and its context (another user, another SECRET_KEY: no)', () => {
    const key = deriveKey('secret-key-one-0123456789', 'totp-secrets');
    const sealed = seal('JBSWY3DPEHPK3PXP', key, 'totp-secret:1');
    assert.ok(!sealed.includes('JBSWY3DPEHPK3PXP'));
    assert.equal(open(sealed, key, 'totp-secret:1'), 'JBSWY3DPEHPK3PXP');
    assert.equal(open(sealed, key, 'totp-secret:2'), undefined);
    assert.equal(open(sealed, deriveKey('secret-key-two-0123456789', 'totp-secrets'), 'totp-secret:1'), undefined);
    // The tag's first character (its last one carries padding bits that decode to nothing).
    const [version, iv, data, tag] = sealed.split('.') as [string, string, string, string];
    const tampered = [version, iv, data, (tag[0] === 'A' ? 'B' : 'A') + tag.slice(1)].join('.');
    assert.equal(open(tampered, key, 'totp-secret:1'), undefined, 'tampered');
    assert.notDeepEqual(deriveKey('secret-key-one-0123456789', 'recovery-codes'), key, 'one key per purpose');
  });

  test('recovery codes: 60 bits as xxxx-xxxx-xxxx; read back whatever the case, hyphens or look-alike letters', () => {
    const codes = Array.from({ length: 200 }, newRecoveryCode);
    for (const code of codes) assert.match(code, /^[0-9a-hjkmnp-tv-z]{4}-[0-9a-hjkmnp-tv-z]{4}-[0-9a-hjkmnp-tv-z]{4}$/);
    assert.equal(new Set(codes).size, codes.length);
    assert.equal(normaliseRecoveryCode(' 0ab1-CDEF-gh23 '), '0ab1cdefgh23');
    assert.equal(normaliseRecoveryCode('OAB1-cdef-gh23'), normaliseRecoveryCode('0abl-cdef-gh23'));
    const key = deriveKey('secret-key-one-0123456789', 'recovery-codes');
    assert.equal(hashRecoveryCode(key, 7, 'abcd-efgh-jkmn'), hashRecoveryCode(key, 7, 'ABCDEFGHJKMN'));
    assert.notEqual(hashRecoveryCode(key, 7, 'abcd-efgh-jkmn'), hashRecoveryCode(key, 8, 'abcd-efgh-jkmn'), 'bound to the user');
  });
});
