import { BlockList, isIPv4, isIPv6 } from 'node:net';

/**
 * Which IP addresses an image download may connect to. A host allowlist alone is not enough:
 * an allowed name can resolve (or be re-pointed) to 127.0.0.1, and the worker would then fetch
 * whatever listens there (SSRF). So the address actually connected is judged too:
 *
 * - `private`: loopback, RFC 1918, CGNAT (100.64/10), IPv6 loopback and ULA (fc00::/7). Refused
 *   unless IMAGE_URL_ALLOW_PRIVATE_NETWORKS=true (tests, on-premises image servers).
 * - `forbidden`: refused always. Unspecified (0.0.0.0 reaches the local host on Linux),
 *   multicast, broadcast and reserved ranges, and link-local (169.254/16, fe80::/10), because
 *   that is where cloud metadata services live and no image server does.
 * - `public`: everything else.
 *
 * IPv6 forms that carry an IPv4 address (mapped `::ffff:a.b.c.d`, IPv4-compatible `::a.b.c.d`,
 * NAT64 `64:ff9b::/96`, 6to4 `2002::/16`) are judged by that IPv4 address.
 */
export type AddressClass = 'public' | 'private' | 'forbidden';

const privateV4 = new BlockList();
for (const [network, prefix] of [
  ['127.0.0.0', 8],
  ['10.0.0.0', 8],
  ['172.16.0.0', 12],
  ['192.168.0.0', 16],
  ['100.64.0.0', 10],
] as const)
  privateV4.addSubnet(network, prefix, 'ipv4');

const forbiddenV4 = new BlockList();
for (const [network, prefix] of [
  ['0.0.0.0', 8],
  ['169.254.0.0', 16],
  ['192.0.0.0', 24],
  ['198.18.0.0', 15],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const)
  forbiddenV4.addSubnet(network, prefix, 'ipv4');

const privateV6 = new BlockList();
privateV6.addSubnet('::1', 128, 'ipv6');
privateV6.addSubnet('fc00::', 7, 'ipv6');

const forbiddenV6 = new BlockList();
for (const [network, prefix] of [
  ['::', 128],
  ['fe80::', 10],
  ['fec0::', 10],
  ['ff00::', 8],
] as const)
  forbiddenV6.addSubnet(network, prefix, 'ipv6');

export function classifyAddress(text: string): AddressClass {
  // A zone (fe80::1%eth0) names an interface, not an address.
  const address = text.split('%')[0] ?? '';
  if (isIPv4(address)) return classifyV4(address);
  if (!isIPv6(address)) return 'forbidden';
  const groups = ipv6Groups(address);
  if (!groups) return 'forbidden';
  const embedded = embeddedIPv4(groups);
  if (embedded !== undefined) return classifyV4(embedded);
  if (forbiddenV6.check(address, 'ipv6')) return 'forbidden';
  if (privateV6.check(address, 'ipv6')) return 'private';
  return 'public';
}

/** Whether a connection to this address is allowed under the policy. */
export function isAddressAllowed(address: string, allowPrivateNetworks: boolean): boolean {
  const verdict = classifyAddress(address);
  return verdict === 'public' || (verdict === 'private' && allowPrivateNetworks);
}

function classifyV4(address: string): AddressClass {
  if (address === '255.255.255.255' || forbiddenV4.check(address, 'ipv4')) return 'forbidden';
  if (privateV4.check(address, 'ipv4')) return 'private';
  return 'public';
}

/** The eight 16-bit groups of a valid IPv6 address (as checked by isIPv6), or undefined. */
function ipv6Groups(address: string): number[] | undefined {
  let text = address.toLowerCase();
  const tail: number[] = [];
  const lastColon = text.lastIndexOf(':');
  const last = text.slice(lastColon + 1);
  if (isIPv4(last)) {
    const [a = 0, b = 0, c = 0, d = 0] = last.split('.').map(Number);
    tail.push((a << 8) | b, (c << 8) | d);
    text = text.slice(0, lastColon + 1) + '0';
  }
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const parse = (part: string): number[] =>
    part === '' ? [] : part.split(':').map((group) => Number.parseInt(group, 16));
  const head = parse(halves[0] ?? '');
  const rest = halves.length === 2 ? parse(halves[1] ?? '') : [];
  const zeros = 8 - head.length - rest.length;
  const groups = halves.length === 2 ? [...head, ...Array<number>(zeros).fill(0), ...rest] : head;
  if (tail.length === 2) groups.splice(6, 2, ...tail);
  return groups.length === 8 && groups.every((g) => g >= 0 && g <= 0xffff) ? groups : undefined;
}

function embeddedIPv4(groups: readonly number[]): string | undefined {
  const [g0 = 0, g1 = 0, g2 = 0, g3 = 0, g4 = 0, g5 = 0, g6 = 0, g7 = 0] = groups;
  const v4 = (high: number, low: number): string =>
    `${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}`;
  const zeroTo = (count: number): boolean => groups.slice(0, count).every((g) => g === 0);
  // ::ffff:a.b.c.d (mapped) and ::ffff:0:a.b.c.d (translated).
  if (zeroTo(5) && g5 === 0xffff) return v4(g6, g7);
  if (zeroTo(4) && g4 === 0xffff && g5 === 0) return v4(g6, g7);
  // 64:ff9b::/96 (NAT64 well-known prefix).
  if (g0 === 0x64 && g1 === 0xff9b && g2 === 0 && g3 === 0 && g4 === 0 && g5 === 0)
    return v4(g6, g7);
  // ::a.b.c.d (IPv4-compatible, deprecated), but not :: and ::1 themselves.
  if (zeroTo(6) && (g6 !== 0 || g7 > 1)) return v4(g6, g7);
  // 2002:AABB:CCDD::/48 (6to4).
  if (g0 === 0x2002) return v4(g1, g2);
  return undefined;
}
