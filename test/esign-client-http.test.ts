import { once } from 'node:events';
import {
  createServer,
  type IncomingHttpHeaders,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { EsignConfig } from '../src/lib/config.ts';
import { isWorkerError, type WorkerError } from '../src/lib/errors.ts';
import { parseRetryAfter } from '../src/lib/esign/classify.ts';
import { createEsignClient } from '../src/lib/esign/client.ts';
import type { EsignClient, PartnerUser } from '../src/lib/esign/types.ts';
import { createLogger, type Logger } from '../src/lib/logger.ts';
import { Metrics } from '../src/lib/metrics.ts';
import { cleanPrefix, connect, uniquePrefix } from './support/redis.ts';

/**
 * The client against a tiny node:http server this file controls: every status class, bad
 * bodies, silence and a closed port, checked for how they are classified and counted.
 */

interface Seen {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  raw: Buffer;
}
type Handler = (seen: Seen, res: ServerResponse) => void;

const user: PartnerUser = { userId: 'user-12345', userIdType: 'CLIENT_X_USER_ID' };
const secretToken = 'eyJ-secret-token-value';

function json(res: ServerResponse, status: number, body: unknown, headers = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

const tokenBody = (token: string) => ({
  success: true,
  data: {
    token,
    expiry_seconds: '1800',
    expires_at: String(Math.floor(Date.now() / 1000) + 1800),
  },
});

const submissionBody = {
  success: true,
  data: {
    submissionId: 'sub-1',
    status: 'INITIATED',
    extraField: 'ignored',
    documents: {
      KTP: {
        documentUrl: 'http://storage/ktp?sig=x',
        documentReference: 'a_KTP',
        expiryInSeconds: '432000',
      },
      SELFIE: {
        documentUrl: 'http://storage/s?sig=y',
        documentReference: 'b_SELFIE',
        expiryInSeconds: 432000,
      },
    },
  },
};

describe('Esign client over real HTTP (classification, headers, metrics)', () => {
  let server: Server;
  let base: string;
  let seen: Seen[];
  let handler: Handler;
  let tokensIssued: number;
  let prefix: string;
  let redis: Redis;
  let metrics: Metrics;
  let client: EsignClient;
  let logged: string[];
  let logger: Logger;

  function config(overrides: Partial<EsignConfig> = {}): EsignConfig {
    return {
      ESIGN_TOKEN_URL: `${base}/tokenhost`,
      ESIGN_API_URL: base,
      ESIGN_CLIENT_ID: 'client-id-value',
      ESIGN_PASS_KEY: 'pass-key-value',
      ESIGN_ONBOARDING_PARTNER: 'CLIENT_X-BE-CERT_REG',
      ESIGN_PARTNER_USER_ID_TYPE: 'CLIENT_X_USER_ID',
      ESIGN_NIK_JSON_TYPE: 'number',
      ESIGN_CONNECT_TIMEOUT_MS: 1_000,
      ESIGN_REQUEST_TIMEOUT_MS: 2_000,
      UPLOAD_TIMEOUT_MS: 2_000,
      TOKEN_REFRESH_MARGIN_SECONDS: 300,
      ...overrides,
    };
  }

  function newClient(overrides: Partial<EsignConfig> = {}): EsignClient {
    return createEsignClient({
      config: config(overrides),
      redis,
      keyPrefix: prefix,
      logger,
      metrics,
    });
  }

  beforeEach(async () => {
    seen = [];
    tokensIssued = 0;
    handler = (_seen, res) => json(res, 500, {});
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const entry = {
          method: req.method ?? '',
          path: req.url ?? '',
          headers: req.headers,
          body: Buffer.concat(chunks).toString('utf8'),
          raw: Buffer.concat(chunks),
        };
        seen.push(entry);
        if (entry.path.startsWith('/tokenhost/')) {
          tokensIssued += 1;
          json(res, 200, tokenBody(`${secretToken}-${tokensIssued}`));
        } else handler(entry, res);
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    prefix = uniquePrefix('client-http');
    redis = connect();
    metrics = new Metrics({ defaultMetrics: false });
    logged = [];
    logger = createLogger({
      level: 'trace',
      destination: { write: (line: string) => logged.push(line) },
    });
    client = newClient();
  });

  afterEach(async () => {
    await client.close();
    server.closeAllConnections();
    server.close();
    await cleanPrefix(redis, prefix);
    redis.disconnect();
  });

  async function failure(promise: Promise<unknown>): Promise<WorkerError> {
    const error = await promise.then(
      () => undefined,
      (e: unknown) => e,
    );
    if (!isWorkerError(error)) throw new Error(`expected a WorkerError, got ${String(error)}`);
    return error;
  }

  async function counted(endpoint: string, statusClass: string): Promise<number> {
    const values = (await metrics.esignRequests.get()).values;
    return (
      values.find((v) => v.labels.endpoint === endpoint && v.labels.status_class === statusClass)
        ?.value ?? 0
    );
  }

  const api = () => seen.filter((s) => !s.path.startsWith('/tokenhost/'));

  it('creates a submission with numbers-as-strings and extra fields accepted', async () => {
    handler = (_s, res) => json(res, 200, submissionBody);
    const before = Date.now();
    const created = await client.createSubmission(user);
    expect(created.submissionId).toBe('sub-1');
    expect(created.documents.KTP.url).toBe('http://storage/ktp?sig=x');
    expect(created.documents.SELFIE.reference).toBe('b_SELFIE');
    expect(created.documents.KTP.expiresAt).toBeGreaterThanOrEqual(before + 432_000_000);
    expect(api()[0]?.path).toBe('/esign-partner/v1/submissions/urls?submissionType=CERT_REG');
    expect(await counted('create_submission', '2xx')).toBe(1);
    expect(await counted('token', '2xx')).toBe(1);
    expect((await metrics.tokenFetches.get()).values).toEqual([
      expect.objectContaining({ labels: { outcome: 'success' }, value: 1 }),
    ]);
  });

  it('sends exactly the documented headers per endpoint and a fresh session id per call', async () => {
    handler = (s, res) => {
      if (s.path === '/esign-partner/v1/submissions')
        json(res, 200, { success: true, data: { submissionId: 'sub-1', status: 'IN_PROGRESS' } });
      else if (s.method === 'PUT')
        json(res, 200, { success: true, data: { submissionId: 'sub-1' } });
      else json(res, 200, submissionBody);
    };
    await client.createSubmission(user);
    await client.confirmUpload(user, 'sub-1', {
      userDetails: {
        name: 'N',
        nik: '9471020101900001',
        dateOfBirth: '01-01-1990',
        dataVerification: {},
      },
      consentData: [],
    });
    await client.getSubmission(user);

    const esignNames = (h: IncomingHttpHeaders) =>
      Object.keys(h)
        .filter((k) => !['host', 'connection', 'content-length'].includes(k))
        .sort();
    const token = seen.find((s) => s.path.startsWith('/tokenhost/'));
    expect(token?.path).toBe('/tokenhost/v1/esign/partner/authentication');
    expect(esignNames(token!.headers)).toEqual(['client-id', 'pass-key']);
    expect(token?.headers['client-id']).toBe('client-id-value');

    const [create, confirm, poll] = api();
    const common = [
      'x-onekyc-token',
      'x-partner-session-id',
      'x-partner-user-id',
      'x-partner-user-id-type',
    ];
    expect(esignNames(create!.headers)).toEqual([...common, 'x-esign-onboarding-partner'].sort());
    expect(esignNames(confirm!.headers)).toEqual(
      [...common, 'content-type', 'x-esign-onboarding-partner'].sort(),
    );
    expect(confirm?.headers['content-type']).toBe('application/json');
    expect(confirm?.body).toContain('"nik":9471020101900001');
    expect(esignNames(poll!.headers)).toEqual(common.slice().sort());
    expect(create?.headers['x-onekyc-token']).toBe(`${secretToken}-1`);
    expect(create?.headers['x-esign-onboarding-partner']).toBe('CLIENT_X-BE-CERT_REG');
    expect(create?.headers['x-partner-user-id']).toBe('user-12345');
    expect(create?.headers['x-partner-user-id-type']).toBe('CLIENT_X_USER_ID');
    const sessions = api().map((s) => s.headers['x-partner-session-id']);
    expect(new Set(sessions).size).toBe(3);
    expect(tokensIssued).toBe(1);
  });

  it.each([
    [500, 'ESIGN_SERVER_ERROR', true],
    [503, 'ESIGN_SERVER_ERROR', true],
    [408, 'ESIGN_SERVER_ERROR', true],
    [400, 'ESIGN_REJECTED', false],
    [403, 'ESIGN_REJECTED', false],
    [404, 'ESIGN_REJECTED', false],
  ] as const)(
    'classifies %i as %s (retryable: %s) and keeps the Esign envelope',
    async (status, code, retry) => {
      handler = (_s, res) =>
        json(res, status, {
          success: false,
          errors: [{ code: '900', cause: 'GENERIC_SERVICE_ERROR' }],
        });
      const error = await failure(client.getSubmission(user));
      expect(error.code).toBe(code);
      expect(error.retryable).toBe(retry);
      expect(error.httpStatus).toBe(status);
      expect(error.esignErrors).toEqual([{ code: '900', cause: 'GENERIC_SERVICE_ERROR' }]);
      expect(error.message).toBe(
        `Esign get_submission answered ${status} (900 GENERIC_SERVICE_ERROR)`,
      );
      expect(await counted('get_submission', status >= 500 ? '5xx' : '4xx')).toBe(1);
    },
  );

  it('classifies 429 as rate limited with Retry-After in seconds', async () => {
    handler = (_s, res) => json(res, 429, { success: false, errors: [] }, { 'retry-after': '7' });
    const error = await failure(client.createSubmission(user));
    expect(error.code).toBe('ESIGN_RATE_LIMITED');
    expect(error.retryable).toBe(true);
    expect(error.retryAfterMs).toBe(7_000);
  });

  it('reads Retry-After as an HTTP date too, and ignores garbage', () => {
    const now = Date.parse('2026-05-08T10:30:00Z');
    expect(parseRetryAfter('Fri, 08 May 2026 10:30:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter('Fri, 08 May 2026 10:29:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
  });

  it('retries a 401 once with a fresh token, then gives up permanently', async () => {
    let rejections = 1;
    handler = (_s, res) => {
      if (rejections-- > 0)
        json(res, 401, { success: false, errors: [{ code: '110', cause: 'UNAUTHORIZED' }] });
      else json(res, 200, submissionBody);
    };
    await client.createSubmission(user);
    const [first, retry] = api();
    expect(first?.headers['x-onekyc-token']).toBe(`${secretToken}-1`);
    expect(retry?.headers['x-onekyc-token']).toBe(`${secretToken}-2`);
    expect(retry?.headers['x-partner-session-id']).not.toBe(first?.headers['x-partner-session-id']);

    handler = (_s, res) =>
      json(res, 401, { success: false, errors: [{ code: '110', cause: 'UNAUTHORIZED' }] });
    seen = [];
    const error = await failure(client.createSubmission(user));
    expect(error.code).toBe('ESIGN_UNAUTHORIZED');
    expect(error.retryable).toBe(false);
    expect(api()).toHaveLength(2);
    expect(error.message).not.toContain(secretToken);
  });

  it('rejects a malformed 2xx body naming the field, never its value', async () => {
    handler = (_s, res) =>
      json(res, 200, {
        success: true,
        data: {
          ...submissionBody.data,
          submissionId: 12345,
          documents: { KTP: { documentUrl: 'secret-url-value' } },
        },
      });
    const error = await failure(client.createSubmission(user));
    expect(error.code).toBe('ESIGN_BAD_RESPONSE');
    expect(error.retryable).toBe(false);
    expect(error.message).toContain('data.submissionId');
    expect(error.message).toContain('data.documents.KTP.documentUrl');
    expect(error.message).not.toContain('12345');
    expect(error.message).not.toContain('secret-url-value');

    handler = (_s, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"success": tru');
    };
    expect((await failure(client.getSubmission(user))).code).toBe('ESIGN_BAD_RESPONSE');
  });

  it('times out a server that never answers (retryable, counted as timeout)', async () => {
    await client.close();
    client = newClient({ ESIGN_REQUEST_TIMEOUT_MS: 300 });
    handler = () => {}; // never answers
    const error = await failure(client.getSubmission(user));
    expect(error.code).toBe('ESIGN_TIMEOUT');
    expect(error.retryable).toBe(true);
    expect(await counted('get_submission', 'timeout')).toBe(1);
  });

  it('reports a closed port as a retryable network error', async () => {
    const closed = createServer();
    closed.listen(0, '127.0.0.1');
    await once(closed, 'listening');
    const port = (closed.address() as AddressInfo).port;
    closed.close();
    await once(closed, 'close');
    await client.close();
    client = newClient({ ESIGN_TOKEN_URL: `http://127.0.0.1:${port}` });
    const error = await failure(client.getSubmission(user));
    expect(error.code).toBe('ESIGN_NETWORK');
    expect(error.retryable).toBe(true);
    expect(await counted('token', 'network')).toBe(1);
    expect((await metrics.tokenFetches.get()).values).toEqual([
      expect.objectContaining({ labels: { outcome: 'failure' }, value: 1 }),
    ]);
  });

  it('keeps working after large error bodies (every body consumed or destroyed)', async () => {
    const big = 'x'.repeat(2 * 1024 * 1024);
    handler = (_s, res) => {
      res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(big);
    };
    for (let i = 0; i < 5; i++)
      expect((await failure(client.getSubmission(user))).code).toBe('ESIGN_SERVER_ERROR');
    handler = (_s, res) =>
      json(res, 200, { success: true, data: { submissionId: 's', status: 'COMPLETED' } });
    expect((await client.getSubmission(user)).status).toBe('COMPLETED');
  });

  it('uploads raw bytes with only Content-Type and Content-Length; 200 and 204 succeed', async () => {
    const bytes = new Uint8Array([0xff, 0xd8, 0xff, 1, 2, 3]);
    handler = (_s, res) => {
      res.writeHead(204);
      res.end();
    };
    await client.uploadDocument(`${base}/bucket/CERT_REG/a_KTP?X-Amz-Signature=abc`, {
      body: bytes,
      contentType: 'image/jpeg',
      contentLength: bytes.length,
    });
    handler = (_s, res) => {
      res.writeHead(200);
      res.end();
    };
    await client.uploadDocument(`${base}/bucket/CERT_REG/b_SELFIE?X-Amz-Signature=def`, {
      body: bytes,
      contentType: 'image/png',
    });
    const [ktp, selfie] = seen;
    expect(ktp?.method).toBe('PUT');
    expect(ktp?.path).toBe('/bucket/CERT_REG/a_KTP?X-Amz-Signature=abc');
    expect(new Uint8Array(ktp!.raw)).toEqual(bytes);
    expect(Object.keys(ktp!.headers).sort()).toEqual([
      'connection',
      'content-length',
      'content-type',
      'host',
    ]);
    expect(ktp?.headers['content-type']).toBe('image/jpeg');
    expect(ktp?.headers['content-length']).toBe('6');
    expect(selfie?.headers['content-type']).toBe('image/png');
    expect(
      Object.keys(selfie!.headers).filter(
        (k) => k.startsWith('x-') || k.includes('-id') || k === 'pass-key',
      ),
    ).toEqual([]);
    expect(tokensIssued).toBe(0);
    expect(await counted('upload', '2xx')).toBe(2);
  });

  it('maps a storage 403 to UPLOAD_URL_EXPIRED without the signed URL in the message', async () => {
    handler = (_s, res) => {
      res.writeHead(403, { 'content-type': 'application/xml' });
      res.end('<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>');
    };
    const url = `${base}/bucket/CERT_REG/a_KTP?X-Amz-Signature=topsecret`;
    const error = await failure(
      client.uploadDocument(url, { body: new Uint8Array([1]), contentType: 'image/jpeg' }),
    );
    expect(error.code).toBe('UPLOAD_URL_EXPIRED');
    expect(error.retryable).toBe(false);
    expect(error.message).not.toContain('topsecret');
    expect(error.message).not.toContain(base);

    handler = (_s, res) => json(res, 503, {});
    const retryableError = await failure(
      client.uploadDocument(url, { body: new Uint8Array([1]), contentType: 'image/jpeg' }),
    );
    expect(retryableError.code).toBe('ESIGN_SERVER_ERROR');
    expect(retryableError.retryable).toBe(true);
  });

  it('passes the caller’s abort signal through', async () => {
    handler = () => {}; // never answers; only the signal can end the call
    const controller = new AbortController();
    const pending = failure(client.getSubmission(user, controller.signal));
    await new Promise((resolve) => setTimeout(resolve, 100));
    controller.abort();
    const error = await pending;
    expect(error.retryable).toBe(true);
    expect(error.code).toBe('ESIGN_NETWORK');
  });

  it('never logs or reports the token, credentials, user id or signed URLs', async () => {
    const errors: WorkerError[] = [];
    let rejections = 1;
    handler = (_s, res) => {
      if (rejections-- > 0)
        json(res, 401, { success: false, errors: [{ code: '110', cause: 'UNAUTHORIZED' }] });
      else json(res, 200, submissionBody);
    };
    await client.createSubmission(user);
    handler = (_s, res) => json(res, 401, { success: false, errors: [] });
    errors.push(await failure(client.createSubmission(user)));
    handler = (_s, res) => {
      res.writeHead(403);
      res.end();
    };
    errors.push(
      await failure(
        client.uploadDocument(`${base}/b/k_KTP?X-Amz-Signature=sig-secret`, {
          body: new Uint8Array([1]),
          contentType: 'image/jpeg',
        }),
      ),
    );
    handler = (_s, res) =>
      json(res, 200, { success: true, data: { submissionId: 'user-12345', status: 42 } });
    errors.push(await failure(client.getSubmission(user)));

    expect(logged.length).toBeGreaterThan(0);
    const text = [...logged, ...errors.map((e) => JSON.stringify(e) + e.message)].join('\n');
    for (const secret of [
      secretToken,
      'client-id-value',
      'pass-key-value',
      'user-12345',
      'sig-secret',
    ])
      expect(text).not.toContain(secret);
  });
});
