import type http from 'node:http';
import { describeIssues } from '../errors.ts';
import type { ListenerConfig } from '../config.ts';
import { submissionStateSchema, type SubmissionState } from '../esign/schemas.ts';
import type { Logger } from '../logger.ts';
import type { CallbackOutcome, Metrics } from '../metrics.ts';
import { createCallbackAuth } from './auth.ts';
import { maxBodyBytes, readJsonBody } from './body.ts';
import { createHttpApp, type HttpApp } from './http-app.ts';
import { createSourceCheck } from './ip-allowlist.ts';
import { sendJson, sendOk } from './respond.ts';
import type { CallbackSink, SinkOutcome } from './sink.ts';
import { activeSpan, inSpan, type Tracer } from '../tracing/tracer.ts';

/**
 * The endpoint Esign POSTs (or PUTs/PATCHes) submission results to. Order matters:
 * source address, then credentials, then the body, so a bad callback never reaches the sink.
 * A valid one is handed to the sink and answered 200 only once the sink has it; if the sink
 * cannot take it (Redis down) the answer is 503 so Esign retries: never acknowledge, then lose.
 *
 * Logs carry submissionId, status, result, reasonCode and the outcome (accepted ones at debug,
 * the rest at warn); never the body, headers, the source address or a secret.
 */

export interface CallbackListenerTimeouts {
  headersTimeoutMs?: number | undefined;
  requestTimeoutMs?: number | undefined;
  closeTimeoutMs?: number | undefined;
  /** A sink that hangs (Redis stalled) is answered 503 after this. Default 5 s. */
  sinkTimeoutMs?: number | undefined;
}

export interface CallbackListenerDeps {
  config: ListenerConfig;
  sink: CallbackSink;
  metrics: Metrics;
  logger: Logger;
  timeouts?: CallbackListenerTimeouts | undefined;
  /** Tracing, when on: a server span per callback (linked to its registration's trace). */
  tracer?: Tracer | undefined;
}

/** Seconds Esign is asked to wait before retrying a callback we could not take. */
const retryAfterSeconds = '5';

export function createCallbackListener(deps: CallbackListenerDeps): HttpApp {
  const { config, sink, metrics, logger } = deps;
  const timeouts = deps.timeouts ?? {};
  const sinkTimeoutMs = timeouts.sinkTimeoutMs ?? 5_000;
  const methods: readonly string[] = config.CALLBACK_METHODS;
  const auth = createCallbackAuth({
    mode: config.CALLBACK_AUTH,
    secret: config.CALLBACK_AUTH_SECRET,
    previousSecret: config.CALLBACK_AUTH_PREVIOUS_SECRET,
    apiKeyHeader: config.CALLBACK_API_KEY_HEADER,
  });
  const sources = createSourceCheck({
    allowed: config.CALLBACK_ALLOWED_IPS,
    trustedProxies: config.CALLBACK_TRUSTED_PROXIES,
  });

  const count = (outcome: CallbackOutcome): void => {
    metrics.callbacks.inc({ outcome });
    activeSpan(deps.tracer).setAttributes({ 'esign.callback.outcome': outcome });
  };

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?', 1)[0] ?? '/';
    // Only the callback: the ops endpoints are on the ops port (METRICS_HOST:METRICS_PORT).
    if (path !== config.CALLBACK_PATH) {
      sendJson(res, 404, { ok: false, error: 'not found' });
      return;
    }
    // Traced from here: not every stray request, only those at the callback's door. The span
    // names no path, address or header: the method, the outcome, the status and the result.
    const attributes = { 'http.request.method': req.method };
    await inSpan(deps.tracer, 'esign.callback', { kind: 'server', attributes }, async (span) => {
      await handleCallback(req, res);
      span.setAttributes({ 'http.response.status_code': res.statusCode });
      if (res.statusCode >= 500) span.fail(String(res.statusCode));
    });
  }

  async function handleCallback(req: http.IncomingMessage, res: http.ServerResponse) {
    if (!methods.includes(req.method ?? '')) {
      sendJson(res, 405, { ok: false, error: 'method not allowed' }, { Allow: methods.join(', ') });
      return;
    }
    if (!sources.allows(req.socket.remoteAddress, req.headers['x-forwarded-for'])) {
      reject(res, 403, 'forbidden', { ok: false, error: 'forbidden' });
      return;
    }
    if (!auth.check(req.headers)) {
      const challenge: Record<string, string> = auth.challenge
        ? { 'WWW-Authenticate': auth.challenge }
        : {};
      reject(res, 401, 'unauthorized', { ok: false, error: 'unauthorized' }, challenge);
      return;
    }

    const body = await readJsonBody(req, maxBodyBytes);
    switch (body.kind) {
      case 'aborted':
        return;
      case 'unsupported-media-type':
        reject(res, 415, 'invalid', { ok: false, error: 'body must be application/json' });
        return;
      case 'too-large':
        // Unread bytes may still be in flight: close rather than read them to reuse the socket.
        reject(
          res,
          413,
          'invalid',
          { ok: false, error: `body exceeds ${maxBodyBytes} bytes` },
          { Connection: 'close' },
        );
        return;
      case 'malformed':
        reject(res, 400, 'invalid', { ok: false, error: 'invalid', problems: ['body: not JSON'] });
        return;
      case 'json':
        break;
    }
    const parsed = submissionStateSchema.safeParse(body.value);
    if (!parsed.success) {
      // Field paths and zod's type messages only: neither quotes the input.
      const problems = describeIssues(parsed.error.issues);
      reject(res, 400, 'invalid', { ok: false, error: 'invalid', problems }, {}, { problems });
      return;
    }
    await deliver(parsed.data, res);
  }

  async function deliver(state: SubmissionState, res: http.ServerResponse): Promise<void> {
    const fields = {
      submissionId: state.submissionId,
      status: state.status,
      result: state.result ?? undefined,
      reasonCode: state.reasonCode ?? undefined,
    };
    activeSpan(deps.tracer).setAttributes({
      'esign.submission.id': state.submissionId,
      'esign.submission.status': state.status,
      'esign.submission.result': state.result ?? undefined,
    });
    let outcome: SinkOutcome;
    try {
      outcome = await withTimeout(sink.accept(state), sinkTimeoutMs);
    } catch (error) {
      count('unavailable');
      logger.warn(
        { ...fields, outcome: 'unavailable', err: error },
        'callback not taken; asked to retry',
      );
      sendJson(res, 503, { ok: false, error: 'unavailable' }, { 'Retry-After': retryAfterSeconds });
      return;
    }
    count(outcome);
    // Exactly 200: Esign treats anything else, even another 2xx, as a failure. Answered before
    // the line is logged: the log is not what Esign waits for.
    sendOk(res);
    // An accepted callback's line is debug: at thousands a second its write(2) to stdout cost
    // the listener about a tenth of its CPU, and what it did to its registration is the
    // worker's info line ('registration progressed'/'finished'); the counts are the metric's.
    if (outcome === 'unknown')
      logger.warn(
        { submissionId: state.submissionId, outcome },
        'callback for an unknown submission',
      );
    else logger.debug({ ...fields, outcome }, 'callback accepted');
  }

  function reject(
    res: http.ServerResponse,
    status: number,
    outcome: CallbackOutcome,
    body: unknown,
    headers: Record<string, string> = {},
    logFields: Record<string, unknown> = {},
  ): void {
    count(outcome);
    logger.warn({ ...logFields, outcome, httpStatus: status }, 'callback rejected');
    sendJson(res, status, body, headers);
  }

  return createHttpApp(handle, {
    logger,
    headersTimeoutMs: config.CALLBACK_HEADERS_TIMEOUT_MS,
    requestTimeoutMs: config.CALLBACK_REQUEST_TIMEOUT_MS,
    keepAliveTimeoutMs: config.CALLBACK_KEEP_ALIVE_TIMEOUT_MS,
    maxRequestsPerSocket: config.CALLBACK_MAX_REQUESTS_PER_SOCKET,
    maxConnections: config.CALLBACK_MAX_CONNECTIONS,
    ...timeouts,
  });
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`sink did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
