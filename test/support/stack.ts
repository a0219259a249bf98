import { startLocalStack, type LocalStack } from '../../demo/local-stack.ts';
import type { SandboxOptions } from '../../sandbox/index.ts';
import type { AppTracing } from '../../src/app/runtime.ts';
import { capturingLogger } from './listener.ts';
import { inject } from 'vitest';
import { connectTopology, redisUrl, uniquePrefix } from './redis.ts';

/** Credentials the sandbox accepts and the worker presents. */
export const sandboxCredentials = {
  clientId: 'e2e-client-7f3a',
  passKey: 'e2e-pass-key-91c2',
  onboardingPartner: 'E2E-BE-CERT_REG',
};
export const callbackSecret = 'e2e-callback-secret-5d1e';

export interface StackOptions {
  /** Extra environment for worker and listener (e.g. CALLBACK_TIMEOUT_MS). */
  env?: Record<string, string>;
  sandbox?: Partial<SandboxOptions>;
  /** `'none'`: the test runs the workers itself (a child process: `stack.startProcess`). */
  worker?: 'in-process' | 'none';
  /** A started tracing SDK for the in-process parts (default: off). */
  tracing?: AppTracing | undefined;
}

/**
 * The local stack (demo/local-stack.ts) on the test Redis under a unique prefix, with the
 * tests' timings and credentials, and every log line captured so tests can check it for PII.
 */
export interface Stack extends LocalStack {
  logLines: string[];
}

export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const { logger, lines } = capturingLogger();
  // The project's topology (cluster, sentinel) when it has one, else the run's single Redis.
  const redisEnv = inject('redisEnv');
  const topology = Object.keys(redisEnv).length > 0;
  const stack = await startLocalStack({
    ...(topology ? {} : { redisUrl: redisUrl() }),
    prefix: await stackPrefix({ ...redisEnv, ...options.env }),
    logger,
    credentials: sandboxCredentials,
    callbackSecret,
    env: {
      ...redisEnv,
      LOG_LEVEL: 'debug',
      ESIGN_PARTNER_USER_ID_TYPE: 'E2E_USER_ID',
      ESIGN_REQUEST_TIMEOUT_MS: '2000',
      CALLBACK_TIMEOUT_MS: '60000',
      POLL_INTERVAL_MS: '100',
      POLL_MAX_INTERVAL_MS: '400',
      TIMER_INTERVAL_MS: '50',
      JOB_BACKOFF_MS: '50',
      ...options.env,
    },
    sandbox: {
      processingMs: 30,
      callbackRetry: { attempts: 5, baseDelayMs: 50 },
      ...options.sandbox,
    },
    worker: options.worker,
    tracing: options.tracing,
  });
  return Object.assign(stack, { logLines: lines });
}

/**
 * A unique prefix; on a Cluster with partitions, one whose partitions' hash tags fall on
 * different masters (as many as there are), so the tests spread work over every shard.
 */
async function stackPrefix(env: Record<string, string>): Promise<string> {
  const partitions = Number(env.QUEUE_PARTITIONS ?? 1);
  if (!env.REDIS_CLUSTER_NODES || partitions < 2) return uniquePrefix('e2e');
  const redis = connectTopology();
  try {
    const shards = (await redis.call('CLUSTER', 'SLOTS')) as [number, number, [string, number]][];
    const masters = new Set(shards.map((shard) => shard[2][1])).size;
    const masterOf = (slot: number) =>
      shards.find(([start, end]) => slot >= start && slot <= end)?.[2][1];
    for (let attempt = 0; attempt < 200; attempt += 1) {
      const prefix = uniquePrefix('e2e');
      const used = new Set<number | undefined>();
      for (let index = 0; index < partitions; index += 1)
        used.add(masterOf(Number(await redis.call('CLUSTER', 'KEYSLOT', `{${prefix}-${index}}`))));
      if (used.size === Math.min(partitions, masters)) return prefix;
    }
    throw new Error('no prefix spreads the partitions over every master');
  } finally {
    redis.disconnect();
  }
}
