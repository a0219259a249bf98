import type { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitUntil } from '../../demo/child-process.ts';
import { RegistrationStore } from '../../src/lib/registration/store.ts';
import { partitionPrefixes } from '../../src/lib/redis-topology.ts';
import { connectTopology } from '../support/redis.ts';
import { person, registrationRequest } from '../support/requests.ts';
import { startStack, type Stack } from '../support/stack.ts';

/**
 * On the local Redis Cluster (the `cluster` test project, one replica per master): the durable
 * acknowledgement waits on the master that took the writes, and the re-drive finds the
 * unfinished registrations wherever the hash tag put them.
 */
describe('durability on Redis Cluster', () => {
  let stack: Stack;
  const redis = connectTopology();
  beforeAll(async () => {
    stack = await startStack({ worker: 'none', env: { REDIS_WAIT_REPLICAS: '1' } });
    // A new cluster's replicas sync a few seconds after it forms (diskless sync waits 5 s);
    // until then WAIT rightly counts none.
    await waitUntil(
      async () => {
        await redis.ping();
        const infos = await Promise.all(
          (redis as Cluster).nodes('master').map((node) => node.info('replication')),
        ).catch(() => []);
        return infos.length > 0 && infos.every((info) => /slave0:.*state=online/.test(info));
      },
      { timeoutMs: 30_000, what: 'every master to have its replica online', everyMs: 200 },
    );
  }, 60_000);
  afterAll(async () => {
    await stack.close();
    redis.disconnect();
  });

  it('an enqueue returns once a replica has it; the re-drive sees it in flight', async () => {
    await expect(
      stack.producer.enqueueRegistration(registrationRequest(person('completed'))),
    ).resolves.toMatchObject({ created: true });
    const { registrationId, created } = await stack.producer.enqueueRegistration(
      registrationRequest(person('completed')),
    );
    expect(created).toBe(true);
    // Each partition has its own slots; the worker runs one re-driver per partition.
    const partitions = Number(stack.env.QUEUE_PARTITIONS ?? 1);
    const inFlight: string[] = [];
    for (const prefix of partitionPrefixes(stack.prefix, stack.keyPrefix, partitions)) {
      const store = new RegistrationStore({ redis, prefix, retentionMs: 60_000 });
      for await (const ids of store.slots.ids()) inFlight.push(...ids);
    }
    expect(inFlight).toContain(registrationId);
  });
});
