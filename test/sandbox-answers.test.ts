/* eslint-disable @typescript-eslint/no-unsafe-member-access -- assertions read JSON answers */
import { createHash } from 'node:crypto';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { type Sandbox, type SandboxOptions } from '../sandbox/index.ts';
import { extraFieldName } from '../sandbox/fault-answers.ts';
import { sandboxTokenPrefix } from '../sandbox/token.ts';
import {
  call,
  createPath,
  createSubmission,
  credentials,
  getToken,
  jpeg,
  newUser,
  partnerHeaders,
  startTestSandbox,
  tokenCall,
  upload,
  waitFor,
} from './support/sandbox-kit.ts';

/**
 * The faults that change an answer the sandbox did give (withheld, malformed, cut, grown),
 * the shape of injected failures, and the request log: what the client tests use instead of
 * a hand-written Esign fake.
 */

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

async function sandboxWith(options: Partial<SandboxOptions> = {}): Promise<Sandbox> {
  const sandbox = await startTestSandbox(options);
  cleanups.push(() => sandbox.close());
  return sandbox;
}

describe('sandbox answer faults', () => {
  it('loseAnswerNext carries the call out and never answers it; close() ends it', async () => {
    const sandbox = await sandboxWith({ faults: { loseAnswerNext: { create_submission: 1 } } });
    const token = await getToken(sandbox);
    const user = newUser();
    const lost = request(`${sandbox.url}${createPath}`, {
      headers: partnerHeaders(token, user),
    }).then(
      () => 'answered',
      () => 'connection closed',
    );
    await waitFor('the lost answer', () => sandbox.inspect().calls.create_submission.lost === 1);
    // Esign did the work: the submission exists, though the caller never heard of it.
    expect(sandbox.inspect().submissions.map((s) => s.userId)).toEqual([user.userId]);
    expect(sandbox.inspect().requests.at(-1)?.status).toBe('lost');
    const next = await call(`${sandbox.url}${createPath}`, {
      headers: partnerHeaders(token, user),
    });
    expect(next.status).toBe(200);
    await sandbox.close();
    expect(await lost).toBe('connection closed');
  });

  it('malformNext wraps every string of the next answer in an array', async () => {
    const sandbox = await sandboxWith({ faults: { malformNext: { token: 1 } } });
    const malformed = await tokenCall(sandbox);
    expect(malformed.status).toBe(200);
    expect(malformed.json.success).toBe(true);
    expect(malformed.json.data.token).toEqual([expect.stringMatching(/^eyJ/)]);
    expect(malformed.json.data.expiry_seconds).toEqual(['1800']);
    expect(typeof (await tokenCall(sandbox)).json.data.token).toBe('string');
  });

  it('truncateNext cuts the next answer to half its length: a whole response, not JSON', async () => {
    const sandbox = await sandboxWith({ faults: { truncateNext: { token: 1 } } });
    const cut = await tokenCall(sandbox);
    expect(cut.status).toBe(200);
    expect(cut.json).toBeUndefined();
    expect(cut.text.startsWith('{"success":true')).toBe(true);
    expect(cut.headers['content-length']).toBe(String(Buffer.byteLength(cut.text)));
    expect((await tokenCall(sandbox)).json.success).toBe(true);
  });

  it('extraFields adds an undocumented field at the top and in data', async () => {
    const sandbox = await sandboxWith({ faults: { extraFields: true } });
    const reply = await tokenCall(sandbox);
    expect(reply.json[extraFieldName]).toBeDefined();
    expect(reply.json.data[extraFieldName]).toBeDefined();
    expect(reply.json.data.token).toMatch(/^eyJ/);
  });

  it('failStatus and failBodyBytes shape injected failures', async () => {
    const sandbox = await sandboxWith({ faults: { failNext: { token: 2 }, failStatus: 503 } });
    const envelope = await tokenCall(sandbox);
    expect(envelope.status).toBe(503);
    expect(envelope.json).toEqual({
      success: false,
      errors: [{ code: '900', cause: 'GENERIC_SERVICE_ERROR' }],
    });
    sandbox.setFaults({ failStatus: 502, failBodyBytes: 100_000 });
    const page = await tokenCall(sandbox);
    expect(page.status).toBe(502);
    expect(page.headers['content-type']).toBe('text/html');
    expect(page.text.length).toBe(100_000);
    expect(sandbox.inspect().calls.token).toEqual({ '503': 1, '502': 1 });
  });

  it('uploadStatus 204 answers a good upload with no content', async () => {
    const sandbox = await sandboxWith({ faults: { uploadStatus: 204 } });
    const created = await createSubmission(sandbox, await getToken(sandbox), newUser());
    const reply = await upload(created.ktpUrl);
    expect(reply.status).toBe(204);
    expect(reply.text).toBe('');
    expect(sandbox.inspect().submissions[0]?.uploaded.KTP).toBe(true);
  });

  it('refuses answer faults that could not apply, naming the field', async () => {
    const sandbox = await sandboxWith();
    expect(() => sandbox.setFaults({ malformNext: { upload: 1 } as never })).toThrow(/malformNext/);
    expect(() => sandbox.setFaults({ failStatus: 200 })).toThrow(/failStatus/);
    expect(() => sandbox.setFaults({ uploadStatus: 201 as never })).toThrow(/uploadStatus/);
  });
});

describe('sandbox request log', () => {
  it('records each call: header names, token by its number, content type, session, status', async () => {
    const sandbox = await sandboxWith();
    const token = await getToken(sandbox);
    const user = newUser();
    const headers = partnerHeaders(token, user);
    const created = await createSubmission(sandbox, token, user);
    sandbox.revokeTokens();
    await call(`${sandbox.url}${createPath}`, { headers: partnerHeaders(token, user) });
    await upload(created.ktpUrl, jpeg);

    const [tokenCallRecord, create, revoked, ktp] = sandbox.inspect().requests;
    expect(tokenCallRecord).toMatchObject({ endpoint: 'token', token: null, status: 200 });
    expect(tokenCallRecord?.headers).toEqual(expect.arrayContaining(['client-id', 'pass-key']));
    expect(create).toMatchObject({
      endpoint: 'create_submission',
      method: 'GET',
      path: createPath,
      token: 1,
      status: 200,
    });
    expect(create?.headers).toEqual(expect.arrayContaining(Object.keys(headers).sort()));
    expect(revoked).toMatchObject({ token: 1, status: 401 });
    expect(ktp).toMatchObject({ endpoint: 'upload', contentType: 'image/jpeg', token: null });
    expect(ktp?.contentLength).toBe(String(jpeg.length));
    // Header values (the token, the pass-key) are never kept.
    const text = JSON.stringify(sandbox.inspect().requests);
    expect(text).not.toContain(token);
    expect(text).not.toContain(credentials.passKey);
    expect(token.startsWith(sandboxTokenPrefix)).toBe(true);

    const submission = sandbox.inspect().submissions[0];
    expect(submission?.documents.KTP.sha256).toBe(createHash('sha256').update(jpeg).digest('hex'));
    expect(submission?.documents.SELFIE.sha256).toBeNull();
    expect(created.ktpUrl).toContain(`/storage/CERT_REG/${submission?.documents.KTP.reference}?`);
  });
});
