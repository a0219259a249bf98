import { permanent, retryable, type EsignErrorEntry, type WorkerError } from '../errors.ts';
import { errorEnvelopeSchema } from './schemas.ts';
import type { EsignEndpoint } from './types.ts';

/**
 * The one place that decides whether an Esign (or presigned storage) failure is worth
 * retrying. Network errors, timeouts, 408, 429 and 5xx are retryable; 401 is
 * ESIGN_UNAUTHORIZED (the client retries it once with a fresh token); other 4xx are permanent.
 *
 * Messages name the endpoint, the status and Esign's own code/cause constants; never a URL
 * (presigned URLs carry signatures), a header value or a request field.
 */

/** Undici error codes that mean "it took too long", as opposed to "the connection broke". */
const timeoutCodes = new Set([
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'ETIMEDOUT',
]);

export function classifyFailure(endpoint: EsignEndpoint, error: unknown): WorkerError {
  const code = errorCode(error);
  const name = error instanceof Error ? error.name : '';
  if (timeoutCodes.has(code) || name === 'TimeoutError')
    return retryable('ESIGN_TIMEOUT', `Esign ${endpoint}: timed out (${code || name})`, {
      cause: error,
    });
  if (code === 'UND_ERR_ABORTED' || name === 'AbortError')
    return retryable('ESIGN_NETWORK', `Esign ${endpoint}: request aborted`, { cause: error });
  return retryable('ESIGN_NETWORK', `Esign ${endpoint}: network error (${code || name})`, {
    cause: error,
  });
}

export interface FailedResponse {
  status: number;
  retryAfter?: string | undefined;
  bodyText: string;
}

export function classifyStatus(
  endpoint: EsignEndpoint,
  response: FailedResponse,
  now: number,
): WorkerError {
  const { status } = response;
  const esignErrors = parseErrorEnvelope(response.bodyText);
  const message = `Esign ${endpoint} answered ${status}${describeEntries(esignErrors)}`;
  const extra = { httpStatus: status, esignErrors };

  if (status === 429)
    return retryable('ESIGN_RATE_LIMITED', message, {
      ...extra,
      retryAfterMs: parseRetryAfter(response.retryAfter, now),
    });
  if (status === 408 || status >= 500) return retryable('ESIGN_SERVER_ERROR', message, extra);
  // Object storage answers 403 both for an expired URL and for a write it refuses (an object
  // already confirmed, a bad signature): only expiry means "start a new submission".
  if (endpoint === 'upload' && status === 403) {
    const storage = parseStorageError(response.bodyText);
    const said = storage
      ? ` (${storage.code}${storage.expired ? ': request has expired' : ''})`
      : '';
    if (storage?.expired) return permanent('UPLOAD_URL_EXPIRED', message + said, extra);
    return permanent('UPLOAD_FORBIDDEN', message + said, extra);
  }
  if (status === 401) return permanent('ESIGN_UNAUTHORIZED', message, extra);
  if (status >= 400) return permanent('ESIGN_REJECTED', message, extra);
  // 1xx/3xx/unexpected 2xx: nothing we asked for; retrying the same call will not change it.
  if (endpoint === 'upload') return permanent('UPLOAD_FAILED', message, extra);
  return permanent('ESIGN_BAD_RESPONSE', message, extra);
}

/** An S3/OSS-style XML error body: `<Error><Code>…</Code><Message>…</Message>…</Error>`. */
export interface StorageError {
  /** The storage's code constant (`AccessDenied`, `SignatureDoesNotMatch`, …), capped. */
  code: string;
  /** The storage says the presigned request expired. */
  expired: boolean;
}

/**
 * What the storage's error body says, or undefined when it is no such body. S3 and OSS both
 * answer an expired presigned URL with `AccessDenied` and the message "Request has expired",
 * adding `<Expires>` and `<ServerTime>`; a refused write is `AccessDenied` ("Access Denied")
 * without them. Some S3-compatible stores use the codes `RequestExpired` / `ExpiredToken`.
 */
export function parseStorageError(bodyText: string): StorageError | undefined {
  const element = (name: string) =>
    new RegExp(`<${name}>([^<]{0,200})</${name}>`).exec(bodyText)?.[1]?.trim();
  const code = element('Code');
  if (code === undefined) return undefined;
  const expired =
    code === 'RequestExpired' ||
    code === 'ExpiredToken' ||
    (code === 'AccessDenied' &&
      (/request has expired/i.test(element('Message') ?? '') || element('Expires') !== undefined));
  return { code: code.replace(/[^A-Za-z0-9_.-]/g, '').slice(0, 64), expired };
}

/**
 * `Retry-After` as milliseconds: delay-seconds (`"120"`) or an HTTP date. Undefined when
 * absent or unreadable; never negative.
 */
export function parseRetryAfter(value: string | undefined, now: number): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}

/** Esign's `{ success: false, errors: [...] }`, or nothing when the body is something else. */
export function parseErrorEnvelope(bodyText: string): EsignErrorEntry[] {
  let json: unknown;
  try {
    json = JSON.parse(bodyText);
  } catch {
    return [];
  }
  const parsed = errorEnvelopeSchema.safeParse(json);
  return parsed.success ? parsed.data.errors : [];
}

function describeEntries(entries: readonly EsignErrorEntry[]): string {
  if (entries.length === 0) return '';
  // Codes and causes are Esign's constants (e.g. "1650 MISSING_CLIENT_ID"); cap them so a
  // misbehaving server cannot smuggle long free text into our messages.
  const parts = entries.slice(0, 5).map((e) => `${e.code.slice(0, 16)} ${e.cause.slice(0, 80)}`);
  return ` (${parts.join(', ')})`;
}

function errorCode(error: unknown): string {
  if (typeof error === 'object' && error !== null && 'code' in error) {
    const code = error.code;
    if (typeof code === 'string') return code;
  }
  return '';
}
