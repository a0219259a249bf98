import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { startRedisCluster, startRedisServer } from '../test/support/redis-servers.ts';
import { track } from './children.ts';

/**
 * The bench's own Redis, never a shared one: its INFO counters then speak of the bench alone.
 * One redis-server on a free loopback port, or a local Cluster of 3 masters and 3 replicas.
 */

export interface OwnRedis {
  /** What the service's processes get: REDIS_URL, or REDIS_CLUSTER_NODES. */
  env: Record<string, string>;
  /** A plain connection to each master, for INFO and MEMORY USAGE. */
  masters: Redis[];
  /** What was started, for the report. */
  describe: string;
  stop(): Promise<void>;
}

const direct = (port: number): Redis =>
  new Redis(port, '127.0.0.1', {
    maxRetriesPerRequest: 1,
    connectTimeout: 2_000,
    commandTimeout: 10_000,
  });

export async function startOwnRedis(cluster: boolean): Promise<OwnRedis> {
  if (cluster) {
    const started = await startRedisCluster(3, 1);
    for (const node of started.nodes) track(node.process);
    const masters = (await started.masterPorts()).map(direct);
    return {
      env: started.env,
      masters,
      describe: `a local Redis Cluster, 3 masters + 3 replicas`,
      async stop() {
        for (const master of masters) master.disconnect();
        await started.stop();
      },
    };
  }
  const dir = await mkdtemp(join(tmpdir(), 'esign-bench-redis-'));
  const server = await startRedisServer(dir);
  track(server.process);
  const masters = [direct(server.port)];
  return {
    env: { REDIS_URL: `redis://127.0.0.1:${server.port}` },
    masters,
    describe: `its own redis-server on port ${server.port}`,
    async stop() {
      for (const master of masters) master.disconnect();
      await server.kill();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
