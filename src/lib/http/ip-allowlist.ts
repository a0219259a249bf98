import { BlockList, isIP } from 'node:net';
import { ValidationError } from '../errors.ts';

/**
 * The optional source-address allowlist for callbacks (Esign publishes its callback IPs).
 * The source is the socket peer, unless that peer is a trusted proxy: then it is the
 * right-most X-Forwarded-For entry that is not itself a trusted proxy. Right-most, because
 * everything left of what our own proxy appended is written by the client and can be forged.
 */
export interface SourceCheck {
  /** True when the request's source may call us (always true without an allowlist). */
  allows(socketAddress: string | undefined, forwardedFor: string | string[] | undefined): boolean;
}

export interface SourceCheckSettings {
  /** CIDRs (or single addresses), IPv4 or IPv6. Empty = no allowlist. */
  allowed: readonly string[];
  /** Proxies whose X-Forwarded-For is believed; from any other peer the header is ignored. */
  trustedProxies: readonly string[];
}

export function createSourceCheck(settings: SourceCheckSettings): SourceCheck {
  if (settings.allowed.length === 0) return { allows: () => true };
  const allowed = parseCidrs('CALLBACK_ALLOWED_IPS', settings.allowed);
  const proxies = parseCidrs('CALLBACK_TRUSTED_PROXIES', settings.trustedProxies);
  const isProxy = (address: string): boolean => contains(proxies, address);

  return {
    allows(socketAddress, forwardedFor) {
      if (socketAddress === undefined) return false;
      const peerIsProxy = isProxy(socketAddress);
      const source = peerIsProxy ? forwardedSource(forwardedFor, isProxy) : undefined;
      return contains(allowed, source ?? socketAddress);
    },
  };
}

/**
 * Walk X-Forwarded-For from the right past our trusted proxies. An entry that is not an IP
 * address ends the walk and is returned as is, so it fails the allowlist (fail closed).
 * Undefined when the header is absent: then the peer itself is the source.
 */
function forwardedSource(
  header: string | string[] | undefined,
  isProxy: (address: string) => boolean,
): string | undefined {
  const entries = (Array.isArray(header) ? header.join(',') : (header ?? ''))
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean);
  for (let i = entries.length - 1; i >= 0; i--) {
    const entry = entries[i] as string;
    if (isIP(entry) === 0 || !isProxy(entry) || i === 0) return entry;
  }
  return undefined;
}

function contains(list: BlockList, address: string): boolean {
  const family = isIP(address);
  if (family === 0) return false;
  // BlockList matches IPv4-mapped IPv6 (::ffff:10.0.0.1) against IPv4 rules itself.
  return list.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

/** Parse CIDRs into a BlockList; a bad entry fails at start, naming the variable. */
export function parseCidrs(variable: string, entries: readonly string[]): BlockList {
  const list = new BlockList();
  const problems: string[] = [];
  entries.forEach((entry, index) => {
    const [address = '', prefix, ...rest] = entry.split('/');
    const family = isIP(address);
    const bits = prefix === undefined ? undefined : Number(prefix);
    const max = family === 4 ? 32 : 128;
    if (
      family === 0 ||
      rest.length > 0 ||
      (bits !== undefined && (!/^\d+$/.test(prefix ?? '') || bits > max))
    ) {
      problems.push(`${variable}[${index}]: must be an IPv4 or IPv6 address or CIDR`);
      return;
    }
    const type = family === 4 ? 'ipv4' : 'ipv6';
    if (bits === undefined) list.addAddress(address, type);
    else list.addSubnet(address, bits, type);
  });
  if (problems.length > 0) throw new ValidationError('The callback listener settings', problems);
  return list;
}
