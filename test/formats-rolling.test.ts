import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { format0Enqueue, type Format0Request } from './fixtures/format-0-writers.ts';
import { connect } from './support/redis.ts';
import { person, registrationRequest } from './support/requests.ts';
import { startStack, type Stack } from './support/stack.ts';

/**
 * A rolling deploy against the sandbox and real Redis: what the previous release (format 0,
 * frozen in fixtures/) enqueued finishes on this one.
 */
describe('stored formats during a rolling deploy', () => {
  let stack: Stack;
  let redis: Redis;
  beforeAll(async () => {
    stack = await startStack();
    redis = connect();
  });
  afterAll(async () => {
    await stack.close();
    await redis.quit();
  });

  /** A request as the previous producer stored it (parsed, with its id and id type). */
  function format0Request(): Format0Request {
    const registrationId = `f0-${randomUUID()}`;
    return {
      ...registrationRequest(person('completed')),
      registrationId,
      partnerUserIdType: 'E2E_USER_ID',
    } as Format0Request;
  }

  const enqueue = (request: Format0Request, extra: Partial<Parameters<typeof format0Enqueue>[0]>) =>
    format0Enqueue({ redis, prefix: stack.prefix, request, attempts: 8, backoffMs: 50, ...extra });
  const rawRecord = async (id: string) =>
    JSON.parse((await redis.get(`${stack.prefix}:registration:${id}`)) ?? 'null') as Record<
      string,
      unknown
    >;

  it('a registration the previous release enqueued (format 0 record and job) finishes here', async () => {
    const request = format0Request();
    const { registrationId } = request;
    await enqueue(request, {});

    const result = await stack.waitForResult(registrationId);
    expect(result).toMatchObject({
      formatVersion: 1,
      registrationId,
      partnerUserId: request.partnerUserId,
      partnerUserIdType: 'E2E_USER_ID',
      status: 'COMPLETED',
      result: 'VALID',
      reasonCode: null,
      source: 'callback',
      verificationResult: { nik: 'PASS', name: 'PASS', dateOfBirth: 'PASS', selfie: 'PASS' },
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
    // Rewritten in this release's format on its first update, PII gone.
    const stored = await rawRecord(registrationId);
    expect(stored).toMatchObject({ formatVersion: 1, status: 'COMPLETED' });
    expect(stored.sealedRequest).toBeUndefined();
    const submission = stack.sandbox
      .inspect()
      .submissions.find((s) => s.submissionId === result.submissionId);
    expect(submission?.confirmCount).toBe(1);
  });
});
