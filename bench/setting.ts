import type { BenchOptions, Setting } from './args.ts';
import { baselineClient, type BaselineListener } from './baseline.ts';
import type { OwnRedis } from './own-redis.ts';
import { keptBytes, retainedBytes } from './kept-bytes.ts';
import { countRequests } from './monitor.ts';
import {
  baselineRound,
  makeUsers,
  pipelineRound,
  type BaselineRound,
  type PipelineRound,
} from './rounds.ts';
import { startPipelineStack, type PipelineStack } from './stack.ts';

/**
 * One setting (latency, concurrency): a fresh stack, a warm-up round of each kind (JIT,
 * connections, the token), then `rounds` interleaved pairs, the order flipped every pair so
 * neither kind always runs on a box warmed (or loaded) by the other.
 */

export interface SettingResult {
  setting: Setting;
  pipeline: PipelineRound[];
  baseline: BaselineRound[];
  /**
   * MEMORY USAGE kept for the retention per registration: the growth of the keys from the end
   * of the warm-up to the end of the rounds, over the registrations finished in between
   * (kept-bytes.ts: results consumed and counted apart, so are keys that expire within an hour).
   */
  keptBytesPerRegistration: number;
  /** The same by kind of key (see kept-bytes.ts). */
  keptByKind: Map<string, number>;
  /** Requests per registration in the warm-up round, counted with MONITOR (monitor.ts). */
  requestsPerRegistration: number;
}

export async function runSetting(
  options: BenchOptions,
  setting: Setting,
  redis: OwnRedis,
  listener: BaselineListener,
  log: (line: string) => void,
  /** Given the stack (workers stopped) before it closes: for the intake measurement. */
  afterRounds?: (stack: PipelineStack) => Promise<void>,
): Promise<SettingResult> {
  const stack = await startPipelineStack({
    redisEnv: redis.env,
    setting,
    partitions: options.partitions,
    baselineCallbackUrl: listener.url,
  });
  listener.secret = stack.callbackSecret;
  const client = baselineClient(stack.env, stack.baselineSandboxUrl);
  const result: SettingResult = {
    setting,
    pipeline: [],
    baseline: [],
    keptBytesPerRegistration: Number.NaN,
    keptByKind: new Map(),
    requestsPerRegistration: Number.NaN,
  };
  try {
    await stack.startWorkers(options.workers);
    const warmUp = Math.min(options.count, 40);
    const counter = await countRequests(redis.masters);
    try {
      const counted = await pipelineRound(stack, redis, await makeUsers(stack, warmUp), counter);
      result.requestsPerRegistration = counted.requests;
    } finally {
      await counter.stop();
    }
    await baselineRound(
      client,
      listener,
      stack,
      await makeUsers(stack, warmUp),
      setting.concurrency,
    );
    // What a registration keeps is the growth from here to the end: the queues' own keys
    // (their metadata, event streams capped at EVENTS_KEPT) and the token are there already.
    const keptAfterWarmUp = await keptBytes(redis, stack.queuePrefix);
    let finished = warmUp;
    for (let round = 0; round < options.rounds; round += 1) {
      const pipelineUsers = await makeUsers(stack, options.count);
      const baselineUsers = await makeUsers(stack, options.count);
      const runPipeline = async () => {
        result.pipeline.push(await pipelineRound(stack, redis, pipelineUsers));
      };
      const runBaselineRound = async () => {
        result.baseline.push(
          await baselineRound(client, listener, stack, baselineUsers, setting.concurrency),
        );
      };
      if (round % 2 === 0) {
        await runPipeline();
        await runBaselineRound();
      } else {
        await runBaselineRound();
        await runPipeline();
      }
      finished += options.count;
      const p = result.pipeline.at(-1) as PipelineRound;
      const b = result.baseline.at(-1) as BaselineRound;
      log(
        `  round ${round + 1}/${options.rounds}: pipeline ${p.perSecond.toFixed(1)}/s, ` +
          `baseline ${b.perSecond.toFixed(1)}/s`,
      );
    }
    await stack.stopWorkers();
    await stack.consumeResults();
    const kept = await keptBytes(redis, stack.queuePrefix);
    const added = finished - warmUp;
    result.keptBytesPerRegistration =
      (retainedBytes(kept) - retainedBytes(keptAfterWarmUp)) / added;
    for (const [kind, bytes] of kept)
      result.keptByKind.set(kind, (bytes - (keptAfterWarmUp.get(kind) ?? 0)) / added);
    if (afterRounds) await afterRounds(stack);
    return result;
  } finally {
    await client.close();
    await stack.close();
  }
}
