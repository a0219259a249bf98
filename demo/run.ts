import { randomUUID } from 'node:crypto';
import { loadConfig } from '../src/lib/config.ts';
import { describeTopology } from '../src/lib/redis-topology.ts';
import { demoServiceEnv, loadDemoConfig, type DemoConfig } from './config.ts';
import { ValidationError } from '../src/lib/errors.ts';
import { createLogger } from '../src/lib/logger.ts';
import type { RegistrationResult } from '../src/lib/registration/record.ts';
import { createProgress, type Progress } from './progress.ts';
import { describeRedisUrl, discoverRedis, RedisUnavailableError } from './redis-discovery.ts';
import { startLocalStack, type LocalStack } from './local-stack.ts';
import { summarise } from './summary.ts';
import { createDemoUsers, type DemoUser } from './users.ts';

/**
 * `esign-worker demo [count]`: the whole service on one machine against the sandbox, with
 * synthetic users covering every scenario, a progress bar and a summary that checks each
 * outcome against its scenario. Exit code 0 only when every registration ended as predicted.
 */

export interface DemoOptions {
  env: Record<string, string | undefined>;
  count: number | undefined;
  out: NodeJS.WritableStream;
  /** Aborted on Ctrl-C (main.ts): stop waiting, close everything, exit 130. */
  signal?: AbortSignal;
}

class DemoFailure extends Error {
  override name = 'DemoFailure';
}

export async function runDemo(options: DemoOptions): Promise<number> {
  const { env, out } = options;
  const say = (line = '') => out.write(`${line}\n`);
  let settings: DemoConfig;
  try {
    settings = loadDemoConfig(env);
  } catch (error) {
    if (error instanceof ValidationError) say(error.message);
    else throw error;
    return 2;
  }
  const count = options.count ?? settings.DEMO_COUNT;
  if (!Number.isInteger(count) || count < 1) {
    say('usage: esign-worker demo [count]   (count: a whole number of registrations, at least 1)');
    return 2;
  }
  const logLevel = loadConfig({ LOG_LEVEL: env.LOG_LEVEL ?? 'warn' }, ['common']).common.LOG_LEVEL;

  // A Redis Cluster or Sentinel set is used as given (REDIS_CLUSTER_NODES / REDIS_SENTINELS and
  // their credentials); otherwise one Redis is found or started (REDIS_URL first).
  const topologyEnv = Object.fromEntries(
    Object.entries(env).filter(
      ([name, value]) =>
        value &&
        /^REDIS_(CLUSTER_NODES|SENTINELS|SENTINEL_MASTER|USERNAME|PASSWORD|TLS)$/.test(name),
    ),
  ) as Record<string, string>;
  const distributed = Boolean(topologyEnv.REDIS_CLUSTER_NODES || topologyEnv.REDIS_SENTINELS);
  let redis: { url: string; origin: string; stop(): Promise<void> } | undefined;
  let where: string;
  try {
    if (distributed) {
      where = describeTopology(loadConfig(topologyEnv, ['common']).common.redis);
    } else {
      redis = await discoverRedis({ redisUrl: env.REDIS_URL });
      where = `${describeRedisUrl(redis.url)} (${redis.origin})`;
    }
  } catch (error) {
    if (!(error instanceof RedisUnavailableError || error instanceof ValidationError)) throw error;
    say(error.message);
    return 1;
  }
  const prefix = `demo-${randomUUID().slice(0, 8)}`;
  say(`esign-worker demo: ${count} synthetic registrations against the Esign sandbox`);
  say(`Redis ${where}, queue prefix ${prefix}`);

  let stack: LocalStack | undefined;
  try {
    const results = new Map<string, RegistrationResult>();
    // The bar is made once the users are: its clock shows the run, not the making of images.
    const shown: { progress?: Progress } = {};
    const allDone = Promise.withResolvers<void>();
    const dropRate = settings.DEMO_CALLBACK_DROP_RATE;
    stack = await startLocalStack({
      ...(redis ? { redisUrl: redis.url } : {}),
      prefix,
      // Logs go to stderr (default level warn), so stdout stays the progress bar and summary.
      logger: createLogger({ level: logLevel, destination: process.stderr }),
      env: { ...demoServiceEnv, ...topologyEnv, LOG_LEVEL: logLevel },
      // One submission certainly loses all its callbacks, the rate drops a few more at random.
      sandbox: { faults: { callbackDropRate: dropRate, dropCallbacksNext: dropRate > 0 ? 1 : 0 } },
      onResult(result) {
        results.set(result.registrationId, result);
        shown.progress?.update(results.size);
        if (results.size >= count) allDone.resolve();
      },
    });
    const users = await createDemoUsers(count, stack.imageRoot);
    const progress = (shown.progress = createProgress(out, count));

    const startedAt = Date.now();
    await enqueueAll(stack, users, options.signal);
    progress.update(results.size);
    const outcome = await waitFor(allDone.promise, settings.DEMO_TIMEOUT_MS, options.signal);
    const endedAt = Date.now();
    progress.finish();
    if (outcome === 'aborted') {
      say('Interrupted: stopping workers, listener and sandbox, deleting the demo keys.');
      return 130;
    }

    const summary = summarise({
      users,
      results: [...results.values()],
      sandbox: stack.sandbox.inspect(),
      startedAt,
      endedAt,
    });
    say();
    for (const line of summary.lines) say(line);
    say();
    if (outcome === 'timed-out')
      say(
        `FAILED: only ${results.size} of ${count} registrations finished within ` +
          `${settings.DEMO_TIMEOUT_MS} ms (DEMO_TIMEOUT_MS).`,
      );
    for (const mismatch of summary.mismatches) say(`MISMATCH ${mismatch}`);
    const ok = outcome === 'done' && summary.mismatches.length === 0;
    if (ok) say(`OK: all ${count} registrations ended as their scenarios predict.`);
    return ok ? 0 : 1;
  } catch (error) {
    if (!(error instanceof DemoFailure)) throw error;
    say(error.message);
    return 1;
  } finally {
    await stack?.close();
    await redis?.stop();
    if (stack)
      say(`Cleaned up: services stopped, keys under ${prefix} deleted, temp files removed.`);
  }
}

async function enqueueAll(
  stack: LocalStack,
  users: readonly DemoUser[],
  signal: AbortSignal | undefined,
): Promise<void> {
  for (const [index, user] of users.entries()) {
    if (signal?.aborted) return;
    try {
      await stack.producer.enqueueRegistration(user.request);
    } catch (error) {
      // A ValidationError names fields, never values: safe to show.
      const detail = error instanceof Error ? error.message : 'unknown error';
      throw new DemoFailure(`Enqueueing user ${index + 1} failed: ${detail}`);
    }
  }
}

type WaitOutcome = 'done' | 'timed-out' | 'aborted';

function waitFor(
  done: Promise<void>,
  timeoutMs: number,
  signal: AbortSignal | undefined,
): Promise<WaitOutcome> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve('aborted');
    const finish = (outcome: WaitOutcome) => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      resolve(outcome);
    };
    const onAbort = () => finish('aborted');
    const timer = setTimeout(() => finish('timed-out'), timeoutMs);
    signal?.addEventListener('abort', onAbort, { once: true });
    void done.then(() => finish('done'));
  });
}
