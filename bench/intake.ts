import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { connectRedis } from '../src/app/redis.ts';
import { loadConfig } from '../src/lib/config.ts';
import { RegistrationStore } from '../src/lib/registration/store.ts';
import { track } from './children.ts';
import { closedLoop, fixedRate, type LoadTarget } from './load.ts';
import type { RedisClient } from '../src/lib/redis-topology.ts';
import { cpuMsOf } from './proc.ts';
import { sampleRedis, subtractSamples } from './redis-info.ts';
import { percentile } from './stats.ts';
import type { PipelineStack } from './stack.ts';

/**
 * P2 (issue 11): callbacks accepted per second by the listener process against a bare
 * node:http process that only awaits Queue.add of the same payload, at the same closed-loop
 * load, in interleaved rounds; then each at a fixed 300/s for its latency. Every callback is
 * for a distinct submission the store knows, so the listener accepts each (no duplicates).
 */

export interface IntakeSide {
  perSecond: number[];
  /** CPU ms of the side's process per accepted callback, in each closed-loop round. */
  cpuMsPerCallback: number[];
  /** Redis per accepted callback, each closed-loop round: CPU ms, commands (scripts' inner
   *  ones counted), socket reads (round trips). */
  redisCpuMsPerCallback: number[];
  redisCommandsPerCallback: number[];
  redisReadsPerCallback: number[];
  p50: number;
  p99: number;
  failures: number;
}

export interface IntakeResult {
  listener: IntakeSide;
  bare: IntakeSide;
  rate: number;
}

const RATE = 300;
const CONNECTIONS = 16;

async function startBare(env: Record<string, string>) {
  const child = spawn(
    process.execPath,
    [fileURLToPath(new URL('bare-intake.ts', import.meta.url))],
    {
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  track(child);
  const [line] = (await Promise.race([
    once(createInterface({ input: child.stdout }), 'line'),
    once(child, 'exit').then(() => {
      throw new Error('the bare intake process exited before it was ready');
    }),
  ])) as [string];
  const { url } = JSON.parse(line) as { url: string };
  return {
    url,
    pid: child.pid as number,
    async stop() {
      child.kill('SIGTERM');
      if (child.exitCode === null) await once(child, 'exit');
    },
  };
}

export async function measureIntake(
  stack: Pick<PipelineStack, 'env' | 'keyPrefix' | 'listenerUrl' | 'callbackSecret' | 'listener'>,
  quick: boolean,
  masters: readonly RedisClient[],
): Promise<IntakeResult> {
  const rounds = quick ? 3 : 5;
  const durationMs = quick ? 1_500 : 3_000;
  // The bare process starts here, cold, while the listener has been taking the pipeline's
  // callbacks: one unrecorded round of each first, so neither is measured while its code
  // is still being compiled.
  const warmUpMs = 1_000;
  const rateMs = quick ? 3_000 : 5_000;
  // Enough known submissions for the listener's closed loops and its fixed-rate run.
  const needed = (rounds * durationMs + warmUpMs) * 15 + (RATE * rateMs) / 1000;
  const ids = Array.from({ length: Math.ceil(needed) }, () => randomUUID());
  const { redis: topology } = loadConfig(stack.env, ['common']).common;
  const connection = connectRedis(topology, { name: 'esign-bench-index' });
  try {
    const store = new RegistrationStore({
      redis: connection,
      prefix: stack.keyPrefix,
      retentionMs: 86_400_000,
    });
    for (let i = 0; i < ids.length; i += 1000)
      await Promise.all(
        ids.slice(i, i + 1000).map((id) => store.submissions.add(id, `bench-intake-${id}`)),
      );
  } finally {
    connection.disconnect();
  }

  const body = (i: number): string =>
    JSON.stringify({
      submissionId: ids[i % ids.length],
      status: 'COMPLETED',
      result: 'VALID',
      processedAt: new Date().toISOString(),
      reasonCode: null,
    });
  const listener: LoadTarget = {
    url: stack.listenerUrl,
    path: '/callbacks/esign',
    headers: { authorization: `Bearer ${stack.callbackSecret}` },
    body,
  };
  const bare = await startBare(stack.env);
  const bareTarget: LoadTarget = { url: bare.url, path: '/', headers: {}, body };
  const result: IntakeResult = { listener: emptySide(), bare: emptySide(), rate: RATE };
  try {
    let next = 0;
    for (const target of [listener, bareTarget]) {
      const run = await closedLoop(target, {
        connections: CONNECTIONS,
        durationMs: warmUpMs,
        firstIndex: next,
      });
      next += run.sent;
    }
    for (let round = 0; round < rounds; round += 1) {
      const order =
        round % 2 === 0 ? (['listener', 'bare'] as const) : (['bare', 'listener'] as const);
      for (const side of order) {
        const pid = side === 'listener' ? stack.listener.pid : bare.pid;
        const cpuBefore = await cpuMsOf(pid);
        const redisBefore = await sampleRedis(masters);
        const run = await closedLoop(side === 'listener' ? listener : bareTarget, {
          connections: CONNECTIONS,
          durationMs,
          firstIndex: next,
        });
        next += run.sent;
        result[side].perSecond.push(run.perSecond);
        const accepted = Math.max(1, run.latencies.length);
        const redis = subtractSamples(await sampleRedis(masters), redisBefore);
        result[side].cpuMsPerCallback.push(((await cpuMsOf(pid)) - cpuBefore) / accepted);
        result[side].redisCpuMsPerCallback.push(redis.cpuMs / accepted);
        // Less the two INFO calls of the sample itself.
        result[side].redisCommandsPerCallback.push((redis.calls - masters.length) / accepted);
        result[side].redisReadsPerCallback.push((redis.reads - masters.length) / accepted);
        result[side].failures += run.failures;
      }
    }
    for (const side of ['listener', 'bare'] as const) {
      const run = await fixedRate(side === 'listener' ? listener : bareTarget, {
        rate: RATE,
        durationMs: rateMs,
        firstIndex: next,
      });
      next += Math.round((RATE * rateMs) / 1000);
      result[side].p50 = percentile(run.latencies, 50);
      result[side].p99 = percentile(run.latencies, 99);
      result[side].failures += run.failures;
    }
  } finally {
    await bare.stop();
  }
  return result;
}

/** A side with nothing measured yet. */
function emptySide(): IntakeSide {
  return {
    perSecond: [],
    cpuMsPerCallback: [],
    redisCpuMsPerCallback: [],
    redisCommandsPerCallback: [],
    redisReadsPerCallback: [],
    p50: Number.NaN,
    p99: Number.NaN,
    failures: 0,
  };
}
