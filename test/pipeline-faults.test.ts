import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWorkerApp } from '../src/app/worker-app.ts';
import { loadConfig } from '../src/lib/config.ts';
import { silentLogger } from '../src/lib/logger.ts';
import { Metrics } from '../src/lib/metrics.ts';
import { connectTopology } from './support/redis.ts';
import { person, registrationRequest } from './support/requests.ts';
import { startStack, type Stack } from './support/stack.ts';

/**
 * What goes wrong between us and Esign, end to end. This stack polls early (300 ms after
 * confirm) so a dropped callback is found quickly; callbacks still win the race normally.
 */
describe('registration under faults', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({
      env: {
        CALLBACK_TIMEOUT_MS: '300',
        POLL_GIVE_UP_MS: '1500',
        MAX_REINITIATIONS: '1',
        // The image server of the GIF test below: plain http on a loopback port, opted into.
        IMAGE_URL_ALLOWED_HOSTS: '127.0.0.1:*',
        IMAGE_URL_ALLOW_HTTP: 'true',
        IMAGE_URL_ALLOW_PRIVATE_NETWORKS: 'true',
      },
    });
  });
  afterAll(async () => {
    await stack.close();
  });

  const submissionOf = (submissionId: string | null) =>
    stack.sandbox.inspect().submissions.find((s) => s.submissionId === submissionId);

  it('a dropped callback is made up for by the poll', async () => {
    stack.sandbox.setFaults({ dropCallbacksNext: 1 });
    const { registrationId } = await stack.producer.enqueueRegistration(
      registrationRequest(person('completed')),
    );
    const result = await stack.waitForResult(registrationId);
    expect(result).toMatchObject({ status: 'COMPLETED', result: 'VALID', source: 'poll' });
    expect(result.esignRegistrationId).not.toBeNull();
    expect(
      stack.sandbox
        .inspect()
        .callbacks.filter((c) => c.submissionId === result.submissionId && c.delivered),
    ).toEqual([]);
  });

  it('duplicate and reordered callbacks give exactly one result', async () => {
    stack.sandbox.setFaults({ duplicateCallbacksNext: 1, callbackReorder: true });
    const { registrationId } = await stack.producer.enqueueRegistration(
      registrationRequest(person('completed')),
    );
    const result = await stack.waitForResult(registrationId);
    stack.sandbox.setFaults({ callbackReorder: false });
    expect(result).toMatchObject({ status: 'COMPLETED', result: 'VALID' });
    // Every callback (4: two statuses, each twice) has been answered before we count results.
    await until(() => {
      const sent = stack.sandbox
        .inspect()
        .callbacks.filter((c) => c.submissionId === result.submissionId);
      return sent.length === 4 && sent.every((c) => c.delivered);
    });
    const completes = (stack.worker?.pipelines ?? []).map((p) => p.queues.steps.complete);
    for (const queue of completes) await queue.drain(false);
    await until(async () => {
      const active = await Promise.all(completes.map((queue) => queue.getActiveCount()));
      return active.every((count) => count === 0);
    });
    expect(stack.results.filter((r) => r.registrationId === registrationId)).toHaveLength(1);
    // COMPLETED arrived first; the late PARTIALLY_COMPLETED did not move it back.
    const view = await stack.producer.getRegistration(registrationId);
    expect(view?.status).toBe('COMPLETED');
    expect(view?.history.at(-1)?.status).toBe('COMPLETED');
  });

  it('an expired upload URL starts a new submission', async () => {
    stack.sandbox.setFaults({ expireUrlsNext: 1 });
    const { registrationId } = await stack.producer.enqueueRegistration(
      registrationRequest(person('completed')),
    );
    const result = await stack.waitForResult(registrationId);
    expect(result).toMatchObject({ status: 'COMPLETED', result: 'VALID' });
    const view = await stack.producer.getRegistration(registrationId);
    expect(view?.previousSubmissionIds).toHaveLength(1);
    expect(view?.previousSubmissionIds[0]).not.toBe(result.submissionId);
    expect(submissionOf(view?.previousSubmissionIds[0] ?? null)?.confirmCount).toBe(0);
    expect(submissionOf(result.submissionId)?.confirmCount).toBe(1);
  });

  it('gives up on expired URLs after MAX_REINITIATIONS new submissions', async () => {
    stack.sandbox.setFaults({ expireUrlsNext: 2 });
    const { registrationId } = await stack.producer.enqueueRegistration(
      registrationRequest(person('completed')),
    );
    const result = await stack.waitForResult(registrationId);
    expect(result.status).toBe('FAILED');
    expect(result.error?.code).toBe('REINITIATION_LIMIT');
  });

  it('5xx and 429 answers are retried until the registration completes', async () => {
    const before = stack.sandbox.inspect().calls;
    stack.sandbox.setFaults({
      failNext: { create_submission: 2, confirm: 1, upload: 1 },
      rateLimitNext: { confirm: 1 },
      retryAfterSeconds: 1,
    });
    const { registrationId } = await stack.producer.enqueueRegistration(
      registrationRequest(person('completed')),
    );
    const result = await stack.waitForResult(registrationId);
    expect(result).toMatchObject({ status: 'COMPLETED', result: 'VALID' });
    const after = stack.sandbox.inspect().calls;
    const grew = (endpoint: keyof typeof after, status: string) =>
      (after[endpoint][status] ?? 0) - (before[endpoint][status] ?? 0);
    expect(grew('create_submission', '500')).toBe(2);
    expect(grew('confirm', '500')).toBe(1);
    expect(grew('confirm', '429')).toBe(1);
    expect(grew('upload', '500')).toBe(1);
    expect(submissionOf(result.submissionId)?.confirmCount).toBe(1);
  });

  it('a 429 on confirm pauses the whole submission queue, for every worker, for its Retry-After', async () => {
    // A second worker app on the same queues, like another process of the service.
    const second = createWorkerApp(
      loadConfig(stack.env, ['common', 'esign', 'pipeline', 'pii']),
      silentLogger(),
      new Metrics({ defaultMetrics: false }),
    );
    const redis = connectTopology();
    try {
      const confirms = () =>
        Object.values(stack.sandbox.inspect().calls.confirm).reduce((a, b) => a + b, 0);
      const limited = () => stack.sandbox.inspect().calls.confirm['429'] ?? 0;
      const before = limited();
      stack.sandbox.setFaults({ rateLimitNext: { confirm: 1 }, retryAfterSeconds: 3 });
      const first = await stack.producer.enqueueRegistration(
        registrationRequest(person('completed')),
      );
      await until(() => limited() > before);
      const sent = confirms();
      const other = await stack.producer.enqueueRegistration(
        registrationRequest(person('completed')),
      );
      // While the pause set by the 429 lasts, no worker of the queue sends a confirm: confirm
      // runs in the submission (initiate) job, so that queue is paused (with QUEUE_PARTITIONS,
      // every partition's: Esign's limit is one).
      const { partitionPrefixes } = loadConfig(stack.env, ['common']).common;
      const pauseLeft = async () =>
        Math.min(
          ...(await Promise.all(
            partitionPrefixes.map((prefix) => redis.pttl(`${prefix}:initiate:limiter`)),
          )),
        );
      let looked = 0;
      while ((await pauseLeft()) > 300) {
        expect(confirms()).toBe(sent);
        looked += 1;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect(looked).toBeGreaterThan(5);
      for (const { registrationId } of [first, other]) {
        const result = await stack.waitForResult(registrationId);
        expect(result).toMatchObject({ status: 'COMPLETED', result: 'VALID' });
        expect(submissionOf(result.submissionId)?.confirmCount).toBe(1);
      }
    } finally {
      await second.close();
      await redis.quit();
    }
  });

  it('a submission that never finishes ends TIMED_OUT after POLL_GIVE_UP_MS', async () => {
    const { registrationId } = await stack.producer.enqueueRegistration(
      registrationRequest(person('stuck')),
    );
    const result = await stack.waitForResult(registrationId);
    expect(result).toMatchObject({ status: 'TIMED_OUT', source: 'poll', result: null });
    const view = await stack.producer.getRegistration(registrationId);
    expect(view?.pollAttempts).toBeGreaterThan(0);
  });

  it('an image that is not JPEG or PNG fails the registration, naming the document', async () => {
    // Enqueue checks the bytes of path and base64 images; a URL image is first read at upload.
    const gif = Buffer.from('GIF89a\x01\x00\x01\x00\x00\x00\x00;', 'binary');
    const server = createServer((_req, res) => res.end(gif));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const request = registrationRequest(person('completed'));
      request.images.selfie = { url: `http://127.0.0.1:${port}/selfie` };
      const { registrationId } = await stack.producer.enqueueRegistration(request);
      const result = await stack.waitForResult(registrationId);
      expect(result.status).toBe('FAILED');
      expect(result.error?.code).toBe('IMAGE_INVALID');
      expect(result.error?.message).toContain('SELFIE');
      expect(submissionOf(result.submissionId)?.confirmCount).toBe(0);
    } finally {
      server.close();
    }
  });
});

async function until(
  condition: () => boolean | Promise<boolean>,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
