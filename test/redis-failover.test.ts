import { afterEach, describe, expect, it } from 'vitest';
import { waitUntil } from '../demo/child-process.ts';
import type { LocalStack } from '../demo/local-stack.ts';
import { isTerminal } from '../src/lib/registration/record.ts';
import { startLoadRun, untilAcknowledged } from './support/load-run.ts';
import {
  startRedisCluster,
  startRedisSentinel,
  untilClusterOk,
  type RedisCluster,
  type RedisSentinelSet,
} from './support/redis-servers.ts';

/**
 * A Redis master killed (SIGKILL) while 300 registrations run, on a local Redis Cluster
 * (3 masters + 3 replicas, QUEUE_PARTITIONS=3) and behind Sentinel (a master, a replica,
 * three sentinels). Its replica is promoted; the dead node then comes back (as a replica, so
 * REDIS_WAIT_REPLICAS=1 can be met again). Replication is asynchronous: with
 * REDIS_WAIT_REPLICAS=1 an enqueue is acknowledged only once a replica has it, so no
 * acknowledged registration is lost; the step writes a promotion can take back are redone by
 * the steps' own idempotence, the re-drive and adopt-before-create.
 *
 * What must hold (issue 12): every registration ends with the outcome its scenario predicts,
 * one result per dedupe key (every delivery of a registration's result is the same result),
 * and no submission or user confirmed twice at Esign.
 */
describe('a Redis master killed mid-run', () => {
  let stack: LocalStack | undefined;
  let stopRedis: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await stack?.close();
    await stopRedis?.();
    stack = undefined;
    stopRedis = undefined;
  });

  async function run(redisEnv: Record<string, string>, killMaster: () => Promise<void>) {
    const count = 300;
    const load = await startLoadRun({
      label: 'failover',
      count,
      env: { ...redisEnv, REDIS_WAIT_REPLICAS: '1', REDIS_WAIT_TIMEOUT_MS: '1000' },
      onStack: (started) => (stack = started),
    });
    const { stack: local, users } = load;
    await untilAcknowledged(load, 1 / 3);
    await killMaster();
    await load.enqueued;

    await waitUntil(
      async () => {
        for (const user of users) {
          const id = user.request.registrationId;
          if (!local.results.some((r) => r.registrationId === id)) return false;
          const view = await local.producer.getRegistration(id).catch(() => undefined);
          if (!view || !isTerminal(view.status)) return false;
        }
        return true;
      },
      { timeoutMs: 150_000, what: 'every registration to end with a result', everyMs: 1_000 },
    );

    const wrong: string[] = [];
    const differing: string[] = [];
    for (const user of users) {
      const results = local.results.filter((r) => r.registrationId === user.request.registrationId);
      const distinct = new Set(results.map((r) => JSON.stringify(r)));
      if (distinct.size > 1) differing.push(user.request.registrationId);
      for (const r of results) {
        const got = { status: r.status, result: r.result, reasonCode: r.reasonCode };
        if (JSON.stringify(got) !== JSON.stringify(user.expected))
          wrong.push(`${r.registrationId}: ${JSON.stringify(got)}`);
      }
    }
    const confirmedPerUser = new Map<string, number>();
    let reconfirmed = 0;
    for (const s of local.sandbox.inspect().submissions) {
      if (s.confirmCount > 0)
        confirmedPerUser.set(s.userId, (confirmedPerUser.get(s.userId) ?? 0) + 1);
      if (s.confirmCount > 1) reconfirmed += 1;
    }
    const twoConfirmed = [...confirmedPerUser].filter(([, n]) => n > 1);
    process.stderr.write(
      `failover: ${count} registrations, ${local.results.length} results delivered ` +
        `(${local.results.length - count} redelivered), ${wrong.length} wrong, ` +
        `${differing.length} with differing results, ${reconfirmed} submissions confirmed twice\n`,
    );
    expect(wrong).toEqual([]);
    expect(differing).toEqual([]);
    expect(reconfirmed).toBe(0);
    expect(twoConfirmed).toEqual([]);
  }

  it('on a Redis Cluster (QUEUE_PARTITIONS=3): the replica takes over, nothing is lost', async () => {
    const cluster: RedisCluster = await startRedisCluster(3, 1);
    stopRedis = () => cluster.stop();
    await run({ ...cluster.env, QUEUE_PARTITIONS: '3' }, async () => {
      const victimPort = (await cluster.masterPorts())[0]!;
      const victim = cluster.nodes.find((node) => node.port === victimPort)!;
      await victim.kill();
      // The replica is promoted after cluster-node-timeout; then the old master returns as
      // its replica, so WAIT 1 can be met again on that shard.
      await waitUntil(async () => !(await cluster.masterPorts()).includes(victimPort), {
        timeoutMs: 30_000,
        what: 'the replica to be promoted',
      });
      await victim.restart();
      await untilClusterOk(cluster.nodes, 30_000);
    });
  }, 240_000);

  it('behind Sentinel: the sentinels promote the replica, nothing is lost', async () => {
    const sentinel: RedisSentinelSet = await startRedisSentinel(1);
    stopRedis = () => sentinel.stop();
    await run(sentinel.env, async () => {
      const before = await sentinel.currentMasterPort();
      await sentinel.master.kill();
      await waitUntil(async () => (await sentinel.currentMasterPort()) !== before, {
        timeoutMs: 30_000,
        what: 'the sentinels to promote the replica',
      });
      // Back as a replica of the new master (the sentinels reconfigure it).
      await sentinel.master.restart();
    });
  }, 240_000);
});
