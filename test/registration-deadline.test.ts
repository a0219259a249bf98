import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
});
