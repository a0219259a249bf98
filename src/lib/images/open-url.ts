import { request, type Dispatcher } from 'undici';
import { isWorkerError, permanent, retryable, type WorkerError } from '../errors.ts';
import { addressRefusedCode, imageAgent } from './connector.ts';
import { bufferStream, inspectOrThrow, sniffAndGuard } from './guarded-stream.ts';
import { judgeUrl, type UrlRefusal } from './hosts.ts';
import { imageLimits, urlRules } from './policy.ts';
import type { ImageDocument, ImagePolicy } from './source.ts';
import type { OpenedImage } from './opened-image.ts';

const maxRedirects = 5;
const redirectStatuses = new Set([301, 302, 303, 307, 308]);
const defaultFetchTimeoutMs = 30_000;

/**
 * An image on an allowed host (hosts.ts: scheme, host and port). Redirects are followed by
 * hand, at most five, and every target is judged again; every connection, first or redirected,
 * goes through the guarded connector, which refuses private and local addresses however they
 * were reached (connector.ts). Otherwise an allowed name, an IP literal or a redirect could
 * point the worker at an internal service (SSRF). Errors name the document only; the URL may
 * carry a secret.
 */
export async function openUrlImage(
  doc: ImageDocument,
  text: string,
  policy: ImagePolicy,
  signal?: AbortSignal,
): Promise<OpenedImage> {
  let url = allowedUrl(doc, text, policy, 'URL');
  const timeout = policy.fetchTimeoutMs ?? defaultFetchTimeoutMs;
  const dispatcher = imageAgent(urlRules(policy).allowPrivateNetworks, timeout);
  for (let hop = 0; ; hop += 1) {
    let response: Dispatcher.ResponseData;
    try {
      response = await request(url, {
        dispatcher,
        method: 'GET',
        headers: { accept: 'image/jpeg, image/png' },
        signal,
        // Idle timeouts, not a total deadline: the body is read while it is uploaded.
        headersTimeout: timeout,
        bodyTimeout: timeout,
      });
    } catch (error) {
      throw downloadFailed(doc, error);
    }
    const { statusCode, headers, body } = response;
    if (redirectStatuses.has(statusCode)) {
      await body.dump();
      const location = headers.location;
      if (typeof location !== 'string')
        throw permanent('IMAGE_SOURCE_FAILED', `${doc} image URL redirects without a location`, {
          httpStatus: statusCode,
        });
      if (hop >= maxRedirects)
        throw permanent('IMAGE_SOURCE_FAILED', `${doc} image URL redirects too many times`);
      url = allowedUrl(doc, new URL(location, url).href, policy, 'URL redirect target');
      continue;
    }
    if (statusCode !== 200) {
      await body.dump().catch(() => undefined);
      throw statusError(doc, statusCode);
    }
    return readBody(doc, body, headers['content-length'], policy);
  }
}

const refusals: Record<UrlRefusal, string> = {
  'not-http': 'is not http(s)',
  'http-not-allowed': 'is not https (IMAGE_URL_ALLOW_HTTP is off)',
  'host-not-allowed': 'host is not allowed',
  'private-address': 'host is a private or local address',
};

function allowedUrl(doc: ImageDocument, text: string, policy: ImagePolicy, what: string): URL {
  const judged = judgeUrl(text, urlRules(policy));
  if ('refusal' in judged)
    throw permanent('IMAGE_SOURCE_FAILED', `${doc} image ${what} ${refusals[judged.refusal]}`);
  return judged.url;
}

/** 404/410 mean the image is gone for good; 408, 429 and 5xx may pass; other 4xx will not. */
function statusError(doc: ImageDocument, status: number): WorkerError {
  const message = `${doc} image download answered HTTP ${status}`;
  if (status === 408 || status === 429 || status >= 500)
    return retryable('IMAGE_SOURCE_FAILED', message, { httpStatus: status });
  return permanent('IMAGE_SOURCE_FAILED', message, { httpStatus: status });
}

/**
 * Network errors and timeouts are retryable; a refused address is permanent (the name points
 * somewhere it must not; retrying would only ask again). The cause keeps name and code only.
 */
function downloadFailed(doc: ImageDocument, error: unknown): WorkerError {
  const { name, code } = (error ?? {}) as { name?: string; code?: string };
  if (code === addressRefusedCode)
    return permanent(
      'IMAGE_SOURCE_FAILED',
      `${doc} image URL leads to a private or local address (IMAGE_URL_ALLOW_PRIVATE_NETWORKS is off)`,
      { cause: { name, code } },
    );
  return retryable('IMAGE_SOURCE_FAILED', `${doc} image download failed`, {
    cause: { name, code },
  });
}

/** Drop a body without reading it; the abort it raises is expected, not a crash. */
function discard(body: Dispatcher.ResponseData['body']): void {
  body.on('error', () => undefined);
  body.destroy();
}

function tooLarge(doc: ImageDocument, maxBytes: number): WorkerError {
  return permanent('IMAGE_TOO_LARGE', `${doc} image is larger than the limit of ${maxBytes} bytes`);
}

async function readBody(
  doc: ImageDocument,
  body: Dispatcher.ResponseData['body'],
  lengthHeader: string | string[] | undefined,
  policy: ImagePolicy,
): Promise<OpenedImage> {
  const { maxBytes } = policy;
  const limits = imageLimits(policy);
  const announced =
    typeof lengthHeader === 'string' && /^\d+$/.test(lengthHeader)
      ? Number(lengthHeader)
      : undefined;
  if (announced !== undefined) {
    if (announced > maxBytes) {
      discard(body);
      throw tooLarge(doc, maxBytes);
    }
    const { stream, contentType } = await sniffAndGuard(body, {
      doc,
      expectedLength: announced,
      limits,
      lengthMismatch: () =>
        retryable('IMAGE_SOURCE_FAILED', `${doc} image download did not match its Content-Length`),
      readFailed: (error) => downloadFailed(doc, error),
    });
    return { stream, contentType, contentLength: announced };
  }
  // No Content-Length (chunked): the upload needs one, so buffer, refusing past maxBytes.
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      total += chunk.length;
      // Leaving the loop destroys the body, closing the connection mid-download.
      if (total > maxBytes) throw tooLarge(doc, maxBytes);
      chunks.push(chunk);
    }
  } catch (error) {
    if (isWorkerError(error)) throw error;
    throw downloadFailed(doc, error);
  }
  const bytes = Buffer.concat(chunks);
  const contentType = inspectOrThrow(doc, bytes, limits);
  return { stream: bufferStream(bytes), contentType, contentLength: bytes.length };
}
