import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { person, registrationRequest } from './support/requests.ts';
import { startStack, type Stack } from './support/stack.ts';

/** Each outcome Esign can give, end to end: sandbox and listener over HTTP, real Redis. */
describe('registration outcomes', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(async () => {
    await stack.close();
  });

  it('VALID: partially completed, then completed with a certificate registration id', async () => {
    const { registrationId, created } = await stack.producer.enqueueRegistration(
      registrationRequest(person('completed')),
    );
    expect(created).toBe(true);
    const result = await stack.waitForResult(registrationId);
    expect(result).toMatchObject({
      registrationId,
      status: 'COMPLETED',
      result: 'VALID',
      reasonCode: null,
      source: 'callback',
      verificationResult: { nik: 'PASS', name: 'PASS', dateOfBirth: 'PASS', selfie: 'PASS' },
      eligibleToActivate: false,
      onboardingCode: 'NEW_USER',
      shouldSkipActivation: true,
      error: null,
    });
    expect(result.esignRegistrationId).toMatch(/^[0-9a-f-]{36}$/);
    const view = await stack.producer.getRegistration(registrationId);
    expect(view?.history.map((entry) => entry.status)).toEqual([
      'QUEUED',
      'INITIATED',
      'UPLOADED',
      'CONFIRMED',
      'PARTIALLY_COMPLETED',
      'COMPLETED',
    ]);
    expect(view?.userDetails).toBe('scrubbed');
    const submission = stack.sandbox
      .inspect()
      .submissions.find((s) => s.submissionId === result.submissionId);
    expect(submission?.confirmCount).toBe(1);
    expect(submission?.uploaded).toEqual({ KTP: true, SELFIE: true });
  });

  it('INVALID: rejected with the reason code Esign gave', async () => {
    const { registrationId } = await stack.producer.enqueueRegistration(
      registrationRequest(person('invalid-DUKCAPIL_REJECTED')),
    );
    const result = await stack.waitForResult(registrationId);
    expect(result).toMatchObject({
      status: 'COMPLETED',
      result: 'INVALID',
      reasonCode: 'DUKCAPIL_REJECTED',
    });
    expect(result.esignRegistrationId).toBeNull();
  });

  it('INVALID with a reason code the docs do not list is passed through, not a crash', async () => {
    const { registrationId } = await stack.producer.enqueueRegistration(
      registrationRequest(person('invalid-undocumented')),
    );
    const result = await stack.waitForResult(registrationId);
    expect(result.status).toBe('COMPLETED');
    expect(result.result).toBe('INVALID');
    expect(result.reasonCode).toBe('SANDBOX_UNDOCUMENTED_REASON');
  });

  it('ERROR: a technical failure at Esign ends the registration with its reason code', async () => {
    const { registrationId } = await stack.producer.enqueueRegistration(
      registrationRequest(person('error')),
    );
    const result = await stack.waitForResult(registrationId);
    expect(result).toMatchObject({ status: 'ERROR', reasonCode: 'SYSTEM_ERROR' });
  });

  it('a Papua NIK above 2^53 reaches Esign byte-exact as a JSON number', async () => {
    const nik = '9471020101900001';
    expect(Number(nik).toString()).not.toBe(nik);
    const { registrationId } = await stack.producer.enqueueRegistration(
      registrationRequest(person('completed', nik)),
    );
    const result = await stack.waitForResult(registrationId);
    const submission = stack.sandbox
      .inspect()
      .submissions.find((s) => s.submissionId === result.submissionId);
    expect(submission?.nikRaw).toBe(nik);
    expect(submission?.nikJsonType).toBe('number');
  });

  it('never sends an Esign header to the presigned storage', () => {
    expect(stack.sandbox.inspect().leaks).toEqual([]);
  });
});
