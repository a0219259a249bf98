import { Cluster, Redis, type RedisOptions as IoRedisOptions } from 'ioredis';
import { createErrorLog, type ErrorLog } from '../lib/error-log.ts';
import type { Logger } from '../lib/logger.ts';
import type { RedisClient, RedisTopology } from '../lib/redis-topology.ts';

export interface RedisOptions {
  /**
   * Request paths (the callback listener, producers, the queue UI) fail within a few seconds
   * while Redis is away, so a callback gets a 503 rather than hanging. Without it commands wait
   * for Redis to return: BullMQ workers need that (`maxRetriesPerRequest: null`), their
   * blocking commands must wait out a Redis restart or a failover.
   */
  failFast?: boolean;
  /**
   * Health checks and scrape-time reads: never queued, refused at once while disconnected,
   * cut after 1 s when Redis hangs, and reconnecting within a second of its return, so
   * /readyz and /metrics tell the truth in ≤ 2 s.
   */
  probe?: boolean;
  name?: string;
  /** Where connection errors go (throttled); without a listener ioredis prints them. */
  logger?: Logger | undefined;
  /** Shared with the rest of the process, so one outage is one throttled line (lib/error-log). */
  errors?: ErrorLog | undefined;
}

/** Per-node options of each kind of connection (see RedisOptions). */
const modes = {
  wait: { maxRetriesPerRequest: null },
  failFast: { maxRetriesPerRequest: 1, commandTimeout: 5_000 },
  probe: {
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    connectTimeout: 1_000,
    commandTimeout: 1_000,
    retryStrategy: (attempt: number) => Math.min(attempt * 100, 1_000),
  },
} satisfies Record<string, IoRedisOptions>;

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
  const mode = options.probe ? 'probe' : options.failFast ? 'failFast' : 'wait';
  const perNode: IoRedisOptions = {
    connectionName: options.name,
    ...modes[mode],
    ...(topology.username === undefined ? {} : { username: topology.username }),
    ...(topology.password === undefined ? {} : { password: topology.password }),
    ...(topology.tls ? { tls: {} } : {}),
  };
  const redis = open(topology, perNode);
  // Reconnect attempts repeat the same error many times a second: throttled (lib/error-log).
  const errors = options.errors ?? (options.logger && createErrorLog(options.logger));
  const source = options.name ?? 'redis';
  redis.on('error', (error: Error) => errors?.report('redis connection error', source, error));
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
        // A probe refuses rather than queues on the cluster as on each node.
        ...(perNode.enableOfflineQueue === false && { enableOfflineQueue: false }),
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
