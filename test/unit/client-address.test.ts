import assert from 'node:assert/strict';
import { test } from 'node:test';
import { addressBudgetKey, canonicalAddress } from '../../src/http/client-address.js';

test('addresses are canonical: IPv4-mapped unmapped, IPv6 compressed and lower-case (RFC 5952)', () => {
  const table: [string, string][] = [
    ['203.0.113.5', '203.0.113.5'],
    ['::ffff:203.0.113.5', '203.0.113.5'],
    ['::FFFF:cb00:7105', '203.0.113.5'],
    ['0:0:0:0:0:ffff:cb00:7105', '203.0.113.5'],
    ['2001:DB8:0:0:0:0:0:1', '2001:db8::1'],
    ['2001:0db8:0000:0000:0001:0000:0000:0001', '2001:db8::1:0:0:1'],
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
    ['0:0:0:0:0:0:0:1', '::1'],
    ['::', '::'],
    ['fe80::1%eth0', 'fe80::1'],
    ['not-an-address', 'not-an-address'],
  ];
  for (const [given, canonical] of table) assert.equal(canonicalAddress(given), canonical, given);
});

test('budgets key IPv4 by address and IPv6 by its network of the configured prefix', () => {
  assert.equal(addressBudgetKey('::ffff:203.0.113.5', 64), '203.0.113.5');
  assert.equal(addressBudgetKey('2001:db8:1:2:aaaa:bbbb:cccc:dddd', 64), '2001:db8:1:2::/64');
  assert.equal(addressBudgetKey('2001:DB8:1:2::9', 64), '2001:db8:1:2::/64');
  assert.equal(addressBudgetKey('2001:db8:1:2ff::9', 56), '2001:db8:1:200::/56');
  assert.equal(addressBudgetKey('2001:db8:1:2::9', 128), '2001:db8:1:2::9');
});
