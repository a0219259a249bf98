import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * Small node:http helpers shared by the sandbox handlers: bounded body reading and the
 * answer shapes (Esign's JSON error envelope, S3-style XML for storage). Every answer leaves
 * through them, so an answer fault set on a response (alterAnswer) applies whatever the handler.
 */

export const apiBodyLimit = 1024 * 1024;
export const storageBodyLimit = 16 * 1024 * 1024;

export class BodyTooLargeError extends Error {
  constructor(limit: number) {
    super(`request body exceeds ${limit} bytes`);
    this.name = 'BodyTooLargeError';
  }
}

/**
 * The whole request body, refusing more than `limit` bytes. Every handler reads (or
 * discards) the body so no connection is left with unread input.
 */
export function readBody(request: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    request.on('data', (chunk: Buffer) => {
      if (failed) return;
      size += chunk.length;
      if (size > limit) {
        failed = true;
        chunks.length = 0;
        reject(new BodyTooLargeError(limit));
        return;
      }
      chunks.push(chunk);
    });
    request.on('end', () => {
      if (!failed) resolve(Buffer.concat(chunks));
    });
    request.on('error', (error) => {
      if (!failed) {
        failed = true;
        reject(error);
      }
    });
  });
}

export interface EsignErrorBody {
  code: string;
  cause: string;
  entity?: string;
}

/** How one answer is changed on its way out (fault injection; set by the router). */
export interface AnswerAlteration {
  /** The answer is never sent (the connection stays open); told the status it would have had. */
  withhold?: ((status: number) => void) | undefined;
  /** The JSON body is rewritten before it is serialised. */
  rewrite?: ((body: unknown) => unknown) | undefined;
  /** The JSON text is cut to half its length. */
  truncate?: boolean | undefined;
}

const alterations = new WeakMap<ServerResponse, AnswerAlteration>();

export function alterAnswer(response: ServerResponse, alteration: AnswerAlteration): void {
  alterations.set(response, alteration);
}

/** Whether the answer may go out; false once it was sent, or when a fault withholds it. */
function mayAnswer(response: ServerResponse, status: number): boolean {
  if (response.headersSent || response.destroyed) return false;
  const withhold = alterations.get(response)?.withhold;
  if (!withhold) return true;
  withhold(status);
  return false;
}

export function sendJson(
  response: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  if (!mayAnswer(response, status)) return;
  const alteration = alterations.get(response);
  const json = JSON.stringify(alteration?.rewrite ? alteration.rewrite(body) : body);
  const text = alteration?.truncate ? json.slice(0, Math.floor(json.length / 2)) : json;
  response.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  response.end(text);
}

/** Esign's error envelope: `{ success: false, errors: [{ code, cause }] }`, codes as strings. */
export function sendEsignError(
  response: ServerResponse,
  status: number,
  errors: readonly EsignErrorBody[],
  extra: { headers?: Record<string, string>; data?: unknown } = {},
): void {
  const body: Record<string, unknown> = { success: false, errors };
  if (extra.data !== undefined) body.data = extra.data;
  sendJson(response, status, body, extra.headers);
}

/** An S3/OSS-style XML error, as object storage answers presigned-URL requests. */
export function sendStorageError(
  response: ServerResponse,
  status: number,
  code: string,
  /** The `<Message>`, or the elements after `<Code>` in order (`Message`, `Expires`, …). */
  message: string | Record<string, string>,
  headers: Record<string, string> = {},
): void {
  if (!mayAnswer(response, status)) return;
  const fields = typeof message === 'string' ? { Message: message } : message;
  const elements = Object.entries(fields)
    .map(([name, value]) => `<${name}>${value}</${name}>`)
    .join('');
  const text = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code>${elements}</Error>\n`;
  response.writeHead(status, {
    'content-type': 'application/xml',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  response.end(text);
}

/** An answer with no body (storage's answer to a good upload). */
export function sendEmpty(
  response: ServerResponse,
  status: number,
  headers: Record<string, string> = {},
): void {
  if (!mayAnswer(response, status)) return;
  response.writeHead(status, status === 204 ? headers : { ...headers, 'content-length': 0 });
  response.end();
}

/** A text/html error page of about `bytes` bytes, as a gateway in front of a service answers. */
export function sendGatewayPage(response: ServerResponse, status: number, bytes: number): void {
  if (!mayAnswer(response, status)) return;
  const head = `<html><head><title>${status}</title></head><body><h1>${status}</h1>`;
  const tail = '</body></html>\n';
  const text = head + 'x'.repeat(Math.max(0, bytes - head.length - tail.length)) + tail;
  response.writeHead(status, {
    'content-type': 'text/html',
    'content-length': Buffer.byteLength(text),
  });
  response.end(text);
}

/** A single header value; repeated headers are joined by node, empty counts as absent. */
export function header(request: IncomingMessage, name: string): string | undefined {
  const value = request.headers[name];
  const text = Array.isArray(value) ? value[0] : value;
  return text === undefined || text.trim() === '' ? undefined : text.trim();
}
