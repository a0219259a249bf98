import { Writable } from 'node:stream';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger, silentLogger } from '../src/lib/logger.ts';
import { RegistrationStore } from '../src/lib/registration/store.ts';
import { createQueues, type PipelineQueues } from '../src/queues/queues.ts';
import { startRedriver, type Redriver } from '../src/queues/redrive.ts';
import {
  createRedriveLease,
  redriveLeaseKey,
  redriveLeaseMs,
} from '../src/queues/redrive-lease.ts';
import { startPrivateRedis } from './support/private-redis.ts';
import { cleanPrefix, connect, uniquePrefix } from './support/redis.ts';
import { until } from './support/until.ts';

/**
 * One re-drive sweep per partition and interval across worker processes: the partition's lease
 * (src/queues/redrive-lease.ts) decides who sweeps. Two re-drivers here stand for two worker
 * processes (each has its own owner id); sweeps are counted, not timed.
 */
describe('the re-drive lease', () => {
  const redis = connect();
  const prefix = uniquePrefix('redrive-lease');
  let queues: PipelineQueues;
  const store = new RegistrationStore({ redis, prefix, retentionMs: 60_000 });

  beforeAll(() => {
    queues = createQueues(redis, prefix, { attempts: 1, backoffMs: 100 });
  });
  afterAll(async () => {
    await queues.close();
    await cleanPrefix(redis, prefix);
    redis.disconnect();
  });

  it('is held by one owner at a time; a stale one neither renews nor frees it', async () => {
    const key = redriveLeaseKey(`${prefix}-claims`);
    const first = createRedriveLease(redis, `${prefix}-claims`, 300);
    const second = createRedriveLease(redis, `${prefix}-claims`, 60_000);
    expect(await first.claim()).toBe(true);
    expect(await second.claim()).toBe(false);
    expect(await first.claim()).toBe(true); // renewed
    // The first stops renewing (a dead or stuck process): once it lapses the second takes it.
    await until(() => second.claim(), 10_000);
    expect(await first.claim()).toBe(false);
    await first.release(); // not its lease any more: left alone
    expect(await redis.pttl(key)).toBeGreaterThan(300);
    expect(await second.claim()).toBe(true);
    await second.release();
    expect(await redis.exists(key)).toBe(0);
    expect(await first.claim()).toBe(true);
    await first.release();
  });

  it('gets its key under the partition prefix, with a TTL', async () => {
    const lease = createRedriveLease(redis, prefix, 5_000);
    expect(await lease.claim()).toBe(true);
    const ttl = await redis.pttl(`${prefix}:redrive:lease`);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(5_000);
    await lease.release();
    expect(redriveLeaseMs(60_000)).toBeGreaterThan(60_000);
    expect(redriveLeaseMs(200)).toBeGreaterThan(200);
  });

  it('lets one of two workers sweep a partition; the other takes over when it stops', async () => {
    const intervalMs = 100;
    const sweeps = [0, 0];
    const start = (index: number): Redriver =>
      startRedriver({
        store,
        queues: queues.steps,
        afterMs: 1_000,
        now: Date.now,
        logger: silentLogger(),
        intervalMs,
        lease: createRedriveLease(redis, prefix, redriveLeaseMs(intervalMs)),
        onSweep: () => {
          sweeps[index]! += 1;
        },
      });
    const redrivers = [start(0), start(1)];
    // Both run their rounds every interval; only the lease's holder sweeps in them.
    await until(() => sweeps[0]! + sweeps[1]! >= 8, 20_000);
    const holder = sweeps[0]! > 0 ? 0 : 1;
    const other = 1 - holder;
    expect(sweeps[other]).toBe(0);
    expect(sweeps[holder]).toBeGreaterThanOrEqual(8);

    // The holder stops (and gives the lease up): the other sweeps from its next round.
    await redrivers[holder]!.stop();
    await until(() => sweeps[other]! >= 2, 20_000);
    const stoppedAt = sweeps[holder];
    await until(() => sweeps[other]! >= 4, 20_000);
    expect(sweeps[holder]).toBe(stoppedAt);
    await redrivers[other]!.stop();
    expect(await redis.exists(redriveLeaseKey(prefix))).toBe(0);
  });

  it('logs and skips a round whose claim fails (Redis gone), and sweeps again once it is back', async () => {
    // Its own Redis, killed and restarted empty: as an outage, then a Redis that lost the lease.
    const server = await startPrivateRedis();
    const own = new Redis(server.url, { maxRetriesPerRequest: 1 });
    const ownQueues = createQueues(own, prefix, { attempts: 1, backoffMs: 100 });
    const lines: string[] = [];
    const destination = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    let sweeps = 0;
    const redriver = startRedriver({
      store: new RegistrationStore({ redis: own, prefix, retentionMs: 60_000 }),
      queues: ownQueues.steps,
      afterMs: 1_000,
      now: Date.now,
      logger: createLogger({ level: 'warn', destination }),
      intervalMs: 100,
      lease: createRedriveLease(own, prefix, redriveLeaseMs(100)),
      onSweep: () => {
        sweeps += 1;
      },
    });
    try {
      await until(() => sweeps >= 1, 20_000);
      await server.kill('SIGKILL');
      await until(() => lines.some((line) => line.includes('re-drive lease not claimed')), 20_000);
      const sweptBefore = sweeps;
      await server.start();
      await until(() => sweeps > sweptBefore, 20_000);
      expect(await own.exists(redriveLeaseKey(prefix))).toBe(1);
    } finally {
      await redriver.stop();
      await ownQueues.close();
      own.disconnect();
      await server.close();
    }
  });
});
