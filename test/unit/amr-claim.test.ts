import assert from 'node:assert/strict';
import { test } from 'node:test';
import { amrClaim } from '../../src/services/sessions/token-pairs.js';

test('amr goes into tokens of every session but a password-only one, whose tokens keep the Python shape', () => {
  assert.deepEqual(amrClaim(['pwd']), {}, 'a password login: no claim');
  assert.deepEqual(amrClaim(['pwd', 'otp']), { amr: ['pwd', 'otp'] });
  assert.deepEqual(amrClaim(['hwk', 'mfa']), { amr: ['hwk', 'mfa'] });
  assert.deepEqual(amrClaim(['fed', 'idp:corp']), { amr: ['fed', 'idp:corp'] }, 'a provider sign-in says so');
  assert.deepEqual(amrClaim(['fed', 'idp:corp', 'otp']), { amr: ['fed', 'idp:corp', 'otp'] });
  assert.deepEqual(amrClaim(undefined), {}, 'a token without the claim (the Python service) is read as no claim');
  assert.deepEqual(amrClaim(['pwd', 7]), {}, 'a malformed claim is not repeated');
});
