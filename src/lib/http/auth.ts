import { hash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { CallbackAuthMode } from '../config.ts';

/**
 * Authenticates Esign's callback per CALLBACK_AUTH. Secrets are compared as SHA-256
 * digests with timingSafeEqual: equal-length inputs, so neither the secret's content nor
 * its length leaks through response timing.
 */
export interface CallbackAuth {
  /** True when the request carries the configured credential (always true for `none`). */
  check(headers: IncomingHttpHeaders): boolean;
  /** WWW-Authenticate for a 401, when the scheme defines one (basic, bearer). */
  challenge: string | undefined;
}

export interface CallbackAuthSettings {
  mode: CallbackAuthMode;
  /** bearer token, API key, or `user:password` for basic. */
  secret?: string | undefined;
  /** The secret being rotated out, accepted too while set. */
  previousSecret?: string | undefined;
  /** Header carrying the API key (api-key mode). */
  apiKeyHeader: string;
}

const realm = 'realm="esign-callback"';

export function createCallbackAuth(settings: CallbackAuthSettings): CallbackAuth {
  if (settings.mode === 'none') return { check: () => true, challenge: undefined };
  if (!settings.secret) throw new Error(`callback auth ${settings.mode} needs a secret`);
  const expected = [settings.secret, settings.previousSecret]
    .filter((secret): secret is string => Boolean(secret))
    .map(digest);
  // Every candidate is compared (no early exit), so timing tells nothing about which matched.
  const matches = (presented: string | undefined): boolean => {
    if (presented === undefined) return false;
    const given = digest(presented);
    let matched = false;
    for (const secret of expected) matched = timingSafeEqual(given, secret) || matched;
    return matched;
  };

  switch (settings.mode) {
    case 'basic':
      return {
        check: (headers) => matches(decodeBasic(credentials(headers.authorization, 'basic'))),
        challenge: `Basic ${realm}, charset="UTF-8"`,
      };
    case 'bearer':
      return {
        check: (headers) => matches(credentials(headers.authorization, 'bearer')),
        challenge: `Bearer ${realm}`,
      };
    case 'api-key': {
      const header = settings.apiKeyHeader.toLowerCase();
      return {
        check: (headers) => matches(single(headers[header])),
        challenge: undefined,
      };
    }
  }
}

/** One-shot hash: no Hash object per request. */
function digest(text: string): Buffer {
  return hash('sha256', text, 'buffer');
}

/** The credentials after `<scheme> ` in an Authorization header (scheme case-insensitive). */
function credentials(header: string | undefined, scheme: string): string | undefined {
  if (!header) return undefined;
  const space = header.indexOf(' ');
  if (space < 0 || header.slice(0, space).toLowerCase() !== scheme) return undefined;
  const value = header.slice(space + 1).trim();
  return value === '' ? undefined : value;
}

function decodeBasic(encoded: string | undefined): string | undefined {
  if (encoded === undefined || !/^[A-Za-z0-9+/]+={0,2}$/.test(encoded)) return undefined;
  return Buffer.from(encoded, 'base64').toString('utf8');
}

/** A repeated header is ambiguous: refuse it rather than pick one. */
function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? undefined : value;
}
