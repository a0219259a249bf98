import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import type { RedisClient } from '../redis-topology.ts';
import type { EsignConfig } from '../config.ts';
import { isWorkerError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics.ts';
import type { Tracer } from '../tracing/tracer.ts';
import { classifyFailure } from './classify.ts';
import { serialiseConfirmBody } from './confirm-body.ts';
import {
  createEsignAgent,
  failureFor,
  parseResponse,
  sendRequest,
  type EsignResponse,
  type HttpContext,
} from './http.ts';
import {
  confirmResponseSchema,
  createSubmissionResponseSchema,
  pollResponseSchema,
  tokenResponseSchema,
  type ConfirmMetadata,
} from './schemas.ts';
import type { PiiCipher } from '../pii-cipher.ts';
import { createTokenCache, type FetchedToken } from './token-cache.ts';
import type {
  CreatedSubmission,
  EsignClient,
  EsignEndpoint,
  PartnerUser,
  UploadBody,
} from './types.ts';

/**
 * The Esign CERT_REG API (esign-api.md §3–§6, §10), one method per endpoint.
 *
 * Header rules per endpoint: the token call sends only client-id + pass-key; the API calls
 * send the partner token, user id/type and a fresh x-partner-session-id per attempt; the
 * poll leaves out x-esign-onboarding-partner (the API does not take it there); uploads go to
 * presigned storage URLs with nothing but Content-Type/Length.
 */

/** How long close() waits for requests in flight before destroying the connections. */
const CLOSE_GRACE_MS = 5_000;

export interface EsignClientDeps {
  config: EsignConfig;
  redis: RedisClient;
  /** Token keys go under `${keyPrefix}:esign:token`. */
  keyPrefix: string;
  /** Seals the cached partner token in Redis. */
  cipher: PiiCipher;
  logger: Logger;
  metrics?: Metrics | undefined;
  now?: (() => number) | undefined;
  /** Tracing, when on: a span per request (http.ts). */
  tracer?: Tracer | undefined;
}

const paths = {
  token: '/v1/esign/partner/authentication',
  createSubmission: '/esign-partner/v1/submissions/urls?submissionType=CERT_REG',
  confirm: '/esign-partner/v1/submissions/urls',
  getSubmission: '/esign-partner/v1/submissions',
} as const;

type ApiEndpoint = Exclude<EsignEndpoint, 'token' | 'upload'>;

interface ApiCall {
  endpoint: ApiEndpoint;
  method: 'GET' | 'PUT';
  path: string;
  user: PartnerUser;
  /** The poll does not take x-esign-onboarding-partner. */
  onboardingPartner: boolean;
  body?: string | undefined;
  signal?: AbortSignal | undefined;
}

export function createEsignClient(deps: EsignClientDeps): EsignClient {
  const { config, logger, metrics } = deps;
  const now = deps.now ?? Date.now;
  const agent = createEsignAgent({
    connectTimeoutMs: config.ESIGN_CONNECT_TIMEOUT_MS,
    requestTimeoutMs: config.ESIGN_REQUEST_TIMEOUT_MS,
  });
  const http: HttpContext = { dispatcher: agent, logger, metrics, now, tracer: deps.tracer };
  const tokenUrl = joinUrl(config.ESIGN_TOKEN_URL, paths.token);
  const apiUrl = (path: string): string => joinUrl(config.ESIGN_API_URL, path);

  async function fetchToken(signal?: AbortSignal): Promise<FetchedToken> {
    try {
      const response = await sendRequest(http, {
        endpoint: 'token',
        method: 'GET',
        url: tokenUrl,
        headers: { 'client-id': config.ESIGN_CLIENT_ID, 'pass-key': config.ESIGN_PASS_KEY },
        timeoutMs: config.ESIGN_REQUEST_TIMEOUT_MS,
        signal,
      });
      if (response.status !== 200) throw failureFor(http, 'token', response);
      const { data } = parseResponse('token', tokenResponseSchema, response);
      const fetchedAt = now();
      const fromLifetime = fetchedAt + data.expiry_seconds * 1000;
      // Prefer expires_at, but never trust it beyond what expiry_seconds allows: a clock
      // skew between us and Esign must not make us hold on to an expired token.
      const expiresAt =
        data.expires_at === undefined
          ? fromLifetime
          : Math.min(data.expires_at * 1000, fromLifetime);
      metrics?.tokenFetches.inc({ outcome: 'success' });
      logger.info(
        { expiresInSeconds: Math.round((expiresAt - fetchedAt) / 1000) },
        'partner token fetched',
      );
      return { token: data.token, expiresAt };
    } catch (error) {
      metrics?.tokenFetches.inc({ outcome: 'failure' });
      throw error;
    }
  }

  const tokens = createTokenCache({
    redis: deps.redis,
    keyPrefix: deps.keyPrefix,
    fetchToken,
    refreshMarginMs: config.TOKEN_REFRESH_MARGIN_SECONDS * 1000,
    cipher: deps.cipher,
    logger,
    now,
    // Long enough for one token call including its connect; a crashed holder frees it after that.
    lockTtlMs: config.ESIGN_CONNECT_TIMEOUT_MS + config.ESIGN_REQUEST_TIMEOUT_MS + 1_000,
  });

  function apiHeaders(call: ApiCall, token: string): Record<string, string> {
    const headers: Record<string, string> = { 'x-onekyc-token': token };
    if (call.onboardingPartner)
      headers['x-esign-onboarding-partner'] = config.ESIGN_ONBOARDING_PARTNER;
    headers['x-partner-user-id'] = call.user.userId;
    headers['x-partner-user-id-type'] = call.user.userIdType;
    headers['x-partner-session-id'] = randomUUID();
    if (call.body !== undefined) headers['content-type'] = 'application/json';
    return headers;
  }

  async function attempt(call: ApiCall, token: string): Promise<EsignResponse> {
    return sendRequest(http, {
      endpoint: call.endpoint,
      method: call.method,
      url: apiUrl(call.path),
      headers: apiHeaders(call, token),
      body: call.body,
      timeoutMs: config.ESIGN_REQUEST_TIMEOUT_MS,
      signal: call.signal,
    });
  }

  /**
   * One API call with the shared token. A 401 means the token was revoked or expired early:
   * drop it (if nobody replaced it yet), get a fresh one and retry once; a second 401 is
   * permanent ESIGN_UNAUTHORIZED.
   */
  async function callApi(call: ApiCall): Promise<EsignResponse> {
    const token = await partnerToken(call.signal);
    const first = await attempt(call, token);
    if (first.status !== 401) return expectOk(call.endpoint, first);
    logger.info({ endpoint: call.endpoint }, 'partner token rejected; renewing it once');
    await tokens.invalidate(token);
    const fresh = await partnerToken(call.signal);
    return expectOk(call.endpoint, await attempt(call, fresh));
  }

  /**
   * The shared token. A caller that stops waiting for it (abort, shutdown) gets the same
   * classified error as an aborted request, never a raw AbortError.
   */
  async function partnerToken(signal: AbortSignal | undefined): Promise<string> {
    try {
      return await tokens.get(signal);
    } catch (error) {
      throw isWorkerError(error) ? error : classifyFailure('token', error);
    }
  }

  function expectOk(endpoint: EsignEndpoint, response: EsignResponse): EsignResponse {
    if (response.status >= 200 && response.status < 300) return response;
    throw failureFor(http, endpoint, response);
  }

  return {
    async createSubmission(user, signal) {
      const response = await callApi({
        endpoint: 'create_submission',
        method: 'GET',
        path: paths.createSubmission,
        user,
        onboardingPartner: true,
        signal,
      });
      const { data } = parseResponse('create_submission', createSubmissionResponseSchema, response);
      const receivedAt = now();
      const document = (d: (typeof data.documents)['KTP']) => ({
        url: d.documentUrl,
        reference: d.documentReference,
        expiresAt: receivedAt + d.expiryInSeconds * 1000,
      });
      const created: CreatedSubmission = {
        submissionId: data.submissionId,
        status: data.status,
        documents: { KTP: document(data.documents.KTP), SELFIE: document(data.documents.SELFIE) },
      };
      return created;
    },

    async uploadDocument(url: string, upload: UploadBody, signal?: AbortSignal) {
      const headers: Record<string, string> = { 'content-type': upload.contentType };
      if (upload.contentLength !== undefined)
        headers['content-length'] = String(upload.contentLength);
      let response: EsignResponse;
      try {
        response = await sendRequest(http, {
          endpoint: 'upload',
          method: 'PUT',
          url,
          headers,
          body: upload.body,
          timeoutMs: config.UPLOAD_TIMEOUT_MS,
          signal,
        });
      } catch (error) {
        // A body stream that failed with its own classified error (an image found invalid,
        // a file changing size, a source timing out) ended the upload: that is the cause,
        // not the network, so it keeps its code and retryability.
        const bodyError = upload.body instanceof Readable ? upload.body.errored : null;
        if (isWorkerError(bodyError)) throw bodyError;
        throw error;
      }
      if (response.status !== 200 && response.status !== 204)
        throw failureFor(http, 'upload', response);
    },

    async confirmUpload(
      user: PartnerUser,
      submissionId: string,
      metadata: ConfirmMetadata,
      signal?: AbortSignal,
    ) {
      const body = serialiseConfirmBody(submissionId, metadata, config.ESIGN_NIK_JSON_TYPE);
      const response = await callApi({
        endpoint: 'confirm',
        method: 'PUT',
        path: paths.confirm,
        user,
        onboardingPartner: true,
        body,
        signal,
      });
      const { data } = parseResponse('confirm', confirmResponseSchema, response);
      return { submissionId: data.submissionId };
    },

    async getSubmission(user, signal) {
      const response = await callApi({
        endpoint: 'get_submission',
        method: 'GET',
        path: paths.getSubmission,
        user,
        onboardingPartner: false,
        signal,
      });
      return parseResponse('get_submission', pollResponseSchema, response).data;
    },

    async close() {
      // Graceful: let requests in flight finish; a shutdown has already cancelled its jobs,
      // so anything still open after a few seconds is abandoned, not awaited.
      const closing = agent.close();
      const timer = new Promise<'late'>((resolve) =>
        setTimeout(resolve, CLOSE_GRACE_MS, 'late').unref(),
      );
      if ((await Promise.race([closing, timer])) === 'late') await agent.destroy();
    },
  };
}

/** `base` may carry a path prefix (e.g. behind a gateway); keep it. */
function joinUrl(base: string, path: string): string {
  return base.replace(/\/+$/, '') + path;
}
