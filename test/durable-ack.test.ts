import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProducerApp } from '../src/app/producer-app.ts';
import { loadConfig } from '../src/lib/config.ts';
import { WorkerError } from '../src/lib/errors.ts';
import { createDurableAck, readDurability } from '../src/queues/durable-ack.ts';
import type { Producer } from '../src/queues/producer.ts';
import { startPrivateRedis, type PrivateRedis } from './support/private-redis.ts';
import { person, registrationRequest } from './support/requests.ts';

/**
 * An enqueue is acknowledged only once its writes are as durable as configured: with
 * REDIS_WAIT_REPLICAS a real replica (a private primary/replica pair on free ports) must have
 * them, and falling short is an error the caller sees.
 */
describe('durable acknowledgement of an enqueue', () => {
  let primary: PrivateRedis;
  let replica: PrivateRedis;
  let replicaClient: Redis;
  const producers: Producer[] = [];

  beforeAll(async () => {
    primary = await startPrivateRedis(['--appendonly', 'yes', '--appendfsync', 'everysec']);
    replica = await startPrivateRedis(['--replicaof', '127.0.0.1', String(primary.port)]);
    replicaClient = new Redis(replica.url, { maxRetriesPerRequest: 1 });
    // The replica has done its first sync once it reports the link up.
    for (let i = 0; i < 200; i += 1) {
      const info = await replicaClient.info('replication');
      if (info.includes('master_link_status:up')) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }, 30_000);
  afterAll(async () => {
    await Promise.all(producers.map((producer) => producer.close()));
    replicaClient.disconnect();
    await replica.close();
    await primary.close();
  });

  function producerOn(url: string, env: Record<string, string> = {}): Producer {
    const config = loadConfig(
      {
        REDIS_URL: url,
        QUEUE_PREFIX: 'durable',
        ESIGN_PARTNER_USER_ID_TYPE: 'T',
        PII_ENCRYPTION_KEY: 'a'.repeat(64),
        ...env,
      },
      ['common', 'pipeline', 'producer', 'pii'],
    );
    const producer = createProducerApp(config, { name: 'test-durable-producer' });
    producers.push(producer);
    return producer;
  }

  it('with REDIS_WAIT_REPLICAS=1 returns once the replica has the record and the first job', async () => {
    const producer = producerOn(primary.url, { REDIS_WAIT_REPLICAS: '1' });
    const { registrationId, created } = await producer.enqueueRegistration(
      registrationRequest(person('completed')),
    );
    expect(created).toBe(true);
    // Read from the replica right after the return: WAIT promised it is there already.
    const record = await replicaClient.get(`durable:registration:${registrationId}`);
    expect(JSON.parse(record ?? '{}')).toMatchObject({ registrationId, status: 'QUEUED' });
    const job = await replicaClient.hget(`durable:initiate:${registrationId}-initiate-g0`, 'data');
    expect(JSON.parse(job ?? '{}')).toMatchObject({ registrationId });
  });

  it('asking for more replicas than answer is an error naming the registration, not a success', async () => {
    const producer = producerOn(primary.url, {
      REDIS_WAIT_REPLICAS: '2',
      REDIS_WAIT_TIMEOUT_MS: '200',
    });
    const request = registrationRequest(person('completed'), { registrationId: 'durable-retry-1' });
    const attempt = producer.enqueueRegistration(request);
    await expect(attempt).rejects.toBeInstanceOf(WorkerError);
    await expect(attempt).rejects.toMatchObject({ code: 'REDIS_NOT_DURABLE', retryable: true });
    await expect(attempt).rejects.toThrow(
      /durable-retry-1 was written, but replicas confirmed it 1 of 2 times within 200 ms/,
    );
    // The writes were made: the same id again is idempotent, and waits again.
    await expect(producer.enqueueRegistration(request)).rejects.toThrow(/1 of 2/);
    const withOne = producerOn(primary.url, { REDIS_WAIT_REPLICAS: '1' });
    const settled = await withOne.enqueueRegistration(request);
    expect(settled).toMatchObject({ registrationId: 'durable-retry-1', created: false });
  });

  it('with the replica gone, the enqueue fails once the timeout passes', async () => {
    const producer = producerOn(primary.url, {
      REDIS_WAIT_REPLICAS: '1',
      REDIS_WAIT_TIMEOUT_MS: '300',
    });
    replica.pause(); // alive but silent: the link stays, acks stop
    try {
      const attempt = producer.enqueueRegistration(registrationRequest(person('completed')));
      await expect(attempt).rejects.toMatchObject({ code: 'REDIS_NOT_DURABLE' });
      await expect(attempt).rejects.toThrow(/0 of 1/);
    } finally {
      replica.resume();
    }
  });

  it('with Redis down, the enqueue fails (fast-failing connection), it does not hang', async () => {
    const down = await startPrivateRedis();
    const url = down.url;
    await down.close();
    const producer = producerOn(url, { REDIS_WAIT_REPLICAS: '1' });
    await expect(producer.enqueueRegistration(registrationRequest(person()))).rejects.toThrow();
  });

  it('finds what the server can promise: this 7.0 has no WAITAOF, so only WAIT is used', async () => {
    const redis = new Redis(primary.url, { maxRetriesPerRequest: 1 });
    try {
      const found = await createDurableAck(redis, { waitReplicas: 0, waitTimeoutMs: 100 }).detect();
      const version = (await redis.info('server')).match(/redis_version:(\S+)/)?.[1];
      expect(found.version).toBe(version);
      const [major = 0, minor = 0] = found.version.split('.').map(Number);
      expect(found.waitAof).toBe(major > 7 || (major === 7 && minor >= 2));
    } finally {
      redis.disconnect();
    }
  });

  it('uses WAITAOF exactly on 7.2+ with AOF on', () => {
    const info = (version: string, aof: 0 | 1) =>
      `# Server\r\nredis_version:${version}\r\n# Persistence\r\naof_enabled:${aof}\r\n`;
    expect(readDurability(info('7.0.15', 1))).toEqual({ version: '7.0.15', waitAof: false });
    expect(readDurability(info('7.2.0', 1))).toEqual({ version: '7.2.0', waitAof: true });
    expect(readDurability(info('8.0.1', 1)).waitAof).toBe(true);
    expect(readDurability(info('7.2.4', 0)).waitAof).toBe(false);
    expect(readDurability('').waitAof).toBe(false);
  });
});
