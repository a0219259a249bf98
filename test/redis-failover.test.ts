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

    // Every registration ends with a result; if not, say which are where (for the next look).
    const unfinished = async () => {
      const open: string[] = [];
      for (const user of users) {
        const id = user.request.registrationId;
        const view = await local.producer.getRegistration(id).catch(() => undefined);
        const published = local.results.some((r) => r.registrationId === id);
        if (!published || !view || !isTerminal(view.status))
          open.push(`${id}: ${view?.status ?? 'no record'}${published ? ', published' : ''}`);
      }
      return open;
    };
    await waitUntil(async () => (await unfinished()).length === 0, {
      timeoutMs: 150_000,
      what: 'every registration to end with a result',
      everyMs: 1_000,
    }).catch(async (error: unknown) => {
      const open = await unfinished();
      throw new Error(
        `${(error as Error).message}: ${open.length} not: ${open.slice(0, 10).join('; ')}`,
      );
    });

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
      // Every sentinel names the promoted replica before the old master returns, and it
      // returns as that one's replica, as an operator brings a failed node back: restarted as
      // it was, it would be an empty master until the sentinels turn it, and a client asking a
      // sentinel that is behind could write to it meanwhile (writes Redis then drops).
      let promoted = 0;
      await waitUntil(
        async () => {
          const agreed = await sentinel.agreedMasterPort();
          promoted = agreed !== undefined && agreed !== before ? agreed : 0;
          return promoted > 0;
        },
        { timeoutMs: 30_000, what: 'every sentinel to name the promoted replica' },
      );
      await sentinel.master.restart(['--replicaof', '127.0.0.1', String(promoted)]);
    });
  }, 240_000);
});
