import { performance } from 'node:perf_hooks';
import type { Readable } from 'node:stream';
import { Agent, buildConnector, request, type Dispatcher } from 'undici';
import type { z } from 'zod';
import { describeIssues, permanent, type WorkerError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { statusClass, type Metrics, type StatusClass } from '../metrics.ts';
import { inSpan, type Tracer } from '../tracing/tracer.ts';
import { trackWrites } from '../write-pool.ts';
import { classifyFailure, classifyStatus } from './classify.ts';
import type { EsignEndpoint } from './types.ts';

/**
 * The low-level HTTP layer under the Esign client: one undici Agent, one request function
 * that always consumes (or destroys) the response body, observes the request metric and
 * turns transport failures into classified WorkerErrors. Status codes are left to the caller,
 * because what counts as success differs per endpoint (uploads: 200 or 204).
 */

export interface AgentTimeouts {
  connectTimeoutMs: number;
  /** Default for headers and body timeouts; uploads override it per request. */
  requestTimeoutMs: number;
}

/**
 * One connection pool per origin, shared by every call of a client. Its sockets give the file
 * chunks an upload lends them back to the read pool once written (../write-pool.ts).
 */
export function createEsignAgent(timeouts: AgentTimeouts): Agent {
  const connect = buildConnector({ timeout: timeouts.connectTimeoutMs });
  return new Agent({
    connect: (options, callback) => {
      connect(options, (error, socket) => {
        if (error) {
          callback(error, null);
          return;
        }
        trackWrites(socket);
        callback(null, socket);
      });
    },
    headersTimeout: timeouts.requestTimeoutMs,
    bodyTimeout: timeouts.requestTimeoutMs,
  });
}

export interface HttpContext {
  dispatcher: Dispatcher;
  logger: Logger;
  metrics?: Metrics | undefined;
  /** Wall clock (ms), used to turn a Retry-After date into a delay. */
  now: () => number;
  /** Tracing, when on: a client span per request. */
  tracer?: Tracer | undefined;
}

export interface EsignRequest {
  endpoint: EsignEndpoint;
  method: 'GET' | 'PUT';
  url: string;
  headers: Record<string, string>;
  body?: string | Uint8Array | Readable | undefined;
  /** Headers and body timeout for this call. */
  timeoutMs: number;
  signal?: AbortSignal | undefined;
}

export interface EsignResponse {
  status: number;
  retryAfter: string | undefined;
  bodyText: string;
}

/** Error bodies and API responses are small; anything larger is cut off and discarded. */
const maxBodyBytes = 1024 * 1024;

/**
 * Send one request and read its whole body. Resolves for any HTTP status; rejects only with
 * a classified WorkerError (ESIGN_NETWORK / ESIGN_TIMEOUT) when no complete response arrived.
 *
 * Traced as one client span `esign.<endpoint>` made here rather than by an undici
 * instrumentation: that would record every request's full URL, and a presigned upload URL
 * carries its signature in the query (the API calls' headers carry the token and pass-key).
 * The span names the endpoint, the method, the host and the status: nothing of the path,
 * query, headers or body. No trace header is sent: neither Esign nor storage asked for one.
 */
export function sendRequest(context: HttpContext, call: EsignRequest): Promise<EsignResponse> {
  const { hostname, port, protocol } = new URL(call.url);
  const attributes = {
    'esign.endpoint': call.endpoint,
    'http.request.method': call.method,
    'server.address': hostname,
    'server.port': Number(port) || (protocol === 'https:' ? 443 : 80),
  };
  return inSpan(
    context.tracer,
    `esign.${call.endpoint}`,
    { kind: 'client', attributes },
    async (span) => {
      const response = await send(context, call);
      span.setAttributes({ 'http.response.status_code': response.status });
      if (response.status >= 400) span.fail(String(response.status));
      return response;
    },
  );
}

async function send(context: HttpContext, call: EsignRequest): Promise<EsignResponse> {
  const started = performance.now();
  const observe = (label: StatusClass): void =>
    context.metrics?.observeEsignRequest(
      call.endpoint,
      label,
      (performance.now() - started) / 1000,
    );
  let status: number | undefined;
  try {
    const response = await request(call.url, {
      dispatcher: context.dispatcher,
      method: call.method,
      headers: call.headers,
      body: call.body ?? null,
      headersTimeout: call.timeoutMs,
      bodyTimeout: call.timeoutMs,
      signal: call.signal ?? null,
    });
    status = response.statusCode;
    const bodyText = await readCapped(response.body);
    observe(statusClass(status));
    context.logger.debug({ endpoint: call.endpoint, status }, 'esign request finished');
    return { status, retryAfter: headerValue(response.headers['retry-after']), bodyText };
  } catch (error) {
    const classified = classifyFailure(call.endpoint, error);
    observe(classified.code === 'ESIGN_TIMEOUT' ? 'timeout' : 'network');
    context.logger.warn(
      { endpoint: call.endpoint, status, code: classified.code },
      'esign request failed',
    );
    throw classified;
  }
}

/** The classified error for a response whose status is not the expected success. */
export function failureFor(
  context: HttpContext,
  endpoint: EsignEndpoint,
  response: EsignResponse,
): WorkerError {
  return classifyStatus(endpoint, response, context.now());
}

/**
 * A 2xx body validated against its schema. A malformed one is permanent ESIGN_BAD_RESPONSE
 * naming the offending fields (zod's messages describe types, never the values).
 */
export function parseResponse<T extends z.ZodType>(
  endpoint: EsignEndpoint,
  schema: T,
  response: EsignResponse,
): z.output<T> {
  let json: unknown;
  try {
    json = JSON.parse(response.bodyText);
  } catch {
    throw permanent(
      'ESIGN_BAD_RESPONSE',
      `Esign ${endpoint} answered ${response.status} with a body that is not JSON`,
      {
        httpStatus: response.status,
      },
    );
  }
  const parsed = schema.safeParse(json);
  if (parsed.success) return parsed.data;
  const problems = describeIssues(parsed.error.issues).slice(0, 5);
  throw permanent(
    'ESIGN_BAD_RESPONSE',
    `Esign ${endpoint} answered ${response.status} with an unexpected body: ${problems.join('; ')}`,
    { httpStatus: response.status },
  );
}

async function readCapped(body: Dispatcher.ResponseData['body']): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > maxBodyBytes) break; // leaving the loop destroys the stream
      chunks.push(chunk);
    }
  } finally {
    if (!body.destroyed && size > maxBodyBytes) body.destroy();
  }
  return Buffer.concat(chunks).toString('utf8');
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
