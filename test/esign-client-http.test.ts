import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseRetryAfter } from '../src/lib/esign/classify.ts';
import { sandboxTokenPrefix } from '../sandbox/token.ts';
import {
  failure,
  startClientHarness,
  user,
  type ClientHarness,
} from './support/esign-client-harness.ts';
import { waitFor } from './support/sandbox-kit.ts';

/**
 * How the client classifies and counts failures, against the sandbox over real HTTP, its
 * answers shaped by faults: every status class, bad bodies, silence, a closed port, an
 * aborted call.
 */

describe('Esign client error classification over real HTTP', () => {
  let h: ClientHarness;

  beforeEach(async () => {
    h = await startClientHarness();
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
      h.sandbox.setFaults({ failNext: { get_submission: 1 }, failStatus: status });
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
    h.sandbox.setFaults({ rateLimitNext: { create_submission: 1 }, retryAfterSeconds: 7 });
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
    await h.client.createSubmission(user);
    h.sandbox.revokeTokens();
    const before = h.requests('create_submission').length;
    await h.client.createSubmission(user);
    const [first, retry] = h.requests('create_submission').slice(before);
    expect(first).toMatchObject({ token: 1, status: 401 });
    expect(retry).toMatchObject({ token: 2, status: 200 });
    expect(retry?.sessionId).not.toBe(first?.sessionId);

    // From now on every token is born expired: the renewed one is refused too.
    h.sandbox.setFaults({ tokenTtlSeconds: 0 });
    h.sandbox.revokeTokens();
    const again = h.requests('create_submission').length;
    const error = await failure(h.client.createSubmission(user));
    expect(error.code).toBe('ESIGN_UNAUTHORIZED');
    expect(error.retryable).toBe(false);
    expect(
      h
        .requests('create_submission')
        .slice(again)
        .map((r) => r.status),
    ).toEqual([401, 401]);
    expect(error.message).not.toContain(sandboxTokenPrefix);
  });

  it('rejects a malformed 2xx body naming the field, never its value', async () => {
    h.sandbox.setFaults({ malformNext: { create_submission: 1 } });
    const error = await failure(h.client.createSubmission(user));
    expect(error.code).toBe('ESIGN_BAD_RESPONSE');
    expect(error.retryable).toBe(false);
    expect(error.message).toContain('data.submissionId');
    expect(error.message).toContain('data.documents.KTP.documentUrl');
    // The malformed answer carried the submission id and the signed URLs: none is echoed.
    const [created] = h.sandbox.inspect().submissions;
    expect(created?.submissionId).toBeDefined();
    expect(error.message).not.toContain(created?.submissionId);
    expect(error.message).not.toContain(h.sandbox.url);

    h.sandbox.setFaults({ truncateNext: { get_submission: 1 } });
    expect((await failure(h.client.getSubmission(user))).code).toBe('ESIGN_BAD_RESPONSE');
  });

  it('times out a server that never answers (retryable, counted as timeout)', async () => {
    await h.replaceClient({ ESIGN_REQUEST_TIMEOUT_MS: 300 });
    h.sandbox.setFaults({ hangNext: { get_submission: 1 } });
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
    // A gateway's 2 MiB error page, five times over one connection pool.
    h.sandbox.setFaults({ failNext: { get_submission: 5 }, failBodyBytes: 2 * 1024 * 1024 });
    for (let i = 0; i < 5; i++)
      expect((await failure(h.client.getSubmission(user))).code).toBe('ESIGN_SERVER_ERROR');
    const created = await h.client.createSubmission(user);
    const state = await h.client.getSubmission(user);
    expect(state).toMatchObject({ submissionId: created.submissionId, status: 'INITIATED' });
  });

  it('passes the caller’s abort signal through', async () => {
    h.sandbox.setFaults({ hangNext: { get_submission: 1 } }); // only the signal can end the call
    const controller = new AbortController();
    const pending = failure(h.client.getSubmission(user, controller.signal));
    // Aborted once the call is at the sandbox (not while the token is still being fetched).
    await waitFor('the hanging poll', () => h.sandbox.inspect().calls.get_submission.hang === 1);
    controller.abort();
    const error = await pending;
    expect(error.retryable).toBe(true);
    expect(error.code).toBe('ESIGN_NETWORK');
  });
});
