import type { RedisClient } from '../src/lib/redis-topology.ts';

/**
 * What Redis says it did, from INFO: CPU seconds, commands executed (commandstats counts a
 * command run inside a script or MULTI as well as the EVALSHA/EXEC around it; so does
 * `total_commands_processed` on Redis 7.0, which therefore cannot tell round trips), socket
 * reads (`total_reads_processed`: one per batch a client sent, our measure of round trips),
 * and memory. On a Cluster the masters' figures are summed.
 */

export interface RedisSample {
  /** used_cpu_sys + used_cpu_user, in ms. */
  cpuMs: number;
  /** Sum of every cmdstat_*'s calls. */
  calls: number;
  /** total_reads_processed: read events, one per request or pipelined batch received. */
  reads: number;
  /** used_memory, bytes. */
  usedMemory: number;
}

/** `key:value` lines of an INFO reply; section headers and blank lines skipped. */
export function parseInfo(text: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const colon = line.indexOf(':');
    if (colon > 0) fields.set(line.slice(0, colon), line.slice(colon + 1));
  }
  return fields;
}

/** The calls of every `cmdstat_<name>:calls=N,usec=…` line, summed. */
export function totalCalls(fields: Map<string, string>): number {
  let total = 0;
  for (const [key, value] of fields) {
    if (!key.startsWith('cmdstat_')) continue;
    const calls = /(?:^|,)calls=(\d+)/.exec(value);
    if (calls) total += Number(calls[1]);
  }
  return total;
}

export function sampleFromInfo(text: string): RedisSample {
  const fields = parseInfo(text);
  const number = (key: string): number => {
    const value = Number(fields.get(key));
    if (!Number.isFinite(value)) throw new Error(`INFO has no numeric ${key}`);
    return value;
  };
  return {
    cpuMs: (number('used_cpu_sys') + number('used_cpu_user')) * 1000,
    calls: totalCalls(fields),
    reads: number('total_reads_processed'),
    usedMemory: number('used_memory'),
  };
}

export function addSamples(a: RedisSample, b: RedisSample): RedisSample {
  return {
    cpuMs: a.cpuMs + b.cpuMs,
    calls: a.calls + b.calls,
    reads: a.reads + b.reads,
    usedMemory: a.usedMemory + b.usedMemory,
  };
}

export function subtractSamples(after: RedisSample, before: RedisSample): RedisSample {
  return {
    cpuMs: after.cpuMs - before.cpuMs,
    calls: after.calls - before.calls,
    reads: after.reads - before.reads,
    usedMemory: after.usedMemory - before.usedMemory,
  };
}

/** One sample over every server given (the masters of a Cluster, or the one server). */
export async function sampleRedis(servers: readonly RedisClient[]): Promise<RedisSample> {
  const samples = await Promise.all(
    servers.map(async (server) => sampleFromInfo(await server.info('everything'))),
  );
  return samples.reduce(addSamples);
}
