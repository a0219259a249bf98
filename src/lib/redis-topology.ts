import type { Cluster, Redis } from 'ioredis';
import { z } from 'zod';

/** A connection to any topology: one server (or a Sentinel-found master), or a Cluster. */
export type RedisClient = Redis | Cluster;

/**
 * Where Redis is, in one shape for every command: one server (REDIS_URL), a Redis Cluster
 * (REDIS_CLUSTER_NODES) or a master found through Sentinel (REDIS_SENTINELS +
 * REDIS_SENTINEL_MASTER). These variable names are a contract with deployment tooling.
 * Credentials and TLS for Cluster and Sentinel come from REDIS_USERNAME, REDIS_PASSWORD and
 * REDIS_TLS; for one server they may also be in the URL (`rediss://user:pass@host`).
 */
export type RedisTopology =
  | ({ kind: 'single'; url: string } & RedisAuth)
  | ({ kind: 'cluster'; nodes: HostPort[] } & RedisAuth)
  | ({ kind: 'sentinel'; sentinels: HostPort[]; master: string } & RedisAuth);

export interface HostPort {
  host: string;
  port: number;
}

export interface RedisAuth {
  username?: string | undefined;
  password?: string | undefined;
  tls: boolean;
}

const hostPorts = z
  .string()
  .optional()
  .transform((value, context) => {
    if (value === undefined) return undefined;
    const parts = value
      .split(',')
      .map((part) => part.trim())
      .filter(Boolean);
    const parsed = parts.map(parseHostPort);
    if (parts.length === 0 || parsed.some((entry) => entry === undefined)) {
      context.addIssue({ code: 'custom', message: 'must be host:port[,host:port…]' });
      return z.NEVER;
    }
    return parsed as HostPort[];
  });

/** The Redis variables of the common section (see config.ts). */
export const redisFields = {
  REDIS_URL: z
    .string()
    .regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL')
    .optional(),
  REDIS_USERNAME: z.string().optional(),
  REDIS_PASSWORD: z.string().optional(),
  REDIS_TLS: z
    .enum(['true', 'false', '1', '0', 'yes', 'no'])
    .default('false')
    .transform((value) => ['true', '1', 'yes'].includes(value)),
  REDIS_CLUSTER_NODES: hostPorts,
  REDIS_SENTINELS: hostPorts,
  REDIS_SENTINEL_MASTER: z.string().min(1).optional(),
};

export const defaultRedisUrl = 'redis://127.0.0.1:6379';

type RedisSettings = {
  [K in keyof typeof redisFields]?: z.infer<(typeof redisFields)[K]>;
};

/** The topology the (already checked) settings describe. */
export function redisTopology(settings: RedisSettings): RedisTopology {
  const auth: RedisAuth = {
    username: settings.REDIS_USERNAME,
    password: settings.REDIS_PASSWORD,
    tls: settings.REDIS_TLS ?? false,
  };
  if (settings.REDIS_CLUSTER_NODES)
    return { kind: 'cluster', nodes: settings.REDIS_CLUSTER_NODES, ...auth };
  if (settings.REDIS_SENTINELS)
    return {
      kind: 'sentinel',
      sentinels: settings.REDIS_SENTINELS,
      master: settings.REDIS_SENTINEL_MASTER ?? '',
      ...auth,
    };
  return { kind: 'single', url: settings.REDIS_URL ?? defaultRedisUrl, ...auth };
}

/**
 * Combinations that cannot work, named by variable. They read the raw values so they are
 * listed with every other problem of the environment.
 */
export function redisCrossCheck(env: Record<string, string | undefined>): string[] {
  const problems: string[] = [];
  const cluster = env.REDIS_CLUSTER_NODES !== undefined;
  const sentinel = env.REDIS_SENTINELS !== undefined;
  if (cluster && sentinel)
    problems.push(
      'REDIS_CLUSTER_NODES: cannot be combined with REDIS_SENTINELS (pick one topology)',
    );
  if ((cluster || sentinel) && env.REDIS_URL !== undefined)
    problems.push(
      `REDIS_URL: cannot be combined with ${cluster ? 'REDIS_CLUSTER_NODES' : 'REDIS_SENTINELS'} (pick one topology)`,
    );
  if (sentinel && env.REDIS_SENTINEL_MASTER === undefined)
    problems.push('REDIS_SENTINEL_MASTER: is required with REDIS_SENTINELS');
  if (!sentinel && env.REDIS_SENTINEL_MASTER !== undefined)
    problems.push('REDIS_SENTINEL_MASTER: needs REDIS_SENTINELS');
  if (Number(env.QUEUE_PARTITIONS ?? 1) > 1 && /[{}]/.test(env.QUEUE_PREFIX ?? ''))
    problems.push(
      'QUEUE_PREFIX: must be a plain name (no "{}") with QUEUE_PARTITIONS > 1: each partition gets its own tag',
    );
  return problems;
}

/**
 * The key prefix every key of the project lives under. On Cluster every Lua script and
 * multi-key command must touch one slot, so the prefix is a hash tag: `esign` becomes
 * `{esign}`; a prefix that already has a tag is used as it is. Elsewhere it stays as given,
 * so existing single-server keys (and the registrations in flight under them) are unchanged.
 */
export function keyPrefixFor(queuePrefix: string, topology: Pick<RedisTopology, 'kind'>): string {
  if (topology.kind !== 'cluster' || /\{[^{}]+\}/.test(queuePrefix)) return queuePrefix;
  return `{${queuePrefix}}`;
}

/**
 * The key prefix of each partition. One partition is the key prefix itself (today's layout);
 * N > 1 gives each its own hash tag, `{esign-0}` … `{esign-N-1}`, so a Cluster can place them
 * on different shards (a prefix with a tag of its own cannot be partitioned: redisCrossCheck).
 */
export function partitionPrefixes(queuePrefix: string, keyPrefix: string, count: number): string[] {
  if (count <= 1) return [keyPrefix];
  return Array.from({ length: count }, (_, index) => `{${queuePrefix}-${index}}`);
}

/** A printable place (no credentials), for logs and error messages. */
export function describeTopology(topology: RedisTopology): string {
  const list = (nodes: HostPort[]) => nodes.map((node) => `${node.host}:${node.port}`).join(',');
  if (topology.kind === 'cluster') return `cluster ${list(topology.nodes)}`;
  if (topology.kind === 'sentinel')
    return `sentinel master "${topology.master}" via ${list(topology.sentinels)}`;
  try {
    const url = new URL(topology.url);
    return `${url.protocol}//${url.host}`;
  } catch {
    return 'redis (unparseable URL)';
  }
}

function parseHostPort(text: string): HostPort | undefined {
  const match = /^(\[[0-9a-fA-F:]+\]|[^:\s]+):(\d{1,5})$/.exec(text);
  if (!match) return undefined;
  const port = Number(match[2]);
  if (port < 1 || port > 65_535) return undefined;
  return { host: match[1]!.replace(/^\[|\]$/g, ''), port };
}
