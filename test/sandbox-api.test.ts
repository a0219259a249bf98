/* eslint-disable @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-assignment -- assertions read the sandbox's JSON answers */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Sandbox } from '../sandbox/index.ts';
import {
  call,
  createPath,
  createSubmission,
  credentials,
  getToken,
  newUser,
  partnerHeaders,
  pollPath,
  startTestSandbox,
  tokenPath,
} from './support/sandbox-kit.ts';

let sandbox: Sandbox;
beforeEach(async () => {
  sandbox = await startTestSandbox();
});
afterEach(async () => {
  await sandbox.close();
});

describe('sandbox token endpoint', () => {
  it('issues a token with expiry_seconds and expires_at as numeric strings', async () => {
    const before = Math.floor(Date.now() / 1000);
    const reply = await call(`${sandbox.url}${tokenPath}`, {
      headers: { 'client-id': credentials.clientId, 'pass-key': credentials.passKey },
    });
    expect(reply.status).toBe(200);
    expect(reply.json.success).toBe(true);
    expect(reply.json.data.token).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
    expect(reply.json.data.expiry_seconds).toBe('1800');
    expect(typeof reply.json.data.expires_at).toBe('string');
    expect(Number(reply.json.data.expires_at)).toBeGreaterThanOrEqual(before + 1800);
    expect(sandbox.inspect().tokensIssued).toBe(1);
  });

  it('lists both missing headers with code 1650', async () => {
    const reply = await call(`${sandbox.url}${tokenPath}`);
    expect(reply.status).toBe(400);
    expect(reply.json).toEqual({
      success: false,
      errors: [
        { code: '1650', cause: 'MISSING_CLIENT_ID' },
        { code: '1650', cause: 'MISSING_PASS_KEY' },
      ],
    });
  });

  it('names only the missing header when one is present', async () => {
    const reply = await call(`${sandbox.url}${tokenPath}`, {
      headers: { 'client-id': credentials.clientId },
    });
    expect(reply.status).toBe(400);
    expect(reply.json.errors).toEqual([{ code: '1650', cause: 'MISSING_PASS_KEY' }]);
  });

  it('answers 401 110 for a wrong pass-key', async () => {
    const reply = await call(`${sandbox.url}${tokenPath}`, {
      headers: { 'client-id': credentials.clientId, 'pass-key': 'wrong' },
    });
    expect(reply.status).toBe(401);
    expect(reply.json).toEqual({
      success: false,
      errors: [{ code: '110', cause: 'UNAUTHORIZED' }],
    });
  });
});

describe('sandbox create submission', () => {
  it('returns a submission with presigned KTP and SELFIE URLs on the sandbox', async () => {
    const token = await getToken(sandbox);
    const reply = await call(`${sandbox.url}${createPath}`, {
      headers: partnerHeaders(token, newUser()),
    });
    expect(reply.status).toBe(200);
    const data = reply.json.data;
    expect(data.submissionId).toMatch(/^[0-9a-f-]{36}$/);
    expect(data.status).toBe('INITIATED');
    for (const type of ['KTP', 'SELFIE']) {
      const document = data.documents[type];
      expect(document.documentReference).toMatch(new RegExp(`^[0-9a-f-]{36}_${type}$`));
      expect(document.expiryInSeconds).toBe('432000');
      const url = new URL(document.documentUrl as string);
      expect(url.origin).toBe(sandbox.url);
      expect(url.pathname).toBe(`/storage/CERT_REG/${document.documentReference}`);
      expect(url.searchParams.get('X-Amz-Expires')).toBe('432000');
      expect(url.searchParams.get('X-Amz-Signature')).toMatch(/^[0-9a-f]{64}$/);
    }
  });

  it('puts the configured public URL into presigned URLs', async () => {
    const other = await startTestSandbox({ publicUrl: 'https://storage.example.test' });
    try {
      const created = await createSubmission(other, await getToken(other), newUser());
      expect(created.ktpUrl.startsWith('https://storage.example.test/storage/CERT_REG/')).toBe(
        true,
      );
    } finally {
      await other.close();
    }
  });

  const cases: [string, (h: Record<string, string>) => void, number, unknown[]][] = [
    ['no token', (h) => delete h['x-onekyc-token'], 401, [{ code: '110', cause: 'UNAUTHORIZED' }]],
    [
      'an unknown token',
      (h) => (h['x-onekyc-token'] = 'a.b.c'),
      401,
      [{ code: '110', cause: 'UNAUTHORIZED' }],
    ],
    [
      'no onboarding partner',
      (h) => delete h['x-esign-onboarding-partner'],
      400,
      [{ code: '1650', cause: 'ESIGN_ONBOARDING_PARTNER_CAN_NOT_BE_EMPTY' }],
    ],
    [
      'a wrong onboarding partner',
      (h) => (h['x-esign-onboarding-partner'] = 'OTHER-BE-CERT_REG'),
      403,
      [{ code: '110', cause: 'ONBOARDING_PARTNER_DOES_NOT_BELONG_TO_CLIENT' }],
    ],
    [
      'no partner user id nor type',
      (h) => {
        delete h['x-partner-user-id'];
        delete h['x-partner-user-id-type'];
      },
      400,
      [
        { code: '1539', cause: 'PARTNER_USER_ID_CAN_NOT_BE_EMPTY' },
        { code: '1539', cause: 'PARTNER_USER_ID_TYPE_CAN_NOT_BE_EMPTY' },
      ],
    ],
    [
      'no partner user id type',
      (h) => delete h['x-partner-user-id-type'],
      400,
      [{ code: '1539', cause: 'PARTNER_USER_ID_TYPE_CAN_NOT_BE_EMPTY' }],
    ],
    [
      'no session id',
      (h) => delete h['x-partner-session-id'],
      400,
      [{ code: '1550', cause: 'PARTNER_SESSION_ID_CAN_NOT_BE_EMPTY' }],
    ],
  ];
  it.each(cases)('refuses a call with %s', async (_label, edit, status, errors) => {
    const headers = partnerHeaders(await getToken(sandbox), newUser());
    edit(headers);
    const reply = await call(`${sandbox.url}${createPath}`, { headers });
    expect(reply.status).toBe(status);
    expect(reply.json).toEqual({ success: false, errors });
    expect(sandbox.inspect().submissions).toHaveLength(0);
  });

  it.each(['', '?submissionType=KTP_SCAN'])(
    'refuses submissionType other than CERT_REG (%s)',
    async (query) => {
      const headers = partnerHeaders(await getToken(sandbox), newUser());
      const reply = await call(`${sandbox.url}/esign-partner/v1/submissions/urls${query}`, {
        headers,
      });
      expect(reply.status).toBe(400);
      expect(reply.json.errors[0].entity).toBe('submissionType');
    },
  );

  it('rejects tokens after revokeTokens, over the API and over HTTP', async () => {
    const user = newUser();
    const first = await getToken(sandbox);
    sandbox.revokeTokens();
    const revoked = await call(`${sandbox.url}${createPath}`, {
      headers: partnerHeaders(first, user),
    });
    expect(revoked.status).toBe(401);
    const second = await getToken(sandbox);
    expect((await call(`${sandbox.url}/__sandbox/revoke-tokens`, { method: 'POST' })).status).toBe(
      200,
    );
    const again = await call(`${sandbox.url}${createPath}`, {
      headers: partnerHeaders(second, user),
    });
    expect(again.status).toBe(401);
    const fresh = await getToken(sandbox);
    expect(
      (await call(`${sandbox.url}${createPath}`, { headers: partnerHeaders(fresh, user) })).status,
    ).toBe(200);
  });

  it('rejects an expired token with 401 110', async () => {
    sandbox.setFaults({ tokenTtlSeconds: 0 });
    const token = await getToken(sandbox);
    const reply = await call(`${sandbox.url}${createPath}`, {
      headers: partnerHeaders(token, newUser()),
    });
    expect(reply.status).toBe(401);
    expect(reply.json.errors).toEqual([{ code: '110', cause: 'UNAUTHORIZED' }]);
  });
});

describe('sandbox poll (get submission)', () => {
  it('answers 404 1514 for a user without submissions', async () => {
    const reply = await call(`${sandbox.url}${pollPath}`, {
      headers: partnerHeaders(await getToken(sandbox), newUser()),
    });
    expect(reply.status).toBe(404);
    expect(reply.json.errors).toEqual([
      {
        code: '1514',
        cause: 'USER_NOT_FOUND_FOR_PARTNER_AND_PARTNER_USER_ID_AND_PARTNER_USER_ID_TYPE',
      },
    ]);
  });

  it("returns the user's latest submission, INITIATED before confirm, without the onboarding partner header", async () => {
    const token = await getToken(sandbox);
    const user = newUser();
    const createHeaders = partnerHeaders(token, user);
    await call(`${sandbox.url}${createPath}`, { headers: partnerHeaders(token, user) });
    const latest = await call(`${sandbox.url}${createPath}`, { headers: createHeaders });
    const headers = partnerHeaders(token, user);
    delete headers['x-esign-onboarding-partner'];
    const reply = await call(`${sandbox.url}${pollPath}`, { headers });
    expect(reply.status).toBe(200);
    expect(reply.json.data).toEqual({
      submissionId: latest.json.data.submissionId,
      flow: 'CERT_REG',
      userId: user.userId,
      userIdType: user.userIdType,
      partnerSessionId: createHeaders['x-partner-session-id'],
      status: 'INITIATED',
    });
  });

  it('does not show one user the submission of another user id type', async () => {
    const token = await getToken(sandbox);
    const user = newUser();
    await createSubmission(sandbox, token, user);
    const reply = await call(`${sandbox.url}${pollPath}`, {
      headers: partnerHeaders(token, { ...user, userIdType: 'OTHER_TYPE' }),
    });
    expect(reply.status).toBe(404);
  });

  it('requires a token and the partner user headers', async () => {
    const token = await getToken(sandbox);
    const noToken = partnerHeaders(token, newUser());
    delete noToken['x-onekyc-token'];
    expect((await call(`${sandbox.url}${pollPath}`, { headers: noToken })).status).toBe(401);
    const noUser = partnerHeaders(token, newUser());
    delete noUser['x-partner-user-id'];
    const reply = await call(`${sandbox.url}${pollPath}`, { headers: noUser });
    expect(reply.status).toBe(400);
    expect(reply.json.errors).toEqual([
      { code: '1539', cause: 'PARTNER_USER_ID_CAN_NOT_BE_EMPTY' },
    ]);
  });
});

describe('sandbox routing and inspection', () => {
  it('answers unknown paths 404 and wrong methods 405 with Allow', async () => {
    expect((await call(`${sandbox.url}/nope`)).status).toBe(404);
    const wrong = await call(`${sandbox.url}${tokenPath}`, { method: 'POST', body: 'x' });
    expect(wrong.status).toBe(405);
    expect(wrong.headers.allow).toBe('GET');
    const confirmWithPost = await call(`${sandbox.url}/esign-partner/v1/submissions/urls`, {
      method: 'DELETE',
    });
    expect(confirmWithPost.headers.allow).toBe('GET, PUT');
  });

  it('refuses an API body over 1 MiB with 413 and keeps serving', async () => {
    const headers = partnerHeaders(await getToken(sandbox), newUser());
    const reply = await call(`${sandbox.url}/esign-partner/v1/submissions/urls`, {
      method: 'PUT',
      headers: { ...headers, 'content-type': 'application/json' },
      body: Buffer.alloc(1024 * 1024 + 1, 0x20),
    }).catch((error: unknown) => error);
    // The sandbox may close the connection while the client is still sending.
    if (!(reply instanceof Error)) expect((reply as { status: number }).status).toBe(413);
    expect((await call(`${sandbox.url}/nope`)).status).toBe(404);
  });

  it('counts calls per endpoint by status and records every session id, over HTTP too', async () => {
    const token = await getToken(sandbox);
    const headers = partnerHeaders(token, newUser());
    await call(`${sandbox.url}${createPath}`, { headers });
    await call(`${sandbox.url}${tokenPath}`);
    const reply = await call(`${sandbox.url}/__sandbox/inspect`);
    expect(reply.status).toBe(200);
    expect(reply.json.calls.token).toEqual({ '200': 1, '400': 1 });
    expect(reply.json.calls.create_submission).toEqual({ '200': 1 });
    expect(reply.json.sessionIds).toEqual([headers['x-partner-session-id']]);
    expect(reply.json.submissions[0].sessionIds).toEqual([headers['x-partner-session-id']]);
  });
});
