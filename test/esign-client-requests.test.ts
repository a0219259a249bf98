import type { IncomingHttpHeaders } from 'node:http';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { WorkerError } from '../src/lib/errors.ts';
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
 * What the client puts on the wire, per endpoint, against a node:http server this file
 * controls: headers, paths, upload bytes, and what never leaves it (secrets in logs/errors).
 */

describe('Esign client requests over real HTTP', () => {
  let h: FakePartner;

  beforeEach(async () => {
    h = await startFakePartner();
  });

  afterEach(async () => {
    await h.close();
  });

  it('creates a submission with numbers-as-strings and extra fields accepted', async () => {
    h.handler = (_s, res) => json(res, 200, submissionBody);
    const before = Date.now();
    const created = await h.client.createSubmission(user);
    expect(created.submissionId).toBe('sub-1');
    expect(created.documents.KTP.url).toBe('http://storage/ktp?sig=x');
    expect(created.documents.SELFIE.reference).toBe('b_SELFIE');
    expect(created.documents.KTP.expiresAt).toBeGreaterThanOrEqual(before + 432_000_000);
    expect(h.api()[0]?.path).toBe('/esign-partner/v1/submissions/urls?submissionType=CERT_REG');
    expect(await h.counted('create_submission', '2xx')).toBe(1);
    expect(await h.counted('token', '2xx')).toBe(1);
    expect((await h.metrics.tokenFetches.get()).values).toEqual([
      expect.objectContaining({ labels: { outcome: 'success' }, value: 1 }),
    ]);
  });

  it('sends exactly the documented headers per endpoint and a fresh session id per call', async () => {
    h.handler = (s, res) => {
      if (s.path === '/esign-partner/v1/submissions')
        json(res, 200, { success: true, data: { submissionId: 'sub-1', status: 'IN_PROGRESS' } });
      else if (s.method === 'PUT')
        json(res, 200, { success: true, data: { submissionId: 'sub-1' } });
      else json(res, 200, submissionBody);
    };
    await h.client.createSubmission(user);
    await h.client.confirmUpload(user, 'sub-1', {
      userDetails: {
        name: 'N',
        nik: '9471020101900001',
        dateOfBirth: '01-01-1990',
        dataVerification: {},
      },
      consentData: [],
    });
    await h.client.getSubmission(user);

    const esignNames = (h: IncomingHttpHeaders) =>
      Object.keys(h)
        .filter((k) => !['host', 'connection', 'content-length'].includes(k))
        .sort();
    const token = h.seen.find((s) => s.path.startsWith('/tokenhost/'));
    expect(token?.path).toBe('/tokenhost/v1/esign/partner/authentication');
    expect(esignNames(token!.headers)).toEqual(['client-id', 'pass-key']);
    expect(token?.headers['client-id']).toBe('client-id-value');

    const [create, confirm, poll] = h.api();
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
    const sessions = h.api().map((s) => s.headers['x-partner-session-id']);
    expect(new Set(sessions).size).toBe(3);
    expect(h.tokensIssued).toBe(1);
  });

  it('uploads raw bytes with only Content-Type and Content-Length; 200 and 204 succeed', async () => {
    const bytes = new Uint8Array([0xff, 0xd8, 0xff, 1, 2, 3]);
    h.handler = (_s, res) => {
      res.writeHead(204);
      res.end();
    };
    await h.client.uploadDocument(`${h.base}/bucket/CERT_REG/a_KTP?X-Amz-Signature=abc`, {
      body: bytes,
      contentType: 'image/jpeg',
      contentLength: bytes.length,
    });
    h.handler = (_s, res) => {
      res.writeHead(200);
      res.end();
    };
    await h.client.uploadDocument(`${h.base}/bucket/CERT_REG/b_SELFIE?X-Amz-Signature=def`, {
      body: bytes,
      contentType: 'image/png',
    });
    const [ktp, selfie] = h.seen;
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
    expect(h.tokensIssued).toBe(0);
    expect(await h.counted('upload', '2xx')).toBe(2);
  });

  it('maps a storage 403 to UPLOAD_URL_EXPIRED without the signed URL in the message', async () => {
    h.handler = (_s, res) => {
      res.writeHead(403, { 'content-type': 'application/xml' });
      res.end('<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>');
    };
    const url = `${h.base}/bucket/CERT_REG/a_KTP?X-Amz-Signature=topsecret`;
    const error = await failure(
      h.client.uploadDocument(url, { body: new Uint8Array([1]), contentType: 'image/jpeg' }),
    );
    expect(error.code).toBe('UPLOAD_URL_EXPIRED');
    expect(error.retryable).toBe(false);
    expect(error.message).not.toContain('topsecret');
    expect(error.message).not.toContain(h.base);

    h.handler = (_s, res) => json(res, 503, {});
    const retryableError = await failure(
      h.client.uploadDocument(url, { body: new Uint8Array([1]), contentType: 'image/jpeg' }),
    );
    expect(retryableError.code).toBe('ESIGN_SERVER_ERROR');
    expect(retryableError.retryable).toBe(true);
  });

  it('never logs or reports the token, credentials, user id or signed URLs', async () => {
    const errors: WorkerError[] = [];
    let rejections = 1;
    h.handler = (_s, res) => {
      if (rejections-- > 0)
        json(res, 401, { success: false, errors: [{ code: '110', cause: 'UNAUTHORIZED' }] });
      else json(res, 200, submissionBody);
    };
    await h.client.createSubmission(user);
    h.handler = (_s, res) => json(res, 401, { success: false, errors: [] });
    errors.push(await failure(h.client.createSubmission(user)));
    h.handler = (_s, res) => {
      res.writeHead(403);
      res.end();
    };
    errors.push(
      await failure(
        h.client.uploadDocument(`${h.base}/b/k_KTP?X-Amz-Signature=sig-secret`, {
          body: new Uint8Array([1]),
          contentType: 'image/jpeg',
        }),
      ),
    );
    h.handler = (_s, res) =>
      json(res, 200, { success: true, data: { submissionId: 'user-12345', status: 42 } });
    errors.push(await failure(h.client.getSubmission(user)));

    expect(h.logged.length).toBeGreaterThan(0);
    const text = [...h.logged, ...errors.map((e) => JSON.stringify(e) + e.message)].join('\n');
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
