import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './support/cli.ts';
import { connect, keysUnder } from './support/redis.ts';
import { person, registrationRequest } from './support/requests.ts';
import { startStack, type Stack } from './support/stack.ts';

/**
 * Every in-flight key expires, so the registration must end before they can: the deadline job
 * (REGISTRATION_TIMEOUT_MS after enqueue) ends a registration nothing else ended as TIMED_OUT,
 * published, and its keys then live for the retention. Here Esign never decides and no poll is
 * due before the deadline.
 */
describe('the registration deadline', () => {
  let stack: Stack;
  let redis: Redis;
  beforeAll(async () => {
    stack = await startStack({
      env: { POLL_GIVE_UP_MS: '1000', REGISTRATION_TIMEOUT_MS: '2000' },
      sandbox: { processingMs: 600_000, callback: undefined },
    });
    redis = connect();
  });
  afterAll(async () => {
    await stack.close();
    await redis.quit();
  });

  it('ends a registration stuck past its deadline TIMED_OUT, published, before its keys expire', async () => {
    const { registrationId } = await stack.producer.enqueueRegistration(
      registrationRequest(person('completed')),
    );
    const key = `${stack.prefix}:registration:${registrationId}`;
    const inFlightTtl = await redis.pttl(key);
    expect(inFlightTtl).toBeGreaterThan(2_000);

    const result = await stack.waitForResult(registrationId, 20_000);
    expect(result).toMatchObject({ status: 'TIMED_OUT', source: 'worker', error: null });
    const view = await stack.producer.getRegistration(registrationId);
    expect(view?.history.map((entry) => entry.status)).toEqual([
      'QUEUED',
      'INITIATED',
      'UPLOADED',
      'CONFIRMED',
      'TIMED_OUT',
    ]);
    // Ended: kept for the retention (30 days), far beyond the in-flight TTL.
    expect(await redis.pttl(key)).toBeGreaterThan(29 * 24 * 3600 * 1000);
    expect(await keysUnder(redis, `${stack.prefix}:registration-image:`)).toEqual([]);
  });

  it('moves out by the time the queues were paused (esign-worker pause), keys and all', async () => {
    const { registrationId } = await stack.producer.enqueueRegistration(
      registrationRequest(person('completed')),
    );
    const view = await stack.producer.getRegistration(registrationId);
    const enqueuedAt = Date.parse(view!.history[0]!.at);
    // Every step queue held for 3 s from just after the enqueue: the deadline job (2 s) must
    // not end it until 2 s of unpaused time have passed.
    // Paused at least the 3 s between the pause command's answer and the resume's call.
    expect((await runCli(['pause'], stack.env)).code).toBe(0);
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    expect((await runCli(['resume'], stack.env)).code).toBe(0);
    const pausedMs = 3_000;

    const result = await stack.waitForResult(registrationId, 20_000);
    expect(result).toMatchObject({ status: 'TIMED_OUT', source: 'worker' });
    const ended = await stack.producer.getRegistration(registrationId);
    const timedOutAt = Date.parse(ended!.history.at(-1)!.at);
    expect(timedOutAt - enqueuedAt).toBeGreaterThanOrEqual(2_000 + pausedMs);
    expect(stack.logLines.some((line) => line.includes('deadline moved out'))).toBe(true);
  });
});
