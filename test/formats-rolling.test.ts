import { randomUUID } from 'node:crypto';
import { Queue, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitUntil } from '../demo/child-process.ts';
import { format0Enqueue, type Format0Request } from './fixtures/format-0-writers.ts';
import { connect } from './support/redis.ts';
import { person, registrationRequest } from './support/requests.ts';
import { startStack, type Stack } from './support/stack.ts';

/**
 * A rolling deploy, both ways, against the sandbox and real Redis: what the previous release
 * enqueued (format 1: format 0's writer, frozen in fixtures/, plus its markers; its request
 * sealed in a v1 envelope under the same key) finishes on this one, and what a newer release
 * wrote is left for its workers, untouched and with no attempt used.
 */
describe('stored formats during a rolling deploy', () => {
  let stack: Stack;
  let redis: Redis;
  let initiate: Queue;
  beforeAll(async () => {
    stack = await startStack();
    redis = connect();
    initiate = new Queue('initiate', { connection: redis, prefix: stack.prefix });
  });
  afterAll(async () => {
    await initiate.close();
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

  const format1 = (record: Record<string, unknown>) => ({ ...record, formatVersion: 1 });
  const enqueue = (request: Format0Request, extra: Partial<Parameters<typeof format0Enqueue>[0]>) =>
    format0Enqueue({
      redis,
      prefix: stack.prefix,
      request,
      key: Buffer.from(stack.env.PII_ENCRYPTION_KEY ?? '', 'hex'),
      attempts: 8,
      backoffMs: 50,
      record: format1,
      jobData: (data) => ({ ...data, v: 1 }),
      ...extra,
    });
  const rawRecord = async (id: string) =>
    JSON.parse((await redis.get(`${stack.prefix}:registration:${id}`)) ?? 'null') as Record<
      string,
      unknown
    >;

  it('a registration the previous release enqueued (format 1 record and job) finishes here', async () => {
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
    expect(stored).toMatchObject({ formatVersion: 2, status: 'COMPLETED' });
    expect(stored.sealedRequest).toBeUndefined();
    const submission = stack.sandbox
      .inspect()
      .submissions.find((s) => s.submissionId === result.submissionId);
    expect(submission?.confirmCount).toBe(1);
  });

  /** The job, once a worker has refused it and put it back to wait. */
  async function refusedJob(registrationId: string): Promise<Job> {
    const jobId = `${registrationId}-initiate-g0`;
    await waitUntil(async () => (await initiate.getJobState(jobId)) === 'delayed', {
      timeoutMs: 10_000,
      what: 'the worker to leave the job for a newer release',
    });
    const job = await initiate.getJob(jobId);
    if (!job) throw new Error('job gone');
    expect(job.attemptsMade).toBe(0);
    expect(await initiate.getFailedCount()).toBe(0);
    expect(stack.logLines.join('')).toContain('left for a newer release');
    return job;
  }

  it('a job payload from a newer release waits for it, no attempt used, then finishes', async () => {
    const request = format0Request();
    const { registrationId } = request;
    await enqueue(request, { jobData: (data) => ({ ...data, v: 2 }) });
    const job = await refusedJob(registrationId);
    expect((await rawRecord(registrationId)).status).toBe('QUEUED');

    // A worker of the newer release takes it (played here by writing what it would read).
    await job.updateData({ registrationId, v: 1 });
    await job.promote();
    expect((await stack.waitForResult(registrationId)).status).toBe('COMPLETED');
  });

  it('a record from a newer release is left byte for byte, its job waiting for that release', async () => {
    const request = format0Request();
    const { registrationId } = request;
    await enqueue(request, { record: (record) => ({ ...record, formatVersion: 3 }) });
    const key = `${stack.prefix}:registration:${registrationId}`;
    const before = await redis.get(key);
    const job = await refusedJob(registrationId);
    expect(await redis.get(key)).toBe(before);
    expect(stack.sandbox.inspect().submissions.map((s) => s.userId)).not.toContain(
      request.partnerUserId,
    );

    await redis.set(key, JSON.stringify({ ...JSON.parse(before ?? '{}'), formatVersion: 1 }));
    await job.promote();
    expect((await stack.waitForResult(registrationId)).status).toBe('COMPLETED');
  });
});
