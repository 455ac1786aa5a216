import { isIPv4, isIPv6 } from 'node:net';

/**
 * Client addresses as budgets and records key them: one address has one spelling. Behind a proxy,
 * `203.0.113.5`, `::ffff:203.0.113.5` and `::FFFF:cb00:7105` are one client, and so is every address of an
 * IPv6 /64 (one customer's network): keyed as written, each got a budget of its own.
 * @see RFC 5952 (IPv6 text form); RFC 4291 §2.5.5.2 (IPv4-mapped addresses); issue 12, point 4
 */

/** The eight 16-bit groups of an IPv6 address (zone id dropped), or undefined for anything else. */
function ipv6Groups(address: string): number[] | undefined {
  let text = address.toLowerCase();
  const zone = text.indexOf('%');
  if (zone >= 0) text = text.slice(0, zone);
  if (!isIPv6(text)) return undefined;
  const lastColon = text.lastIndexOf(':');
  const tail = text.slice(lastColon + 1);
  if (tail.includes('.')) {
    const [a, b, c, d] = tail.split('.').map(Number) as [number, number, number, number];
    text = `${text.slice(0, lastColon + 1)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, rest] = text.split('::') as [string, string | undefined];
  const parse = (part: string) => (part === '' ? [] : part.split(':').map((group) => parseInt(group, 16)));
  const left = parse(head);
  if (rest === undefined) return left;
  const right = parse(rest);
  return [...left, ...Array<number>(8 - left.length - right.length).fill(0), ...right];
}

/** RFC 5952 §4: lower case, no leading zeros, the longest run of two or more zero groups (the first) as `::`. */
function formatIPv6(groups: number[]): string {
  let best = { start: -1, length: 1 };
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let end = i;
    while (end < 8 && groups[end] === 0) end++;
    if (end - i > best.length) best = { start: i, length: end - i };
    i = end;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best.start < 0) return hex.join(':');
  return `${hex.slice(0, best.start).join(':')}::${hex.slice(best.start + best.length).join(':')}`;
}

const isMappedIPv4 = (groups: number[]) => groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff;
const mappedIPv4 = (groups: number[]) => [groups[6]! >> 8, groups[6]! & 0xff, groups[7]! >> 8, groups[7]! & 0xff].join('.');

/** One spelling per address: IPv4 dotted (IPv4-mapped IPv6 unmapped), IPv6 in RFC 5952 form. Anything else as given. */
export function canonicalAddress(address: string): string {
  if (isIPv4(address)) return address;
  const groups = ipv6Groups(address);
  if (groups === undefined) return address;
  return isMappedIPv4(groups) ? mappedIPv4(groups) : formatIPv6(groups);
}

/** The key of a client's request budgets: its IPv4 address, or its IPv6 network of `ipv6Prefix` bits (e.g. `2001:db8:1:2::/64`). */
export function addressBudgetKey(address: string, ipv6Prefix: number): string {
  const groups = ipv6Groups(address);
  if (groups === undefined || isMappedIPv4(groups)) return canonicalAddress(address);
  if (ipv6Prefix >= 128) return formatIPv6(groups);
  const masked = groups.map((group, i) => {
    const bits = Math.min(16, Math.max(0, ipv6Prefix - i * 16));
    return bits === 0 ? 0 : group & (0xffff << (16 - bits)) & 0xffff;
  });
  return `${formatIPv6(masked)}/${ipv6Prefix}`;
}
