import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { freeLoopbackPort } from '../../demo/redis-discovery.ts';

/**
 * Real Redis topologies for tests, from plain `redis-server` processes on free loopback ports
 * (no Docker): one server, a Cluster (masters + replicas, made with `redis-cli --cluster
 * create`) and a Sentinel set (a master, its replicas and three sentinels). Each process has
 * its own directory; stop() kills them and removes it.
 */

export interface RedisServer {
  port: number;
  readonly process: ChildProcess;
  /** SIGKILL, and wait until it is gone. */
  kill(): Promise<void>;
  /** Start it again, same arguments (and `extra`) and port; resolves when it answers. */
  restart(extra?: string[]): Promise<void>;
}

export interface RedisCluster {
  /** Every node, masters first (as created). */
  nodes: RedisServer[];
  /** The service's environment for this cluster: REDIS_CLUSTER_NODES. */
  env: Record<string, string>;
  /** The masters' ports now (changes after a failover). */
  masterPorts(): Promise<number[]>;
  stop(): Promise<void>;
}

export interface RedisSentinelSet {
  master: RedisServer;
  replicas: RedisServer[];
  sentinels: RedisServer[];
  masterName: string;
  /** The service's environment: REDIS_SENTINELS and REDIS_SENTINEL_MASTER. */
  env: Record<string, string>;
  /** The port the sentinels name as master now. */
  currentMasterPort(): Promise<number>;
  /** The port every running sentinel names as master, or undefined while they disagree. */
  agreedMasterPort(): Promise<number | undefined>;
  stop(): Promise<void>;
}

/**
 * A redis-server (or `--sentinel` with a config file) with its own dir; resolves when it
 * answers. restart() starts it again with the same arguments and port (a Cluster node finds
 * its nodes file, a sentinel its rewritten config).
 */
export async function startRedisServer(
  dir: string,
  args: string[] = [],
  options: { sentinelConfig?: string } = {},
): Promise<RedisServer> {
  const port = await freeLoopbackPort();
  const base = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir];
  let argv: string[];
  if (options.sentinelConfig !== undefined) {
    const file = join(dir, `sentinel-${port}.conf`);
    await writeFile(file, options.sentinelConfig);
    argv = [file, '--sentinel', ...base, ...args];
  } else {
    argv = [...base, '--save', '', '--appendonly', 'no', ...args];
  }
  const spawnIt = (extra: string[] = []) => {
    const child = spawn('redis-server', [...argv, ...extra], { stdio: 'ignore' });
    const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    return { child, gone };
  };
  let current = spawnIt();
  const server: RedisServer = {
    port,
    get process() {
      return current.child;
    },
    async kill() {
      const { child, gone } = current;
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await gone;
    },
    async restart(extra = []) {
      await server.kill();
      current = spawnIt(extra);
      await untilAnswers(port, 10_000);
    },
  };
  await untilAnswers(port, 10_000).catch(async (error: unknown) => {
    await server.kill();
    throw error;
  });
  return server;
}

async function untilAnswers(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const redis = new Redis(port, '127.0.0.1', {
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
      retryStrategy: () => null,
      connectTimeout: 500,
    });
    redis.on('error', () => undefined);
    try {
      await redis.connect();
      if ((await redis.ping()) === 'PONG') return;
    } catch {
      // not yet
    } finally {
      redis.disconnect();
    }
    await sleep(50);
  }
  throw new Error(`redis-server on port ${port} did not answer within ${timeoutMs} ms`);
}

/** A Redis Cluster of `masters` masters with `replicas` replicas each, slots spread evenly. */
export async function startRedisCluster(masters = 3, replicas = 1): Promise<RedisCluster> {
  const dir = await mkdtemp(join(tmpdir(), 'esign-cluster-'));
  const nodes: RedisServer[] = [];
  const stop = async () => {
    await Promise.all(nodes.map((node) => node.kill()));
    await rm(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < masters * (1 + replicas); i += 1)
      nodes.push(
        await startRedisServer(dir, [
          '--cluster-enabled',
          'yes',
          '--cluster-config-file',
          `nodes-${i}.conf`,
          '--cluster-node-timeout',
          '2000',
        ]),
      );
    const create = spawnSync(
      'redis-cli',
      [
        '--cluster',
        'create',
        ...nodes.map((node) => `127.0.0.1:${node.port}`),
        '--cluster-replicas',
        String(replicas),
        '--cluster-yes',
      ],
      { encoding: 'utf8', timeout: 30_000 },
    );
    if (create.status !== 0)
      throw new Error(`redis-cli --cluster create failed: ${create.stdout}${create.stderr}`);
    await untilClusterOk(nodes, 30_000);
  } catch (error) {
    await stop();
    throw error;
  }
  const masterPorts = async () => {
    const alive = nodes.find(isRunning);
    if (!alive) return [];
    const redis = quiet(new Redis(alive.port, '127.0.0.1', { maxRetriesPerRequest: 1 }));
    try {
      const shards = (await redis.call('CLUSTER', 'SLOTS')) as [number, number, [string, number]][];
      return [...new Set(shards.map((shard) => shard[2][1]))].sort((a, b) => a - b);
    } finally {
      redis.disconnect();
    }
  };
  return {
    nodes,
    env: { REDIS_CLUSTER_NODES: nodes.map((node) => `127.0.0.1:${node.port}`).join(',') },
    masterPorts,
    stop,
  };
}

/** Every live node says `cluster_state:ok` (slots assigned, replicas joined). */
export async function untilClusterOk(nodes: RedisServer[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (const node of nodes) {
    if (!isRunning(node)) continue;
    const redis = quiet(new Redis(node.port, '127.0.0.1', { maxRetriesPerRequest: 1 }));
    try {
      for (;;) {
        const info = String(await redis.call('CLUSTER', 'INFO'));
        if (info.includes('cluster_state:ok')) break;
        if (Date.now() > deadline) throw new Error(`cluster not ok on port ${node.port}: ${info}`);
        await sleep(100);
      }
    } finally {
      redis.disconnect();
    }
  }
}

/** One master, `replicas` replicas and three sentinels watching it (quorum 2, fast failover). */
export async function startRedisSentinel(replicas = 1): Promise<RedisSentinelSet> {
  const dir = await mkdtemp(join(tmpdir(), 'esign-sentinel-'));
  const started: RedisServer[] = [];
  const masterName = 'esign-master';
  const stop = async () => {
    await Promise.all(started.map((server) => server.kill()));
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const master = await startRedisServer(dir, ['--dbfilename', 'master.rdb']);
    started.push(master);
    const replicaServers: RedisServer[] = [];
    for (let i = 0; i < replicas; i += 1) {
      const replica = await startRedisServer(dir, [
        '--replicaof',
        '127.0.0.1',
        String(master.port),
        '--dbfilename',
        `replica-${i}.rdb`,
      ]);
      started.push(replica);
      replicaServers.push(replica);
    }
    const sentinels: RedisServer[] = [];
    for (let i = 0; i < 3; i += 1) {
      const sentinel = await startRedisServer(dir, [], {
        sentinelConfig: [
          `sentinel monitor ${masterName} 127.0.0.1 ${master.port} 2`,
          `sentinel down-after-milliseconds ${masterName} 1000`,
          `sentinel failover-timeout ${masterName} 5000`,
          `sentinel parallel-syncs ${masterName} 1`,
          '',
        ].join('\n'),
      });
      started.push(sentinel);
      sentinels.push(sentinel);
    }
    const masterPortSeenBy = async (sentinel: RedisServer) => {
      const redis = quiet(new Redis(sentinel.port, '127.0.0.1', { maxRetriesPerRequest: 1 }));
      try {
        const [, port] = (await redis.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', masterName)) as [
          string,
          string,
        ];
        return Number(port);
      } finally {
        redis.disconnect();
      }
    };
    const currentMasterPort = () => masterPortSeenBy(sentinels.find(isRunning) ?? sentinels[0]!);
    const agreedMasterPort = async () => {
      const seen = new Set(await Promise.all(sentinels.filter(isRunning).map(masterPortSeenBy)));
      return seen.size === 1 ? [...seen][0] : undefined;
    };
    return {
      master,
      replicas: replicaServers,
      sentinels,
      masterName,
      env: {
        REDIS_SENTINELS: sentinels.map((server) => `127.0.0.1:${server.port}`).join(','),
        REDIS_SENTINEL_MASTER: masterName,
      },
      currentMasterPort,
      agreedMasterPort,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

function isRunning(server: RedisServer): boolean {
  return server.process.exitCode === null && server.process.signalCode === null;
}

/** A look-up connection whose failures are its calls' rejections, not printed events. */
function quiet(redis: Redis): Redis {
  redis.on('error', () => undefined);
  return redis;
}
