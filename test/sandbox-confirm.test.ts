/* eslint-disable @typescript-eslint/no-unsafe-member-access -- assertions read the sandbox's JSON answers */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { nikForScenario, type Sandbox } from '../sandbox/index.ts';
import {
  call,
  confirm,
  confirmBody,
  confirmPath,
  createSubmission,
  getToken,
  newUser,
  partnerHeaders,
  pollPath,
  startTestSandbox,
  upload,
  type User,
} from './support/sandbox-kit.ts';

let sandbox: Sandbox;
let token: string;
let user: User;
beforeEach(async () => {
  sandbox = await startTestSandbox({ processingMs: 10_000 });
  token = await getToken(sandbox);
  user = newUser();
});
afterEach(async () => {
  await sandbox.close();
});

async function uploaded(): Promise<string> {
  const created = await createSubmission(sandbox, token, user);
  await upload(created.ktpUrl);
  await upload(created.selfieUrl);
  return created.submissionId;
}

describe('sandbox confirm upload', () => {
  it('confirms, answers the submission id and starts processing (IN_PROGRESS)', async () => {
    const submissionId = await uploaded();
    const reply = await confirm(
      sandbox,
      token,
      user,
      confirmBody(submissionId, nikForScenario('completed')),
    );
    expect(reply.status).toBe(200);
    expect(reply.json).toEqual({ success: true, data: { submissionId } });
    const poll = await call(`${sandbox.url}${pollPath}`, { headers: partnerHeaders(token, user) });
    expect(poll.json.data.status).toBe('IN_PROGRESS');
    expect(sandbox.inspect().submissions[0]).toMatchObject({
      confirmCount: 1,
      scenario: 'completed',
    });
  });

  it('records the Papua NIK 9471020101900001 sent as a JSON number byte-exact', async () => {
    const submissionId = await uploaded();
    const body = confirmBody(submissionId, '9471020101900001');
    expect(body).toContain('"nik":9471020101900001');
    expect((await confirm(sandbox, token, user, body)).status).toBe(200);
    expect(sandbox.inspect().submissions[0]).toMatchObject({
      nikRaw: '9471020101900001',
      nikJsonType: 'number',
    });
  });

  it('accepts the NIK as a JSON string too', async () => {
    const submissionId = await uploaded();
    const body = confirmBody(submissionId, '9471020101900001', { nikAs: 'string' });
    expect((await confirm(sandbox, token, user, body)).status).toBe(200);
    expect(sandbox.inspect().submissions[0]).toMatchObject({
      nikRaw: '9471020101900001',
      nikJsonType: 'string',
    });
  });

  const invalid: [string, Parameters<typeof confirmBody>[2], string, string][] = [
    [
      'a 15-digit NIK',
      { userDetails: { nik: '947102010190000' } },
      'NIK_MUST_BE_16_DIGITS',
      'metadata.userDetails.nik',
    ],
    [
      'a NIK with letters',
      { userDetails: { nik: '94710201019000AB' } },
      'NIK_MUST_BE_16_DIGITS',
      'metadata.userDetails.nik',
    ],
    [
      'a date of birth in another format',
      { userDetails: { dateOfBirth: '1980-03-07' } },
      'DATE_OF_BIRTH_MUST_BE_DD_MM_YYYY',
      'metadata.userDetails.dateOfBirth',
    ],
    [
      'an impossible date of birth',
      { userDetails: { dateOfBirth: '31-02-1990' } },
      'DATE_OF_BIRTH_MUST_BE_DD_MM_YYYY',
      'metadata.userDetails.dateOfBirth',
    ],
    [
      'neither email nor phone',
      { userDetails: { email: undefined } },
      'EMAIL_OR_PHONE_NUMBER_IS_REQUIRED',
      'metadata.userDetails.email',
    ],
    [
      'a phone number with +',
      { userDetails: { phoneNumber: '+62888675678910' } },
      'PHONE_NUMBER_IS_INVALID',
      'metadata.userDetails.phoneNumber',
    ],
    [
      'an empty name',
      { userDetails: { name: ' ' } },
      'NAME_CAN_NOT_BE_EMPTY',
      'metadata.userDetails.name',
    ],
    [
      'empty consent data',
      { metadata: { consentData: [] } },
      'CONSENT_DATA_CAN_NOT_BE_EMPTY',
      'metadata.consentData',
    ],
    [
      'consent not given',
      { metadata: { consentData: [{ entity: 'Digi', consentGiven: false }] } },
      'CONSENT_MUST_BE_GIVEN',
      'metadata.consentData.0.consentGiven',
    ],
  ];
  it.each(invalid)('refuses %s, naming the field', async (_label, options, cause, entity) => {
    const submissionId = await uploaded();
    const reply = await confirm(
      sandbox,
      token,
      user,
      confirmBody(submissionId, nikForScenario('completed'), options),
    );
    expect(reply.status).toBe(400);
    expect(reply.json.errors).toEqual([{ code: '1655', cause, entity }]);
    expect(sandbox.inspect().submissions[0]?.confirmCount).toBe(0);
  });

  it('refuses a body that is not JSON and a wrong content type', async () => {
    const submissionId = await uploaded();
    const notJson = await confirm(sandbox, token, user, '{"submissionId":');
    expect(notJson.status).toBe(400);
    expect(notJson.json.errors[0].cause).toBe('BODY_MUST_BE_JSON');
    const text = await call(`${sandbox.url}${confirmPath}`, {
      method: 'PUT',
      headers: { ...partnerHeaders(token, user), 'content-type': 'text/plain' },
      body: confirmBody(submissionId, nikForScenario('completed')),
    });
    expect(text.status).toBe(400);
  });

  it('refuses confirm before both documents are uploaded, naming the missing one', async () => {
    const created = await createSubmission(sandbox, token, user);
    await upload(created.ktpUrl);
    const reply = await confirm(
      sandbox,
      token,
      user,
      confirmBody(created.submissionId, nikForScenario('completed')),
    );
    expect(reply.status).toBe(400);
    expect(reply.json.errors).toEqual([
      { code: '1656', cause: 'SELFIE_NOT_UPLOADED', entity: 'documents.SELFIE' },
    ]);
  });

  it('refuses a submission of another user with 1653', async () => {
    const submissionId = await uploaded();
    const reply = await confirm(
      sandbox,
      token,
      newUser(),
      confirmBody(submissionId, nikForScenario('completed')),
    );
    expect(reply.status).toBe(400);
    expect(reply.json.errors).toEqual([
      { code: '1653', cause: 'SUBMISSION_ID_DOES_NOT_BELONG_TO_CURRENT_USER' },
    ]);
  });

  it('refuses an unknown submission with 1552', async () => {
    const reply = await confirm(
      sandbox,
      token,
      user,
      confirmBody('5e021eb4-d875-47bb-817b-8b1782f0c3bb', nikForScenario('completed')),
    );
    expect(reply.status).toBe(400);
    expect(reply.json.errors).toEqual([{ code: '1552', cause: 'SUBMISSION_DOES_NOT_EXIST' }]);
  });

  it('refuses a second confirm and counts it', async () => {
    const submissionId = await uploaded();
    const body = confirmBody(submissionId, nikForScenario('completed'));
    expect((await confirm(sandbox, token, user, body)).status).toBe(200);
    const again = await confirm(sandbox, token, user, body);
    expect(again.status).toBe(400);
    expect(again.json.errors[0].cause).toBe('SUBMISSION_ALREADY_CONFIRMED');
    expect(sandbox.inspect().submissions[0]?.confirmCount).toBe(2);
  });

  it('checks the common headers like create submission does', async () => {
    const submissionId = await uploaded();
    const headers = {
      ...partnerHeaders(token, user),
      'x-esign-onboarding-partner': 'SOMEONE-ELSE',
      'content-type': 'application/json',
    };
    const reply = await call(`${sandbox.url}${confirmPath}`, {
      method: 'PUT',
      headers,
      body: confirmBody(submissionId, nikForScenario('completed')),
    });
    expect(reply.status).toBe(403);
    expect(reply.json.errors[0].cause).toBe('ONBOARDING_PARTNER_DOES_NOT_BELONG_TO_CLIENT');
  });
});
