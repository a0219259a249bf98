import { Cluster, type Redis } from 'ioredis';
import { retryable } from '../lib/errors.ts';
import type { Logger } from '../lib/logger.ts';
import type { RedisClient } from '../lib/redis-topology.ts';

/**
 * Durable acknowledgement: an enqueue returns only once what it wrote (the record and the first
 * job) is as durable as the server can promise, so "created" is never said of a registration
 * a crash a moment later can take back without the caller hearing.
 *
 * - Redis ≥ 7.2 with AOF on: `WAITAOF 1 0 <timeout>`, the writes are fsynced to the local AOF.
 * - `REDIS_WAIT_REPLICAS` > 0: `WAIT <replicas> <timeout>`, that many replicas have them.
 * - Older servers (7.0 has no WAITAOF) or AOF off: nothing to wait for locally; what an OS crash
 *   can lose then is in docs/operations.md ("Redis durability").
 *
 * WAIT and WAITAOF cover the writes made on the connection they are sent on, so they are sent
 * on the producer's own connection, after its writes; on a Cluster to every master on the
 * connections that carried the writes (a master this client wrote nothing to answers at once).
 * Falling short is an error the caller
 * sees (`REDIS_NOT_DURABLE`): the writes were made, so enqueueing again with the same
 * registrationId is safe and waits again.
 */

export interface DurabilitySettings {
  /** REDIS_WAIT_REPLICAS: replicas that must have the writes (0: none asked for). */
  waitReplicas: number;
  /** REDIS_WAIT_TIMEOUT_MS: how long WAIT / WAITAOF may block. */
  waitTimeoutMs: number;
}

export const noReplicaWait: DurabilitySettings = { waitReplicas: 0, waitTimeoutMs: 1_000 };

/** What the server can promise, found once from `INFO`. */
export interface ServerDurability {
  version: string;
  /** WAITAOF exists (≥ 7.2) and AOF is on: a local fsync can be awaited. */
  waitAof: boolean;
}

export interface DurableAck {
  /** Find what the server can promise (at start; again after a failure). */
  detect(): Promise<ServerDurability>;
  /** Wait until this connection's writes so far are durable as configured; throws if not. */
  confirm(registrationId: string): Promise<void>;
}

/** Room for the reply of a WAIT that blocked its full timeout, and for INFO. */
const REPLY_MARGIN_MS = 2_000;

export function createDurableAck(
  redis: RedisClient,
  settings: DurabilitySettings,
  logger?: Logger,
): DurableAck {
  let detected: Promise<ServerDurability> | undefined;
  const detect = (): Promise<ServerDurability> => {
    detected ??= withDeadline(
      servers(redis).then((nodes) => Promise.all(nodes.map((server) => server.info()))),
      REPLY_MARGIN_MS,
      'INFO',
    ).then(
      (infos) => {
        // What every master can promise: WAITAOF only if all of them have it.
        const all = infos.map(readDurability);
        const found = all.find((one) => !one.waitAof) ?? all[0];
        if (!found) throw retryable('REDIS_NOT_DURABLE', 'Redis answered with no server');
        if (!found.waitAof)
          logger?.info(
            { redisVersion: found.version },
            'Redis cannot confirm an AOF fsync (WAITAOF needs 7.2+ and appendonly yes): ' +
              'an enqueue is acknowledged once written, see docs/operations.md',
          );
        return found;
      },
      (error: unknown) => {
        detected = undefined; // not remembered: the next enqueue asks again
        throw error;
      },
    );
    return detected;
  };

  return {
    detect,
    async confirm(registrationId) {
      const server = await detect();
      await Promise.all(
        (await servers(redis)).map((node) => confirmOn(node, server, settings, registrationId)),
      );
    },
  };
}

/** The connections that carry writes: every master of a Cluster (known once it has connected). */
async function servers(redis: RedisClient): Promise<Redis[]> {
  if (!(redis instanceof Cluster)) return [redis];
  if (redis.nodes('master').length === 0) await redis.ping();
  return redis.nodes('master');
}

async function confirmOn(
  redis: Redis,
  server: ServerDurability,
  settings: DurabilitySettings,
  registrationId: string,
): Promise<void> {
  const { waitReplicas, waitTimeoutMs } = settings;
  const deadline = waitTimeoutMs + REPLY_MARGIN_MS;
  if (server.waitAof) {
    const reply = await withDeadline(
      redis.call('WAITAOF', 1, 0, waitTimeoutMs),
      deadline,
      'WAITAOF',
    );
    const local = Array.isArray(reply) ? Number(reply[0]) : 0;
    if (local < 1) throw notDurable(registrationId, 'the AOF fsync', 0, 1, waitTimeoutMs);
  }
  if (waitReplicas > 0) {
    const acked = await withDeadline(redis.wait(waitReplicas, waitTimeoutMs), deadline, 'WAIT');
    if (acked < waitReplicas)
      throw notDurable(registrationId, 'replicas', acked, waitReplicas, waitTimeoutMs);
  }
}

/** `INFO` (server and persistence sections) → the version and whether WAITAOF can be used. */
export function readDurability(info: string): ServerDurability {
  const field = (name: string) => new RegExp(`^${name}:(.*)$`, 'm').exec(info)?.[1]?.trim();
  const version = field('redis_version') ?? '0.0.0';
  const aofOn = field('aof_enabled') === '1';
  return { version, waitAof: aofOn && atLeast(version, [7, 2]) };
}

function atLeast(version: string, wanted: readonly [number, number]): boolean {
  const [major = 0, minor = 0] = version.split('.').map(Number);
  return major > wanted[0] || (major === wanted[0] && minor >= wanted[1]);
}

function notDurable(
  registrationId: string,
  what: string,
  got: number,
  wanted: number,
  timeoutMs: number,
) {
  return retryable(
    'REDIS_NOT_DURABLE',
    `registration ${registrationId} was written, but ${what} confirmed it ${got} of ${wanted} ` +
      `times within ${timeoutMs} ms: it may be lost if Redis fails now; enqueue it again with ` +
      'the same registrationId',
  );
}

/** Every call to Redis has a deadline, also on a caller's connection that sets none. */
async function withDeadline<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  work.catch(() => undefined); // a late failure after the deadline is not unhandled
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(retryable('REDIS_NOT_DURABLE', `Redis did not answer ${what} within ${ms} ms`));
    }, ms);
  });
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}
