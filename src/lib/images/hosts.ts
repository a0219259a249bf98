import { isIP } from 'node:net';
import { isAddressAllowed } from './addresses.ts';

/**
 * Which URLs an image may be downloaded from, judged on the URL alone (no DNS, no network);
 * the address actually connected is judged again when connecting (connector.ts).
 *
 * IMAGE_URL_ALLOWED_HOSTS entries, case-insensitive:
 * - `host` allows that host on port 443 only: a bare name must not open every port of a
 *   machine (an admin API on :8080 next to the image server);
 * - `host:port` allows that port only; `host:*` allows any port, an explicit choice;
 * - IPv6 hosts are written as in URLs: `[2001:db8::1]`, `[2001:db8::1]:8443`.
 * Only https is allowed unless IMAGE_URL_ALLOW_HTTP=true; a host written as an IP literal must
 * be a public address unless IMAGE_URL_ALLOW_PRIVATE_NETWORKS=true.
 */
export interface UrlRules {
  allowedHosts: readonly string[];
  allowHttp: boolean;
  allowPrivateNetworks: boolean;
}

export type UrlRefusal = 'not-http' | 'http-not-allowed' | 'host-not-allowed' | 'private-address';

interface AllowEntry {
  hostname: string;
  port: number | '*';
}

/** One allowlist entry, or undefined when it is malformed (which then allows nothing). */
export function parseAllowEntry(entry: string): AllowEntry | undefined {
  const text = entry.trim().toLowerCase();
  let host = text;
  let port: string | undefined;
  const close = text.startsWith('[') ? text.indexOf(']') : -1;
  const separator = text.startsWith('[') ? close + 1 : text.indexOf(':');
  if (text.startsWith('[') && close === -1) return undefined;
  if (separator > 0 && separator < text.length) {
    if (text[separator] !== ':') return undefined;
    host = text.slice(0, separator);
    port = text.slice(separator + 1);
  }
  // The URL parser canonicalises the host the same way as the URLs it is compared with.
  if (host === '' || !URL.canParse(`https://${host}/`)) return undefined;
  const parsed = new URL(`https://${host}/`);
  if (parsed.pathname !== '/' || parsed.port !== '' || parsed.username !== '') return undefined;
  const { hostname } = parsed;
  if (port === undefined) return { hostname, port: 443 };
  if (port === '*') return { hostname, port: '*' };
  const number = /^\d{1,5}$/.test(port) ? Number(port) : 0;
  return number >= 1 && number <= 65_535 ? { hostname, port: number } : undefined;
}

/** The port a URL connects to: its own, or its scheme's default. */
export function effectivePort(url: URL): number {
  if (url.port !== '') return Number(url.port);
  return url.protocol === 'https:' ? 443 : 80;
}

/** Whether a URL's host and port are on the allowlist. */
export function isAllowedHost(url: URL, allowedHosts: readonly string[]): boolean {
  const hostname = url.hostname.toLowerCase();
  const port = effectivePort(url);
  return allowedHosts.some((text) => {
    const entry = parseAllowEntry(text);
    return (
      entry !== undefined &&
      entry.hostname === hostname &&
      (entry.port === '*' || entry.port === port)
    );
  });
}

/** A parsed http(s) URL, or undefined when the text is not one. */
export function parseHttpUrl(text: string): URL | undefined {
  if (!URL.canParse(text)) return undefined;
  const url = new URL(text);
  return url.protocol === 'http:' || url.protocol === 'https:' ? url : undefined;
}

/** The URL when the rules allow it, else why not. Scheme first, then host and port, then IP. */
export function judgeUrl(text: string, rules: UrlRules): { url: URL } | { refusal: UrlRefusal } {
  const url = parseHttpUrl(text);
  if (!url) return { refusal: 'not-http' };
  if (url.protocol === 'http:' && !rules.allowHttp) return { refusal: 'http-not-allowed' };
  if (!isAllowedHost(url, rules.allowedHosts)) return { refusal: 'host-not-allowed' };
  if (!rules.allowPrivateNetworks && isLocalName(url.hostname))
    return { refusal: 'private-address' };
  const literal = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (isIP(literal) !== 0 && !isAddressAllowed(literal, rules.allowPrivateNetworks))
    return { refusal: 'private-address' };
  return { url };
}

/**
 * Names that always mean this machine (RFC 6761): refused at enqueue already, for a clear
 * early error. Any other name is judged by the address it resolves to, when connecting.
 */
function isLocalName(hostname: string): boolean {
  const name = hostname.toLowerCase().replace(/\.$/, '');
  return name === 'localhost' || name.endsWith('.localhost');
}
