import { Readable } from 'node:stream';
import { Agent } from 'undici';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sendRequest, type HttpContext } from '../src/lib/esign/http.ts';
import type { PartnerUser } from '../src/lib/esign/types.ts';
import { syntheticJpeg, syntheticPng } from '../sandbox/synthetic-images.ts';
import { silentLogger } from '../src/lib/logger.ts';
import type { Sandbox } from '../sandbox/index.ts';
import { failure, startClientHarness, type ClientHarness } from './support/esign-client-harness.ts';
import { connect } from './support/redis.ts';
import { confirmMetadata } from './support/requests.ts';
import { credentials as partner } from './support/sandbox-kit.ts';

/** The client against the Esign sandbox (strict about headers, bodies and tokens). */

const papuaNik = '9471020101900001';

describe('Esign client against the sandbox', () => {
  let h: ClientHarness;
  let sandbox: Sandbox;
  let userCounter = 0;

  const newUser = (): PartnerUser => ({
    userId: `it-user-${++userCounter}`,
    userIdType: 'IT_USER_ID',
  });
  const newClient: ClientHarness['newClient'] = (overrides, extra) => h.newClient(overrides, extra);

  beforeEach(async () => {
    h = await startClientHarness();
    sandbox = h.sandbox;
  });

  afterEach(async () => {
    await h.close();
  });

  const statusCount = (endpoint: string, status: string): number =>
    (sandbox.inspect().calls as Record<string, Record<string, number>>)[endpoint]?.[status] ?? 0;

  it('runs the whole flow; the Papua NIK arrives byte-exact; nothing leaks to storage', async () => {
    const client = newClient();
    const user = newUser();
    const created = await client.createSubmission(user);
    expect(created.status).toBe('INITIATED');
    const ktp = syntheticJpeg(1);
    await client.uploadDocument(created.documents.KTP.url, {
      body: Readable.from([ktp]),
      contentType: 'image/jpeg',
      contentLength: ktp.length,
    });
    await client.uploadDocument(created.documents.SELFIE.url, {
      body: syntheticPng(2),
      contentType: 'image/png',
    });
    const confirmed = await client.confirmUpload(
      user,
      created.submissionId,
      confirmMetadata(papuaNik),
    );
    expect(confirmed.submissionId).toBe(created.submissionId);
    const state = await client.getSubmission(user);
    expect(state.submissionId).toBe(created.submissionId);

    const snapshot = sandbox.inspect();
    const submission = snapshot.submissions.find((s) => s.submissionId === created.submissionId);
    expect(submission?.nikRaw).toBe(papuaNik);
    expect(submission?.nikJsonType).toBe('number');
    expect(submission?.uploaded).toEqual({ KTP: true, SELFIE: true });
    expect(submission?.confirmCount).toBe(1);
    expect(snapshot.leaks).toEqual([]);
    expect(snapshot.tokensIssued).toBe(1);
  });

  it('sends the NIK as a JSON string when configured', async () => {
    const client = newClient({ ESIGN_NIK_JSON_TYPE: 'string' });
    const user = newUser();
    const created = await client.createSubmission(user);
    await client.uploadDocument(created.documents.KTP.url, {
      body: syntheticJpeg(3),
      contentType: 'image/jpeg',
    });
    await client.uploadDocument(created.documents.SELFIE.url, {
      body: syntheticJpeg(4),
      contentType: 'image/jpeg',
    });
    await client.confirmUpload(user, created.submissionId, confirmMetadata(papuaNik));
    const submission = sandbox
      .inspect()
      .submissions.find((s) => s.submissionId === created.submissionId);
    expect(submission?.nikRaw).toBe(papuaNik);
    expect(submission?.nikJsonType).toBe('string');
  });

  it('uses a fresh session id on every call', async () => {
    const client = newClient();
    const user = newUser();
    for (let i = 0; i < 3; i++) await client.createSubmission(user);
    await client.getSubmission(user);
    const ids = sandbox.inspect().sessionIds;
    expect(ids).toHaveLength(4);
    expect(new Set(ids).size).toBe(4);
  });

  it('the sandbox refuses each header the client sends when it is missing (so the client sends them)', async () => {
    const agent = new Agent();
    const http: HttpContext = { dispatcher: agent, logger: silentLogger(), now: Date.now };
    const call = (path: string, headers: Record<string, string>) =>
      sendRequest(http, {
        endpoint: 'create_submission',
        method: 'GET',
        url: sandbox.url + path,
        headers,
        timeoutMs: 5_000,
      });
    try {
      const tokenPath = '/v1/esign/partner/authentication';
      expect((await call(tokenPath, { 'client-id': partner.clientId })).status).toBe(400);
      const tokenResponse = await call(tokenPath, {
        'client-id': partner.clientId,
        'pass-key': partner.passKey,
      });
      expect(tokenResponse.status).toBe(200);
      const token = (JSON.parse(tokenResponse.bodyText) as { data: { token: string } }).data.token;

      const full = {
        'x-onekyc-token': token,
        'x-esign-onboarding-partner': partner.onboardingPartner,
        'x-partner-user-id': 'it-user-h',
        'x-partner-user-id-type': 'IT_USER_ID',
        'x-partner-session-id': 'session-1',
      };
      const create = '/esign-partner/v1/submissions/urls?submissionType=CERT_REG';
      expect((await call(create, full)).status).toBe(200);
      for (const name of Object.keys(full)) {
        const without: Record<string, string> = { ...full, 'x-partner-session-id': `s-${name}` };
        delete without[name];
        const response = await call(create, without);
        expect([400, 401], `without ${name}`).toContain(response.status);
      }
      // The poll does not need the onboarding partner, which is why the client leaves it out.
      const pollHeaders: Record<string, string> = { ...full };
      delete pollHeaders['x-esign-onboarding-partner'];
      expect((await call('/esign-partner/v1/submissions', pollHeaders)).status).toBe(200);
    } finally {
      await agent.close();
    }
  });

  it('20 concurrent calls from two clients sharing Redis fetch the token once', async () => {
    const other = connect();
    try {
      const a = newClient();
      const b = newClient({}, { redis: other });
      const user = newUser();
      await Promise.all(
        Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? a : b).createSubmission(user)),
      );
      expect(sandbox.inspect().tokensIssued).toBe(1);
    } finally {
      other.disconnect();
    }
  });

  it('renews the token before it expires, without waiting for a 401', async () => {
    let clock = Date.now();
    const client = newClient({}, { now: () => clock });
    const user = newUser();
    await client.createSubmission(user);
    clock += 24 * 60_000; // 6 of 30 minutes left: keep it
    await client.createSubmission(user);
    expect(sandbox.inspect().tokensIssued).toBe(1);
    clock += 2 * 60_000; // 4 minutes left: inside the 5-minute margin
    await client.createSubmission(user);
    expect(sandbox.inspect().tokensIssued).toBe(2);
    expect(statusCount('create_submission', '401')).toBe(0);
  });

  it('after revokeTokens: 401, a fresh token, one retry that succeeds', async () => {
    const client = newClient();
    const user = newUser();
    await client.createSubmission(user);
    sandbox.revokeTokens();
    const created = await client.createSubmission(user);
    expect(created.submissionId).toBeTruthy();
    expect(sandbox.inspect().tokensIssued).toBe(2);
    expect(statusCount('create_submission', '401')).toBe(1);
    expect(statusCount('create_submission', '200')).toBe(2);
  });

  it('classifies injected 5xx and 429 as retryable', async () => {
    const client = newClient();
    const user = newUser();
    sandbox.setFaults({ failNext: { create_submission: 1 } });
    const serverError = await failure(client.createSubmission(user));
    expect(serverError.code).toBe('ESIGN_SERVER_ERROR');
    expect(serverError.retryable).toBe(true);
    expect(serverError.esignErrors[0]?.code).toBe('900');

    sandbox.setFaults({ rateLimitNext: { confirm: 1 }, retryAfterSeconds: 3 });
    const created = await client.createSubmission(user);
    const limited = await failure(
      client.confirmUpload(user, created.submissionId, confirmMetadata(papuaNik)),
    );
    expect(limited.code).toBe('ESIGN_RATE_LIMITED');
    expect(limited.retryable).toBe(true);
    expect(limited.retryAfterMs).toBe(3_000);
  });

  it('classifies a hanging call as a retryable timeout', async () => {
    const client = newClient({ ESIGN_REQUEST_TIMEOUT_MS: 300 });
    const user = newUser();
    await client.createSubmission(user);
    sandbox.setFaults({ hangNext: { get_submission: 1 } });
    const error = await failure(client.getSubmission(user));
    expect(error.code).toBe('ESIGN_TIMEOUT');
    expect(error.retryable).toBe(true);
  });

  it('classifies other 4xx as permanent, keeping Esign’s code', async () => {
    const client = newClient();
    const notFound = await failure(client.getSubmission(newUser()));
    expect(notFound.code).toBe('ESIGN_REJECTED');
    expect(notFound.retryable).toBe(false);
    expect(notFound.httpStatus).toBe(404);
    expect(notFound.esignErrors.map((e) => e.code)).toContain('1514');

    const wrongPartner = newClient({ ESIGN_ONBOARDING_PARTNER: 'SOMEONE-ELSE' });
    const forbidden = await failure(wrongPartner.createSubmission(newUser()));
    expect(forbidden.code).toBe('ESIGN_REJECTED');
    expect(forbidden.retryable).toBe(false);
  });

  it('reports an expired upload URL as UPLOAD_URL_EXPIRED', async () => {
    const client = newClient();
    sandbox.setFaults({ expireUrlsNext: 1 });
    const created = await client.createSubmission(newUser());
    const error = await failure(
      client.uploadDocument(created.documents.KTP.url, {
        body: syntheticJpeg(5),
        contentType: 'image/jpeg',
      }),
    );
    expect(error.code).toBe('UPLOAD_URL_EXPIRED');
    expect(error.retryable).toBe(false);
    expect(error.message).toContain('(AccessDenied: request has expired)');
    expect(sandbox.inspect().leaks).toEqual([]);
  });

  it('reports a 403 that is not expiry as UPLOAD_FORBIDDEN: a confirmed object, a bad signature', async () => {
    const client = newClient();
    const user = newUser();
    const created = await client.createSubmission(user);
    const image = { body: syntheticJpeg(6), contentType: 'image/jpeg' as const };
    await client.uploadDocument(created.documents.KTP.url, image);
    await client.uploadDocument(created.documents.SELFIE.url, { ...image, body: syntheticJpeg(7) });
    await client.confirmUpload(user, created.submissionId, confirmMetadata(papuaNik));
    const late = await failure(
      client.uploadDocument(created.documents.KTP.url, { ...image, body: syntheticJpeg(8) }),
    );
    expect(late).toMatchObject({ code: 'UPLOAD_FORBIDDEN', retryable: false, httpStatus: 403 });
    expect(late.message).toContain('(AccessDenied)');

    const tampered = created.documents.SELFIE.url.replace(/X-Amz-Signature=[0-9a-f]/, (m) =>
      m.endsWith('0') ? `${m.slice(0, -1)}1` : `${m.slice(0, -1)}0`,
    );
    const forged = await failure(
      client.uploadDocument(tampered, { ...image, body: syntheticJpeg(9) }),
    );
    expect(forged).toMatchObject({ code: 'UPLOAD_FORBIDDEN', httpStatus: 403 });
    expect(forged.message).toContain('(SignatureDoesNotMatch)');
  });
});
