import type { ClientInfo } from './deps.js';

/** Client-chosen strings are stored cut to this length: one row per failed login must not hold 15 kB. */
const MAX_USER_AGENT = 512;

/** The longest text form of an IP address (an IPv4-mapped IPv6 address); anything longer is not one. */
const MAX_IP = 45;

/** The user agent as sessions and security events store it. @see issue 12, point 10 */
export function storedUserAgent(client: ClientInfo | undefined): string | null {
  return client?.userAgent?.slice(0, MAX_USER_AGENT) ?? null;
}

/** The address as sessions and security events store it: behind TRUST_PROXY=true it is whatever X-Forwarded-For said. */
export function storedIp(client: ClientInfo | undefined): string | null {
  return client?.ip?.slice(0, MAX_IP) ?? null;
}
