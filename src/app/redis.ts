import { Cluster, Redis, type RedisOptions as IoRedisOptions } from 'ioredis';
import type { Logger } from '../lib/logger.ts';
import type { RedisClient, RedisTopology } from '../lib/redis-topology.ts';

export interface RedisOptions {
  /** Fail commands fast instead of waiting for Redis to come back (request paths). */
  failFast?: boolean;
  name?: string;
  /** Where connection errors go; without a listener ioredis prints them as unhandled. */
  logger?: Logger;
}

/**
 * One connection to whatever topology is configured (a URL is a single server).
 *
 * BullMQ workers need `maxRetriesPerRequest: null` (their blocking commands must wait out a
 * Redis restart or a failover). Request paths (the callback listener, producers) must instead
 * fail fast, so a callback gets a 503 while Redis is down rather than hanging: `failFast`.
 * On Cluster the same options go to every node's connection (`redisOptions`), and BullMQ
 * duplicates the client for its blocking connections, so its workers get a Cluster too.
 */
export function connectRedis(
  where: RedisTopology | string,
  options: RedisOptions = {},
): RedisClient {
  const topology: RedisTopology =
    typeof where === 'string' ? { kind: 'single', url: where, tls: false } : where;
  const perNode: IoRedisOptions = {
    connectionName: options.name,
    ...(options.failFast
      ? { maxRetriesPerRequest: 1, commandTimeout: 5_000 }
      : { maxRetriesPerRequest: null }),
    ...(topology.username === undefined ? {} : { username: topology.username }),
    ...(topology.password === undefined ? {} : { password: topology.password }),
    ...(topology.tls ? { tls: {} } : {}),
  };
  const redis = open(topology, perNode);
  let lastLogged = 0;
  redis.on('error', (error: Error) => {
    // Reconnect attempts repeat the same error many times a second: log at most every 10 s.
    if (Date.now() - lastLogged < 10_000) return;
    lastLogged = Date.now();
    options.logger?.warn({ err: error, connection: options.name }, 'redis connection error');
  });
  return redis;
}

function open(topology: RedisTopology, perNode: IoRedisOptions): RedisClient {
  switch (topology.kind) {
    case 'single':
      return new Redis(topology.url, perNode);
    case 'sentinel':
      return new Redis({
        ...perNode,
        sentinels: topology.sentinels,
        name: topology.master,
        // The same credentials and TLS for the sentinels as for the master they point at.
        ...(topology.username === undefined ? {} : { sentinelUsername: topology.username }),
        ...(topology.password === undefined ? {} : { sentinelPassword: topology.password }),
        ...(topology.tls ? { enableTLSForSentinelMode: true, sentinelTLS: {} } : {}),
      });
    case 'cluster': {
      const cluster = new Cluster(topology.nodes, {
        redisOptions: perNode,
        slotsRefreshTimeout: 2_000,
      });
      if (perNode.commandTimeout !== undefined) boundOfflineQueue(cluster, perNode.commandTimeout);
      return cluster;
    }
  }
}

/**
 * A Cluster queues commands while no node is connected and, unlike a single connection, puts
 * no timeout on them: a request path would hang for as long as the cluster is down. Every
 * command gets the node connections' own timeout from the moment it is sent, queued or not
 * (ioredis's Command.setTimeout, the same timer `commandTimeout` sets; it is set once).
 */
function boundOfflineQueue(cluster: Cluster, timeoutMs: number): void {
  const send = cluster.sendCommand.bind(cluster);
  cluster.sendCommand = (command, ...rest) => {
    command.setTimeout(timeoutMs);
    return send(command, ...rest);
  };
}
