import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker, type Job } from 'bullmq';
import { createListenerApp, type ListenerApp } from '../src/app/listener-app.ts';
import { createProducerApp } from '../src/app/producer-app.ts';
import type { AppTracing } from '../src/app/runtime.ts';
import { connectRedis } from '../src/app/redis.ts';
import { createWorkerApp, type WorkerApp } from '../src/app/worker-app.ts';
import { loadConfig } from '../src/lib/config.ts';
import { within } from '../src/lib/deadline.ts';
import { closeRedis } from '../src/lib/redis-close.ts';
import { escapeGlob, scanKeys } from '../src/lib/redis-scan.ts';
import type { RedisTopology } from '../src/lib/redis-topology.ts';
import { silentLogger, type Logger } from '../src/lib/logger.ts';
import { Metrics } from '../src/lib/metrics.ts';
import { RESULTS_QUEUE } from '../src/lib/registration/jobs.ts';
import type { RegistrationResult } from '../src/lib/registration/record.ts';
import type { Producer } from '../src/queues/producer.ts';
import { startSandbox, type Sandbox, type SandboxOptions } from '../sandbox/index.ts';
import { startCli, type ChildCli } from './child-process.ts';

/**
 * The whole service on this machine, built with the production factories: the Esign sandbox
 * and the callback listener on free loopback ports (bearer-authenticated callbacks), the
 * workers pointed at the sandbox, a producer, and a consumer of the `results` queue standing
 * in for the enqueuing service. The demo, the benchmark and the end-to-end tests all run on it.
 *
 * Everything runs in this process, or the workers run apart: `worker: 'none'` starts none
 * here, and `startProcess('worker')` runs `esign-worker worker` as a child process with the
 * stack's environment (as many as wanted, killed at close).
 */

export interface Credentials {
  clientId: string;
  passKey: string;
  onboardingPartner: string;
}

export interface LocalStackOptions {
  /** A single Redis; or leave it out and give REDIS_CLUSTER_NODES / REDIS_SENTINELS in `env`. */
  redisUrl?: string;
  /** QUEUE_PREFIX: every key the stack writes is under it, and close() deletes them all. */
  prefix: string;
  /** Where the service and the sandbox log (default: nowhere). */
  logger?: Logger;
  /** What the sandbox accepts and the workers present; random by default. */
  credentials?: Credentials;
  /** The listener's bearer secret, which the sandbox presents; random by default. */
  callbackSecret?: string;
  /** Service variables over the stack's own (timings, concurrency, LOG_LEVEL, …). */
  env?: Record<string, string>;
  /** Sandbox options over the stack's (`callback: undefined`: the sandbox sends none). */
  sandbox?: Partial<SandboxOptions>;
  /** `'in-process'` (default), or `'none'`: the caller runs the workers (`startProcess`). */
  worker?: 'in-process' | 'none';
  /** Called with each result the results consumer takes. */
  onResult?: (result: RegistrationResult) => void;
  /** A started tracing SDK for the in-process listener, producer and workers (default: off). */
  tracing?: AppTracing | undefined;
}

export interface LocalStack {
  prefix: string;
  /** The prefix the keys are under: `prefix`, hash-tagged on Redis Cluster (`{prefix}`). */
  keyPrefix: string;
  /** The complete environment of the service: what an `esign-worker` child is started with. */
  env: Record<string, string>;
  /** A temporary directory (IMAGE_ROOT) for `{ path }` images; removed at close. */
  imageRoot: string;
  credentials: Credentials;
  callbackSecret: string;
  sandbox: Sandbox;
  listener: ListenerApp;
  listenerUrl: string;
  producer: Producer;
  /** The in-process workers, unless `worker: 'none'`. */
  worker: WorkerApp | undefined;
  /** The registry of the in-process listener and workers. */
  metrics: Metrics;
  /** Every result taken from the results queue, in order. */
  results: RegistrationResult[];
  waitForResult(registrationId: string, timeoutMs?: number): Promise<RegistrationResult>;
  /** `esign-worker <command>` as a child process on this stack (free ports; `env` on top). */
  startProcess(command: 'worker' | 'listener' | 'start', env?: Record<string, string>): ChildCli;
  /** Stops everything in the order that loses nothing, deletes every key under the prefix. */
  close(): Promise<void>;
}

export async function startLocalStack(options: LocalStackOptions): Promise<LocalStack> {
  const logger = options.logger ?? silentLogger();
  const credentials = options.credentials ?? {
    clientId: `local-client-${randomUUID().slice(0, 8)}`,
    passKey: randomUUID(),
    onboardingPartner: 'LOCAL-BE-CERT_REG',
  };
  const callbackSecret = options.callbackSecret ?? randomUUID();
  const imageRoot = await mkdtemp(join(tmpdir(), 'esign-local-'));
  const env: Record<string, string> = {
    ...(options.redisUrl === undefined ? {} : { REDIS_URL: options.redisUrl }),
    QUEUE_PREFIX: options.prefix,
    ESIGN_CLIENT_ID: credentials.clientId,
    ESIGN_PASS_KEY: credentials.passKey,
    ESIGN_ONBOARDING_PARTNER: credentials.onboardingPartner,
    ESIGN_PARTNER_USER_ID_TYPE: 'LOCAL_USER_ID',
    CALLBACK_AUTH: 'bearer',
    CALLBACK_AUTH_SECRET: callbackSecret,
    SHUTDOWN_TIMEOUT_MS: '5000',
    IMAGE_ROOT: imageRoot,
    // PII is only stored encrypted: the stack makes a key of its own for its run.
    PII_ENCRYPTION_KEY: randomBytes(32).toString('hex'),
    ...options.env,
  };
  const { redis: topology, keyPrefix } = loadConfig(env, ['common']).common;
  const metrics = new Metrics({ defaultMetrics: false });
  const children: ChildCli[] = [];
  // Stopped in reverse start order: children, results consumer, workers, producer, sandbox
  // (no more callbacks), listener; then the keys and the images go.
  const closers: (() => Promise<unknown>)[] = [
    () => rm(imageRoot, { recursive: true, force: true }),
    () => deleteKeysUnder(topology, keyPrefix),
  ];
  const closeAll = async () => {
    for (const close of closers.reverse()) await close().catch(() => undefined);
  };

  try {
    const listener = createListenerApp(
      loadConfig(env, ['common', 'listener', 'pipeline']),
      logger,
      metrics,
      { tracing: options.tracing },
    );
    closers.push(() => listener.close());
    const { url: listenerUrl } = await listener.http.listen(0, '127.0.0.1');

    const sandbox = await startSandbox({
      port: 0,
      ...credentials,
      processingMs: 100,
      callback: {
        url: `${listenerUrl}/callbacks/esign`,
        method: 'POST',
        auth: { mode: 'bearer', secret: callbackSecret },
      },
      callbackRetry: { attempts: 5, baseDelayMs: 100 },
      logger: logger.child({ component: 'sandbox' }),
      ...options.sandbox,
    });
    closers.push(() => sandbox.close());
    env.ESIGN_TOKEN_URL = sandbox.url;
    env.ESIGN_API_URL = sandbox.url;

    const producer = createProducerApp(loadConfig(env, ['common', 'pipeline', 'producer', 'pii']), {
      name: 'esign-local-producer',
      logger,
      tracing: options.tracing,
    });
    closers.push(() => producer.close());

    const worker =
      options.worker === 'none'
        ? undefined
        : createWorkerApp(
            loadConfig(env, ['common', 'esign', 'pipeline', 'pii']),
            logger,
            metrics,
            {
              tracing: options.tracing,
            },
          );
    if (worker) closers.push(() => worker.close());

    const results = collectResults(options.onResult);
    const consumerRedis = connectRedis(topology, { name: 'esign-local-results', logger });
    closers.push(() => closeRedis(consumerRedis));
    const consumer = new Worker(
      RESULTS_QUEUE,
      (job: Job<RegistrationResult>) => results.take(job.data),
      {
        connection: consumerRedis,
        prefix: keyPrefix,
      },
    );
    // Without a listener BullMQ prints every reconnect error (a Redis restart, a failover).
    consumer.on('error', (error) => logger.debug({ err: error }, 'results consumer error'));
    // BullMQ's Worker.close() can wait for ever on a worker that lived through a Redis outage
    // (taskforcesh/bullmq#4656): bounded, then its connection is dropped by the next closer.
    closers.push(() => within(consumer.close(), 3_000, 'closing the results consumer'));
    closers.push(() => Promise.all(children.map((child) => child.kill())));

    let closed: Promise<void> | undefined;
    return {
      prefix: options.prefix,
      keyPrefix,
      env,
      imageRoot,
      credentials,
      callbackSecret,
      sandbox,
      listener,
      listenerUrl,
      producer,
      worker,
      metrics,
      results: results.all,
      waitForResult: results.waitFor,
      startProcess(command, extra = {}) {
        const child = startCli(command, {
          ...env,
          METRICS_PORT: '0',
          CALLBACK_PORT: '0',
          CALLBACK_HOST: '127.0.0.1',
          ...extra,
        });
        children.push(child);
        return child;
      },
      close() {
        closed ??= closeAll();
        return closed;
      },
    };
  } catch (error) {
    await closeAll();
    throw error;
  }
}

/** The results consumer's side: every result kept, waiters told, `onResult` called. */
function collectResults(onResult: ((result: RegistrationResult) => void) | undefined) {
  const all: RegistrationResult[] = [];
  const waiters = new Map<string, (result: RegistrationResult) => void>();
  return {
    all,
    take: (result: RegistrationResult): Promise<void> => {
      all.push(result);
      waiters.get(result.registrationId)?.(result);
      onResult?.(result);
      return Promise.resolve();
    },
    waitFor: (registrationId: string, timeoutMs = 15_000): Promise<RegistrationResult> => {
      const known = all.find((result) => result.registrationId === registrationId);
      if (known) return Promise.resolve(known);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`no result for ${registrationId} within ${timeoutMs} ms`)),
          timeoutMs,
        );
        waiters.set(registrationId, (result) => {
          clearTimeout(timer);
          resolve(result);
        });
      });
    },
  };
}

/** Leave nothing behind in a shared Redis: every key the run wrote is under its prefix. */
export async function deleteKeysUnder(
  where: RedisTopology | string,
  keyPrefix: string,
): Promise<void> {
  const redis = connectRedis(where, { failFast: true, name: 'esign-local-cleanup' });
  try {
    // One DEL per batch: every key under a (hash-tagged, on Cluster) prefix is in one slot.
    for await (const keys of scanKeys(redis, `${escapeGlob(keyPrefix)}:*`))
      await redis.del(...keys);
  } finally {
    await closeRedis(redis);
  }
}
