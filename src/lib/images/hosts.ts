/**
 * Whether a URL's host is allowed. An entry is a hostname (any port) or host:port (that port
 * only), compared case-insensitively. IPv6 entries are written as in URLs: `[::1]`, `[::1]:8080`.
 */
export function isAllowedHost(url: URL, allowedHosts: readonly string[]): boolean {
  const hostname = url.hostname.toLowerCase();
  const host = url.host.toLowerCase();
  return allowedHosts.some((entry) => {
    const wanted = entry.trim().toLowerCase();
    return wanted !== '' && (wanted === hostname || wanted === host);
  });
}

/** A parsed http(s) URL, or undefined when the text is not one. */
export function parseHttpUrl(text: string): URL | undefined {
  if (!URL.canParse(text)) return undefined;
  const url = new URL(text);
  return url.protocol === 'http:' || url.protocol === 'https:' ? url : undefined;
}
