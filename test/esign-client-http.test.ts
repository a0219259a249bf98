import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseRetryAfter } from '../src/lib/esign/classify.ts';
import {
  failure,
  json,
  startFakePartner,
  submissionBody,
  secretToken,
  user,
  type FakePartner,
} from './support/esign-fake-partner.ts';

/**
 * How the client classifies and counts failures, against a tiny node:http server this file
 * controls: every status class, bad bodies, silence, a closed port, an aborted call.
 */

describe('Esign client error classification over real HTTP', () => {
  let h: FakePartner;

  beforeEach(async () => {
    h = await startFakePartner();
  });

  afterEach(async () => {
    await h.close();
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
      h.handler = (_s, res) =>
        json(res, status, {
          success: false,
          errors: [{ code: '900', cause: 'GENERIC_SERVICE_ERROR' }],
        });
      const error = await failure(h.client.getSubmission(user));
      expect(error.code).toBe(code);
      expect(error.retryable).toBe(retry);
      expect(error.httpStatus).toBe(status);
      expect(error.esignErrors).toEqual([{ code: '900', cause: 'GENERIC_SERVICE_ERROR' }]);
      expect(error.message).toBe(
        `Esign get_submission answered ${status} (900 GENERIC_SERVICE_ERROR)`,
      );
      expect(await h.counted('get_submission', status >= 500 ? '5xx' : '4xx')).toBe(1);
    },
  );

  it('classifies 429 as rate limited with Retry-After in seconds', async () => {
    h.handler = (_s, res) => json(res, 429, { success: false, errors: [] }, { 'retry-after': '7' });
    const error = await failure(h.client.createSubmission(user));
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
    h.handler = (_s, res) => {
      if (rejections-- > 0)
        json(res, 401, { success: false, errors: [{ code: '110', cause: 'UNAUTHORIZED' }] });
      else json(res, 200, submissionBody);
    };
    await h.client.createSubmission(user);
    const [first, retry] = h.api();
    expect(first?.headers['x-onekyc-token']).toBe(`${secretToken}-1`);
    expect(retry?.headers['x-onekyc-token']).toBe(`${secretToken}-2`);
    expect(retry?.headers['x-partner-session-id']).not.toBe(first?.headers['x-partner-session-id']);

    h.handler = (_s, res) =>
      json(res, 401, { success: false, errors: [{ code: '110', cause: 'UNAUTHORIZED' }] });
    h.seen.length = 0;
    const error = await failure(h.client.createSubmission(user));
    expect(error.code).toBe('ESIGN_UNAUTHORIZED');
    expect(error.retryable).toBe(false);
    expect(h.api()).toHaveLength(2);
    expect(error.message).not.toContain(secretToken);
  });

  it('rejects a malformed 2xx body naming the field, never its value', async () => {
    h.handler = (_s, res) =>
      json(res, 200, {
        success: true,
        data: {
          ...submissionBody.data,
          submissionId: 12345,
          documents: { KTP: { documentUrl: 'secret-url-value' } },
        },
      });
    const error = await failure(h.client.createSubmission(user));
    expect(error.code).toBe('ESIGN_BAD_RESPONSE');
    expect(error.retryable).toBe(false);
    expect(error.message).toContain('data.submissionId');
    expect(error.message).toContain('data.documents.KTP.documentUrl');
    expect(error.message).not.toContain('12345');
    expect(error.message).not.toContain('secret-url-value');

    h.handler = (_s, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"success": tru');
    };
    expect((await failure(h.client.getSubmission(user))).code).toBe('ESIGN_BAD_RESPONSE');
  });

  it('times out a server that never answers (retryable, counted as timeout)', async () => {
    await h.replaceClient({ ESIGN_REQUEST_TIMEOUT_MS: 300 });
    h.handler = () => {}; // never answers
    const error = await failure(h.client.getSubmission(user));
    expect(error.code).toBe('ESIGN_TIMEOUT');
    expect(error.retryable).toBe(true);
    expect(await h.counted('get_submission', 'timeout')).toBe(1);
  });

  it('reports a closed port as a retryable network error', async () => {
    const closed = createServer();
    closed.listen(0, '127.0.0.1');
    await once(closed, 'listening');
    const port = (closed.address() as AddressInfo).port;
    closed.close();
    await once(closed, 'close');
    await h.replaceClient({ ESIGN_TOKEN_URL: `http://127.0.0.1:${port}` });
    const error = await failure(h.client.getSubmission(user));
    expect(error.code).toBe('ESIGN_NETWORK');
    expect(error.retryable).toBe(true);
    expect(await h.counted('token', 'network')).toBe(1);
    expect((await h.metrics.tokenFetches.get()).values).toEqual([
      expect.objectContaining({ labels: { outcome: 'failure' }, value: 1 }),
    ]);
  });

  it('keeps working after large error bodies (every body consumed or destroyed)', async () => {
    const big = 'x'.repeat(2 * 1024 * 1024);
    h.handler = (_s, res) => {
      res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(big);
    };
    for (let i = 0; i < 5; i++)
      expect((await failure(h.client.getSubmission(user))).code).toBe('ESIGN_SERVER_ERROR');
    h.handler = (_s, res) =>
      json(res, 200, { success: true, data: { submissionId: 's', status: 'COMPLETED' } });
    expect((await h.client.getSubmission(user)).status).toBe('COMPLETED');
  });

  it('passes the caller’s abort signal through', async () => {
    h.handler = () => {}; // never answers; only the signal can end the call
    const controller = new AbortController();
    const pending = failure(h.client.getSubmission(user, controller.signal));
    await new Promise((resolve) => setTimeout(resolve, 100));
    controller.abort();
    const error = await pending;
    expect(error.retryable).toBe(true);
    expect(error.code).toBe('ESIGN_NETWORK');
  });
});
