import { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scanKeys } from '../../src/lib/redis-scan.ts';
import { connectTopology } from '../support/redis.ts';
import { person, registrationRequest } from '../support/requests.ts';
import { startStack, type Stack } from '../support/stack.ts';

/** On the local Redis Cluster (the `cluster` test project): every key in one slot, one tag. */
describe('keys on Redis Cluster', () => {
  let stack: Stack;
  const redis = connectTopology();
  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(async () => {
    await stack.close();
    redis.disconnect();
  });

  it('lives under the hash-tagged prefix, every key in the same slot', async () => {
    expect(redis).toBeInstanceOf(Cluster);
    expect(stack.keyPrefix).toBe(`{${stack.prefix}}`);
    const { registrationId } = await stack.producer.enqueueRegistration(
      registrationRequest(person('completed')),
    );
    await stack.waitForResult(registrationId);

    const keys: string[] = [];
    for await (const batch of scanKeys(redis, `*${stack.prefix}*`)) keys.push(...batch);
    expect(keys.length).toBeGreaterThan(5);
    expect(keys.every((key) => key.startsWith(`${stack.keyPrefix}:`))).toBe(true);
    // What the project writes beside BullMQ's queues: the record, its indexes, the token.
    expect(keys).toEqual(
      expect.arrayContaining([
        `${stack.keyPrefix}:registration:${registrationId}`,
        `${stack.keyPrefix}:esign:token`,
        expect.stringMatching(/:registration-by-submission:/),
        expect.stringMatching(/:results:/),
      ]),
    );
    const slots = new Set(
      await Promise.all(keys.map((key) => redis.call('CLUSTER', 'KEYSLOT', key))),
    );
    expect(slots.size).toBe(1);
  });
});
