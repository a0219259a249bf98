import { createPiiCipher } from '../src/lib/pii-cipher.ts';
import { capturingLogger } from './support/listener.ts';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWorkerApp } from '../src/app/worker-app.ts';
import { createEsignClient } from '../src/lib/esign/client.ts';
import type { EsignClient, PartnerUser } from '../src/lib/esign/types.ts';
import { loadConfig } from '../src/lib/config.ts';
import { silentLogger } from '../src/lib/logger.ts';
import { Metrics } from '../src/lib/metrics.ts';
import { RegistrationStore } from '../src/lib/registration/store.ts';
import { attachSubmission } from '../src/lib/registration/transitions.ts';
import { syntheticJpeg } from '../sandbox/synthetic-images.ts';
import { nikForScenario } from '../sandbox/index.ts';
import { connect } from './support/redis.ts';
import { confirmMetadata, person, registrationRequest } from './support/requests.ts';
import { startStack, type Stack } from './support/stack.ts';

/**
 * What Redis losing its latest writes leaves behind, and how the worker gets over it. The
 * record is put in the state a lost write leaves by doing at the sandbox what the worker would
 * have done, while no worker runs.
 *
 * Storage answers 403 both for an expired URL and for an object it will not take any more (the
 * submission was confirmed). Only expiry may start a new submission: any other refusal is
 * explained by asking Esign. A registration whose step has no live job is re-driven.
 */
describe('after lost writes', () => {
  let stack: Stack;
  let redis: Redis;
  let store: RegistrationStore;
  let esign: EsignClient;

  beforeAll(async () => {
    // No callbacks: only the worker's own catching up with Esign can end these registrations.
    stack = await startStack({
      worker: 'none',
      sandbox: { callback: undefined },
      env: { CALLBACK_TIMEOUT_MS: '200', REDRIVE_INTERVAL_MS: '200', REDRIVE_AFTER_MS: '300' },
    });
    redis = connect();
    store = new RegistrationStore({ redis, prefix: stack.prefix, retentionMs: 3_600_000 });
    esign = createEsignClient({
      config: loadConfig(stack.env, ['esign']).esign,
      redis,
      keyPrefix: stack.prefix,
      cipher: stackCipher(),
      logger: silentLogger(),
      metrics: new Metrics({ defaultMetrics: false }),
    });
  });
  const stackCipher = () =>
    createPiiCipher({ key: Buffer.from(stack.env.PII_ENCRYPTION_KEY ?? '', 'hex') });
  afterAll(async () => {
    await esign.close();
    await redis.quit();
    await stack.close();
  });

  /** A registration whose record has its submission (created at the sandbox) and no uploads. */
  async function withSubmission(confirmAtEsign: boolean) {
    const request = registrationRequest(person('completed'));
    const { registrationId } = await stack.producer.enqueueRegistration(request);
    const user: PartnerUser = { userId: request.partnerUserId, userIdType: 'E2E_USER_ID' };
    const created = await esign.createSubmission(user);
    if (confirmAtEsign) {
      for (const [type, seed] of [
        ['KTP', 1],
        ['SELFIE', 2],
      ] as const)
        await esign.uploadDocument(created.documents[type].url, {
          body: syntheticJpeg(seed),
          contentType: 'image/jpeg',
        });
      await esign.confirmUpload(
        user,
        created.submissionId,
        confirmMetadata(nikForScenario('completed')),
      );
    }
    await store.submissions.add(created.submissionId, registrationId);
    // As initiate keeps it: the upload URLs sealed to the registration.
    const cipher = stackCipher();
    const sealed = {
      ...created,
      documents: {
        KTP: {
          ...created.documents.KTP,
          url: cipher.seal(created.documents.KTP.url, registrationId),
        },
        SELFIE: {
          ...created.documents.SELFIE,
          url: cipher.seal(created.documents.SELFIE.url, registrationId),
        },
      },
    };
    await store.update(registrationId, (record) => attachSubmission(record, sealed, Date.now()));
    return { registrationId, request, submissionId: created.submissionId };
  }

  let workerLines: string[] = [];
  async function runWorkerUntilResult(registrationId: string) {
    const { logger, lines } = capturingLogger();
    workerLines = lines;
    const worker = createWorkerApp(
      loadConfig(stack.env, ['common', 'esign', 'pipeline', 'pii']),
      logger,
      new Metrics({ defaultMetrics: false }),
    );
    try {
      return await stack.waitForResult(registrationId, 30_000);
    } finally {
      await worker.close();
    }
  }

  const submissionsOf = (partnerUserId: string) =>
    stack.sandbox.inspect().submissions.filter((s) => s.userId === partnerUserId);

  it('a storage 403 after a confirm the record lost: it catches up with Esign, no new submission, one confirm', async () => {
    const { registrationId, request, submissionId } = await withSubmission(true);
    const result = await runWorkerUntilResult(registrationId);
    expect(result).toMatchObject({
      status: 'COMPLETED',
      result: 'VALID',
      submissionId,
      source: 'poll',
    });
    const atEsign = submissionsOf(request.partnerUserId);
    expect(atEsign.map((s) => [s.submissionId, s.confirmCount])).toEqual([[submissionId, 1]]);
    const view = await stack.producer.getRegistration(registrationId);
    expect(view?.previousSubmissionIds ?? []).toEqual([]);
  }, 60_000);

  it('a storage 403 nothing explains: FAILED with UPLOAD_FORBIDDEN, no new submission', async () => {
    const { registrationId, request, submissionId } = await withSubmission(false);
    // A URL whose signature storage does not accept (its expiry is days away).
    await store.update(registrationId, (record) => {
      const submission = record.submission;
      if (!submission) return record;
      const ktp = submission.documents.KTP;
      // The URL is sealed in the record: opened, damaged, sealed again.
      const cipher = stackCipher();
      const plain = cipher.open(ktp.url ?? '', registrationId);
      const damaged = plain.replace(/X-Amz-Signature=([0-9a-f])/, (_, digit: string) =>
        digit === '0' ? 'X-Amz-Signature=1' : 'X-Amz-Signature=0',
      );
      const url = cipher.seal(damaged, registrationId);
      const documents = { ...submission.documents, KTP: { ...ktp, url } };
      return { ...record, submission: { ...submission, documents } };
    });
    const result = await runWorkerUntilResult(registrationId);
    expect(result).toMatchObject({
      status: 'FAILED',
      submissionId,
      error: { code: 'UPLOAD_FORBIDDEN' },
    });
    expect(result.error?.message).toContain('SignatureDoesNotMatch');
    expect(result.error?.message).not.toContain('X-Amz');
    const atEsign = submissionsOf(request.partnerUserId);
    expect(atEsign.map((s) => [s.submissionId, s.confirmCount])).toEqual([[submissionId, 0]]);
  }, 60_000);

  it('a registration whose step has no live job is re-driven and finishes', async () => {
    // Its record moved on (INITIATED, with a submission) but the job that would carry it on
    // is gone, as when a job completes against a record that Redis then rolls back.
    const { registrationId, request, submissionId } = await withSubmission(false);
    const initiate = new Queue('initiate', { connection: redis, prefix: stack.prefix });
    await initiate.remove(`${registrationId}-initiate-g0`);
    await initiate.close();
    const result = await runWorkerUntilResult(registrationId);
    expect(result).toMatchObject({ status: 'COMPLETED', result: 'VALID', submissionId });
    const atEsign = submissionsOf(request.partnerUserId);
    expect(atEsign.map((s) => [s.submissionId, s.confirmCount])).toEqual([[submissionId, 1]]);
    // Its re-drive job ran and, having succeeded, is gone (finished jobs are not kept): the
    // worker said it re-drove this registration's submission (the one job that uploads).
    const redrives = workerLines
      .map((line) => JSON.parse(line) as { msg?: string; registrationId?: string; jobId?: string })
      .filter(
        (entry) => entry.msg?.endsWith(': re-driven') && entry.registrationId === registrationId,
      );
    expect(redrives.map((entry) => entry.jobId)).toContain(`${registrationId}-initiate-g0-r1`);
  }, 60_000);
});
