import type { ClientInfo } from './deps.js';

/** Client-chosen strings are stored cut to this length: one row per failed login must not hold 15 kB. */
const MAX_USER_AGENT = 512;

/** The user agent as sessions and security events store it. @see issue 12, point 10 */
export function storedUserAgent(client: ClientInfo | undefined): string | null {
  return client?.userAgent?.slice(0, MAX_USER_AGENT) ?? null;
}
