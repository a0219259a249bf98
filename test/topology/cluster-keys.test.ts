import { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { escapeGlob } from '../../src/lib/redis-scan.ts';
import { connectTopology } from '../support/redis.ts';
import { person, registrationRequest } from '../support/requests.ts';
import { startStack, type Stack } from '../support/stack.ts';

/**
 * On the local Redis Cluster (the `cluster` test project, QUEUE_PARTITIONS=3): each partition's
 * keys in one slot under its own tag (its re-drive lease too), the partitions on different
 * masters, the directory and the token under the base tag.
 */
describe('keys on Redis Cluster with QUEUE_PARTITIONS=3', () => {
  let stack: Stack;
  const redis = connectTopology() as Cluster;
  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(async () => {
    await stack.close();
    redis.disconnect();
  });

  it('spreads registrations over the three masters, each partition in one slot', async () => {
    expect(redis).toBeInstanceOf(Cluster);
    expect(stack.env.QUEUE_PARTITIONS).toBe('3');
    const enqueued = await Promise.all(
      Array.from({ length: 12 }, () =>
        stack.producer.enqueueRegistration(registrationRequest(person('completed'))),
      ),
    );
    for (const { registrationId } of enqueued) {
      const result = await stack.waitForResult(registrationId);
      expect(result).toMatchObject({ status: 'COMPLETED', result: 'VALID' });
      // status finds each one through the directory
      expect((await stack.producer.getRegistration(registrationId))?.status).toBe('COMPLETED');
    }

    const perMaster = new Map<number, { keys: string[]; records: number }>();
    for (const node of redis.nodes('master')) {
      const keys: string[] = [];
      let cursor = '0';
      do {
        const [next, batch] = await node.scan(cursor, 'MATCH', `*${escapeGlob(stack.prefix)}*`);
        cursor = next;
        keys.push(...batch);
      } while (cursor !== '0');
      const records = keys.filter((key) => key.includes(':registration:')).length;
      perMaster.set(node.options.port ?? 0, { keys, records });
    }
    console.log(
      'keys per master:',
      [...perMaster].map(
        ([port, { keys, records }]) => `${port}: ${keys.length} keys, ${records} records`,
      ),
    );
    expect([...perMaster.values()].filter(({ records }) => records > 0)).toHaveLength(3);
    expect([...perMaster.values()].reduce((sum, { records }) => sum + records, 0)).toBe(12);

    const all = [...perMaster.values()].flatMap(({ keys }) => keys);
    for (let index = 0; index < 3; index += 1) {
      const tag = `{${stack.prefix}-${index}}`;
      const mine = all.filter((key) => key.startsWith(`${tag}:`));
      expect(mine.length).toBeGreaterThan(0);
      // The partition's re-drive lease (the worker holds it while it runs) is on its slot too.
      expect(mine).toContain(`${tag}:redrive:lease`);
      const slots = new Set(
        await Promise.all(mine.map((key) => redis.call('CLUSTER', 'KEYSLOT', key))),
      );
      expect(slots.size).toBe(1);
    }
    // Under the base tag: the directory, the token, the one results queue.
    const base = all.filter((key) => key.startsWith(`${stack.keyPrefix}:`));
    expect(base).toEqual(
      expect.arrayContaining([
        `${stack.keyPrefix}:esign:token`,
        `${stack.keyPrefix}:partition-of-registration:${enqueued[0]!.registrationId}`,
        expect.stringMatching(/:partition-of-submission:/),
        expect.stringMatching(/:results:/),
      ]),
    );
    expect(
      all.every((key) => key.startsWith(`${stack.keyPrefix}:`) || /^\{[^}]+-\d\}:/.test(key)),
    ).toBe(true);
  });
});
