import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Sandbox } from '../sandbox/index.ts';
import {
  confirm,
  confirmBody,
  createSubmission,
  getToken,
  jpeg,
  newUser,
  png,
  startTestSandbox,
  upload,
} from './support/sandbox-kit.ts';
import { nikForScenario } from '../sandbox/index.ts';

let sandbox: Sandbox;
beforeEach(async () => {
  sandbox = await startTestSandbox();
});
afterEach(async () => {
  await sandbox.close();
});

describe('sandbox presigned storage', () => {
  it('accepts JPEG and PNG, records the upload and counts bytes', async () => {
    const created = await createSubmission(sandbox, await getToken(sandbox), newUser());
    expect((await upload(created.ktpUrl, jpeg)).status).toBe(200);
    expect((await upload(created.selfieUrl, png, { 'content-type': 'image/png' })).status).toBe(
      200,
    );
    const snapshot = sandbox.inspect();
    expect(snapshot.submissions[0]?.uploaded).toEqual({ KTP: true, SELFIE: true });
    expect(snapshot.submissions[0]?.bytes).toBe(jpeg.length + png.length);
    expect(snapshot.uploadBytes).toBe(jpeg.length + png.length);
    expect(snapshot.calls.upload).toEqual({ '200': 2 });
    expect(snapshot.leaks).toEqual([]);
  });

  it('lets a re-upload before confirm overwrite', async () => {
    const created = await createSubmission(sandbox, await getToken(sandbox), newUser());
    expect((await upload(created.ktpUrl, jpeg)).status).toBe(200);
    expect((await upload(created.ktpUrl, png)).status).toBe(200);
    expect(sandbox.inspect().submissions[0]?.uploaded.KTP).toBe(true);
  });

  it('refuses a body that is not a JPEG or PNG with 400', async () => {
    const created = await createSubmission(sandbox, await getToken(sandbox), newUser());
    const reply = await upload(created.ktpUrl, Buffer.from('%PDF-1.7 not an image'));
    expect(reply.status).toBe(400);
    expect(reply.text).toContain('<Code>InvalidImage</Code>');
    expect((await upload(created.ktpUrl, Buffer.alloc(0))).status).toBe(400);
    expect(sandbox.inspect().submissions[0]?.uploaded.KTP).toBe(false);
  });

  it('refuses a tampered URL with 403', async () => {
    const created = await createSubmission(sandbox, await getToken(sandbox), newUser());
    const url = new URL(created.ktpUrl);
    url.searchParams.set('X-Amz-Expires', '999999');
    const longer = await upload(url.toString());
    expect(longer.status).toBe(403);
    expect(longer.text).toContain('SignatureDoesNotMatch');
    // The SELFIE signature does not open the KTP object.
    const swapped = new URL(created.ktpUrl);
    swapped.searchParams.set(
      'X-Amz-Signature',
      new URL(created.selfieUrl).searchParams.get('X-Amz-Signature') ?? '',
    );
    expect((await upload(swapped.toString())).status).toBe(403);
    expect(sandbox.inspect().submissions[0]?.uploaded.KTP).toBe(false);
  });

  it('refuses an expired URL with 403 (expireUrlsNext), only for the next n submissions', async () => {
    sandbox.setFaults({ expireUrlsNext: 1 });
    const token = await getToken(sandbox);
    const expired = await createSubmission(sandbox, token, newUser());
    const reply = await upload(expired.ktpUrl);
    expect(reply.status).toBe(403);
    // As S3 and OSS answer it: AccessDenied, "Request has expired", the expiry and server time.
    expect(reply.text).toMatch(
      /<Code>AccessDenied<\/Code><Message>Request has expired<\/Message>.*<Expires>[^<]+Z<\/Expires><ServerTime>[^<]+Z<\/ServerTime>/,
    );
    const fresh = await createSubmission(sandbox, token, newUser());
    expect((await upload(fresh.ktpUrl)).status).toBe(200);
  });

  it('records Esign headers sent to storage as leaks, by name only', async () => {
    const token = await getToken(sandbox);
    const created = await createSubmission(sandbox, token, newUser());
    const reply = await upload(created.ktpUrl, jpeg, {
      'x-onekyc-token': token,
      'x-partner-user-id': 'user-1',
      authorization: 'Bearer secret',
    });
    expect(reply.status).toBe(200);
    const leaks = sandbox.inspect().leaks;
    expect(leaks.map((leak) => leak.header).sort()).toEqual([
      'authorization',
      'x-onekyc-token',
      'x-partner-user-id',
    ]);
    expect(JSON.stringify(leaks)).not.toContain(token);
  });

  it('refuses uploads after confirm: the documents are final', async () => {
    const token = await getToken(sandbox);
    const user = newUser();
    const created = await createSubmission(sandbox, token, user);
    await upload(created.ktpUrl);
    await upload(created.selfieUrl);
    const body = confirmBody(created.submissionId, nikForScenario('stuck'));
    expect((await confirm(sandbox, token, user, body)).status).toBe(200);
    const late = await upload(created.ktpUrl);
    expect(late.status).toBe(403);
    // As a bucket policy denial reads: AccessDenied, nothing about expiry.
    expect(late.text).toContain('<Code>AccessDenied</Code><Message>Access Denied</Message>');
    expect(late.text).not.toMatch(/expired|<Expires>/i);
  });

  it('refuses an image over 16 MiB', async () => {
    const created = await createSubmission(sandbox, await getToken(sandbox), newUser());
    const big = Buffer.alloc(16 * 1024 * 1024 + 1);
    jpeg.copy(big);
    const reply = await upload(created.ktpUrl, big).catch((error: unknown) => error);
    if (!(reply instanceof Error)) expect((reply as { status: number }).status).toBe(400);
    expect(sandbox.inspect().submissions[0]?.uploaded.KTP).toBe(false);
  });
});
