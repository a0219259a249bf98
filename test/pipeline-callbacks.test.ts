import { randomUUID } from 'node:crypto';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createListenerApp } from '../src/app/listener-app.ts';
import { loadConfig } from '../src/lib/config.ts';
import { silentLogger } from '../src/lib/logger.ts';
import { Metrics } from '../src/lib/metrics.ts';
import { person, registrationRequest } from './support/requests.ts';
import { callbackSecret, startStack, type Stack } from './support/stack.ts';
import { unreachableTopologyEnv } from './support/redis.ts';

/** The listener wired to the real Redis-backed sink (the listener alone is tested elsewhere). */
describe('callbacks into the pipeline', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(async () => {
    await stack.close();
  });

  const post = (body: unknown, token = callbackSecret) =>
    request(`${stack.listenerUrl}/callbacks/esign`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify(body),
    });

  it('answers 200 for an unknown submission and enqueues nothing', async () => {
    const counts = () =>
      Promise.all(
        (stack.worker?.pipelines ?? []).map((p) => p.queues.steps.complete.getJobCounts()),
      );
    const before = await counts();
    expect(before.length).toBeGreaterThan(0);
    const response = await post({
      submissionId: randomUUID(),
      status: 'COMPLETED',
      result: 'VALID',
    });
    expect(response.statusCode).toBe(200);
    await response.body.dump();
    expect(await counts()).toEqual(before);
    expect(await stack.metrics.text()).toMatch(
      /esign_worker_callbacks_total\{outcome="unknown"\} 1/,
    );
  });

  it('never lets a bad or unauthenticated callback touch a registration', async () => {
    const { registrationId } = await stack.producer.enqueueRegistration(
      registrationRequest(person('stuck')),
    );
    let submissionId: string | null = null;
    while (!submissionId) {
      submissionId = (await stack.producer.getRegistration(registrationId))?.submissionId ?? null;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const forged = await post(
      { submissionId, status: 'COMPLETED', result: 'VALID' },
      'wrong-token',
    );
    expect(forged.statusCode).toBe(401);
    await forged.body.dump();
    const invalid = await post({ submissionId, status: 'DONE' });
    expect(invalid.statusCode).toBe(400);
    await invalid.body.dump();
    const view = await stack.producer.getRegistration(registrationId);
    expect(view?.status).not.toBe('COMPLETED');
    expect(view?.history.every((entry) => entry.source !== 'callback')).toBe(true);
  });
});

describe('callbacks while Redis is down', () => {
  it('answers 503 so Esign retries: never acknowledged and then lost', async () => {
    const config = loadConfig(
      {
        ...unreachableTopologyEnv(),
        QUEUE_PREFIX: 'unreachable',
        CALLBACK_AUTH: 'none',
        CALLBACK_ALLOW_INSECURE: 'true',
      },
      ['common', 'listener', 'pipeline'],
    );
    const app = createListenerApp(config, silentLogger(), new Metrics({ defaultMetrics: false }));
    const { url } = await app.http.listen(0, '127.0.0.1');
    try {
      const response = await request(`${url}/callbacks/esign`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ submissionId: randomUUID(), status: 'COMPLETED', result: 'VALID' }),
      });
      expect(response.statusCode).toBe(503);
      await response.body.dump();
    } finally {
      await app.close();
    }
  });
});
