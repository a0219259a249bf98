import { createHash } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { WorkerError } from '../src/lib/errors.ts';
import { createSubmissionResponseSchema } from '../src/lib/esign/schemas.ts';
import { sandboxTokenPrefix } from '../sandbox/token.ts';
import {
  failure,
  startClientHarness,
  user,
  type ClientHarness,
} from './support/esign-client-harness.ts';
import { confirmMetadata } from './support/requests.ts';
import { credentials, jpeg, png } from './support/sandbox-kit.ts';

/**
 * What the client puts on the wire, per endpoint, as the sandbox received it (its request log
 * keeps header names, never secret values): headers, paths, upload bytes, and what never leaves
 * it (secrets in logs/errors).
 */

describe('Esign client requests over real HTTP', () => {
  let h: ClientHarness;

  beforeEach(async () => {
    h = await startClientHarness();
  });

  afterEach(async () => {
    await h.close();
  });

  it('creates a submission with numbers-as-strings and extra fields accepted', async () => {
    h.sandbox.setFaults({ extraFields: true });
    const before = Date.now();
    const created = await h.client.createSubmission(user);
    const [made] = h.sandbox.inspect().submissions;
    expect(created.submissionId).toBe(made?.submissionId);
    expect(
      created.documents.KTP.url.startsWith(
        `${h.sandbox.url}/storage/CERT_REG/${made?.documents.KTP.reference}?X-Amz-`,
      ),
    ).toBe(true);
    expect(created.documents.SELFIE.reference).toBe(made?.documents.SELFIE.reference);
    expect(created.documents.KTP.expiresAt).toBeGreaterThanOrEqual(before + 432_000_000);
    expect(h.requests('create_submission')[0]?.path).toBe(
      '/esign-partner/v1/submissions/urls?submissionType=CERT_REG',
    );
    expect(await h.counted('create_submission', '2xx')).toBe(1);
    expect(await h.counted('token', '2xx')).toBe(1);
    expect((await h.metrics.tokenFetches.get()).values).toEqual([
      expect.objectContaining({ labels: { outcome: 'success' }, value: 1 }),
    ]);
  });

  it('reads a lifetime sent as a JSON number as well as a string', () => {
    const document = (expiryInSeconds: unknown) => ({
      documentUrl: 'https://storage.example/CERT_REG/a_KTP?X-Amz-Signature=x',
      documentReference: 'a_KTP',
      expiryInSeconds,
    });
    const parsed = createSubmissionResponseSchema.parse({
      success: true,
      data: {
        submissionId: 'sub-1',
        status: 'INITIATED',
        documents: { KTP: document('432000'), SELFIE: document(432000) },
      },
    });
    expect(parsed.data.documents.KTP.expiryInSeconds).toBe(432_000);
    expect(parsed.data.documents.SELFIE.expiryInSeconds).toBe(432_000);
  });

  it('sends exactly the documented headers per endpoint and a fresh session id per call', async () => {
    const created = await h.client.createSubmission(user);
    await h.client.uploadDocument(created.documents.KTP.url, {
      body: jpeg,
      contentType: 'image/jpeg',
    });
    await h.client.uploadDocument(created.documents.SELFIE.url, {
      body: png,
      contentType: 'image/png',
    });
    await h.client.confirmUpload(user, created.submissionId, confirmMetadata('9471020101900001'));
    await h.client.getSubmission(user);

    const esignNames = (names: string[]) =>
      names.filter((k) => !['host', 'connection', 'content-length'].includes(k)).sort();
    const [token] = h.requests('token');
    expect(token?.path).toBe('/v1/esign/partner/authentication');
    expect(esignNames(token?.headers ?? [])).toEqual(['client-id', 'pass-key']);
    // The sandbox answers 200 only to its own client-id and pass-key.
    expect(token?.status).toBe(200);

    const [create] = h.requests('create_submission');
    const [confirm] = h.requests('confirm');
    const [poll] = h.requests('get_submission');
    const common = [
      'x-onekyc-token',
      'x-partner-session-id',
      'x-partner-user-id',
      'x-partner-user-id-type',
    ];
    expect(esignNames(create?.headers ?? [])).toEqual(
      [...common, 'x-esign-onboarding-partner'].sort(),
    );
    expect(esignNames(confirm?.headers ?? [])).toEqual(
      [...common, 'content-type', 'x-esign-onboarding-partner'].sort(),
    );
    expect(confirm?.contentType).toBe('application/json');
    const [made] = h.sandbox.inspect().submissions;
    expect(made?.nikRaw).toBe('9471020101900001');
    expect(made?.nikJsonType).toBe('number');
    expect(esignNames(poll?.headers ?? [])).toEqual(common.slice().sort());
    expect(create?.token).toBe(1);
    // 200 needs the onboarding partner the sandbox was given (403 otherwise).
    expect([create?.status, confirm?.status, poll?.status]).toEqual([200, 200, 200]);
    expect(made?.userId).toBe('user-12345');
    expect(made?.userIdType).toBe('CLIENT_X_USER_ID');
    const sessions = [create, confirm, poll].map((r) => r?.sessionId);
    expect(new Set(sessions).size).toBe(3);
    expect(h.sandbox.inspect().tokensIssued).toBe(1);
  });

  it('uploads raw bytes with only Content-Type and Content-Length; 200 and 204 succeed', async () => {
    const created = await h.client.createSubmission(user);
    const tokensBefore = h.sandbox.inspect().tokensIssued;
    const bytes = new Uint8Array([0xff, 0xd8, 0xff, 1, 2, 3]);
    h.sandbox.setFaults({ uploadStatus: 204 });
    await h.client.uploadDocument(created.documents.KTP.url, {
      body: bytes,
      contentType: 'image/jpeg',
      contentLength: bytes.length,
    });
    h.sandbox.setFaults({ uploadStatus: 200 });
    await h.client.uploadDocument(created.documents.SELFIE.url, {
      body: bytes,
      contentType: 'image/png',
    });
    const [ktp, selfie] = h.requests('upload');
    expect(h.sandbox.inspect().calls.upload).toEqual({ '204': 1, '200': 1 });
    expect(ktp?.method).toBe('PUT');
    const signed = new URL(created.documents.KTP.url);
    expect(ktp?.path).toBe(`${signed.pathname}${signed.search}`);
    const [made] = h.sandbox.inspect().submissions;
    expect(made?.documents.KTP.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
    expect(ktp?.headers).toEqual(['connection', 'content-length', 'content-type', 'host']);
    expect(ktp?.contentType).toBe('image/jpeg');
    expect(ktp?.contentLength).toBe('6');
    expect(selfie?.contentType).toBe('image/png');
    expect(
      (selfie?.headers ?? []).filter(
        (k) => k.startsWith('x-') || k.includes('-id') || k === 'pass-key',
      ),
    ).toEqual([]);
    expect(h.sandbox.inspect().leaks).toEqual([]);
    expect(h.sandbox.inspect().tokensIssued).toBe(tokensBefore);
    expect(await h.counted('upload', '2xx')).toBe(2);
  });

  it('maps a storage 403 to UPLOAD_URL_EXPIRED without the signed URL in the message', async () => {
    h.sandbox.setFaults({ expireUrlsNext: 1 });
    const created = await h.client.createSubmission(user);
    const url = created.documents.KTP.url;
    const signature = new URL(url).searchParams.get('X-Amz-Signature') ?? '';
    expect(signature).not.toBe('');
    const error = await failure(
      h.client.uploadDocument(url, { body: jpeg, contentType: 'image/jpeg' }),
    );
    expect(error.code).toBe('UPLOAD_URL_EXPIRED');
    expect(error.retryable).toBe(false);
    expect(error.message).not.toContain(signature);
    expect(error.message).not.toContain(h.sandbox.url);

    h.sandbox.setFaults({ failNext: { upload: 1 }, failStatus: 503 });
    const retryableError = await failure(
      h.client.uploadDocument(url, { body: jpeg, contentType: 'image/jpeg' }),
    );
    expect(retryableError.code).toBe('ESIGN_SERVER_ERROR');
    expect(retryableError.retryable).toBe(true);
  });

  it('never logs or reports the token, credentials, user id or signed URLs', async () => {
    const errors: WorkerError[] = [];
    // A 401, then a renewed token that works.
    await h.client.createSubmission(user);
    h.sandbox.revokeTokens();
    await h.client.createSubmission(user);
    // A 401 twice: permanent.
    h.sandbox.setFaults({ tokenTtlSeconds: 0 });
    h.sandbox.revokeTokens();
    errors.push(await failure(h.client.createSubmission(user)));
    h.sandbox.setFaults({ tokenTtlSeconds: null, expireUrlsNext: 1 });
    // A storage 403 on a signed URL.
    const created = await h.client.createSubmission(user);
    const signature = new URL(created.documents.KTP.url).searchParams.get('X-Amz-Signature');
    errors.push(
      await failure(
        h.client.uploadDocument(created.documents.KTP.url, {
          body: jpeg,
          contentType: 'image/jpeg',
        }),
      ),
    );
    // A malformed poll answer: it carries the user id and the submission id.
    h.sandbox.setFaults({ malformNext: { get_submission: 1 } });
    errors.push(await failure(h.client.getSubmission(user)));
    expect(errors.map((e) => e.code)).toEqual([
      'ESIGN_UNAUTHORIZED',
      'UPLOAD_URL_EXPIRED',
      'ESIGN_BAD_RESPONSE',
    ]);

    expect(h.logged.length).toBeGreaterThan(0);
    const text = [...h.logged, ...errors.map((e) => JSON.stringify(e) + e.message)].join('\n');
    for (const secret of [
      sandboxTokenPrefix,
      credentials.clientId,
      credentials.passKey,
      'user-12345',
      signature ?? 'no signature',
      created.submissionId,
    ])
      expect(text).not.toContain(secret);
  });
});
