import type { TestProject } from 'vitest/node';
import { startRedisCluster, startRedisSentinel } from './redis-servers.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The Redis variables of the project's topology (none: the run's single Redis). */
    redisEnv: Record<string, string>;
  }
}

/**
 * The `cluster` and `sentinel` test projects run the end-to-end files again on a real local
 * Redis Cluster (3 masters, 3 replicas) or behind Sentinel (a master, a replica, three
 * sentinels), all plain redis-server processes (test/support/redis-servers.ts). The stacks
 * those files start take their Redis from `redisEnv` (test/support/stack.ts).
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  if (project.name === 'cluster') {
    const cluster = await startRedisCluster(3, 1);
    // Partitioned, so the end-to-end files spread their work over all three masters.
    project.provide('redisEnv', { ...cluster.env, QUEUE_PARTITIONS: '3' });
    return () => cluster.stop();
  }
  if (project.name === 'sentinel') {
    const sentinel = await startRedisSentinel(1);
    project.provide('redisEnv', sentinel.env);
    return () => sentinel.stop();
  }
  project.provide('redisEnv', {});
  return () => Promise.resolve();
}
