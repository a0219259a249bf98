import { randomUUID } from 'node:crypto';
import { Worker, type Job } from 'bullmq';
import { createListenerApp, type ListenerApp } from '../src/app/listener-app.ts';
import { createProducerApp } from '../src/app/producer-app.ts';
import { connectRedis } from '../src/app/redis.ts';
import { createWorkerApp, type WorkerApp } from '../src/app/worker-app.ts';
import { loadConfig } from '../src/lib/config.ts';
import type { Logger } from '../src/lib/logger.ts';
import { Metrics } from '../src/lib/metrics.ts';
import type { RegistrationResult } from '../src/lib/registration/record.ts';
import { RESULTS_QUEUE } from '../src/lib/registration/jobs.ts';
import type { Producer } from '../src/queues/producer.ts';
import { startSandbox, type Sandbox } from '../sandbox/index.ts';

/**
 * The whole service in one process, built with the production factories: the callback
 * listener and the Esign sandbox on free loopback ports, the workers pointed at the sandbox,
 * a producer, and a consumer of the `results` queue standing in for the enqueuing service.
 * Timings are short so a dropped callback is found by polling within seconds and a `stuck`
 * submission ends TIMED_OUT instead of after a day.
 */

export interface DemoServicesOptions {
  redisUrl: string;
  prefix: string;
  imageRoot: string;
  logLevel: string;
  logger: Logger;
  /** Fraction of sandbox callbacks never sent, so the poll fallback shows. */
  callbackDropRate: number;
  onResult(result: RegistrationResult): void;
  /** Settings that override the demo's (e.g. CONCURRENCY_* for the throughput benchmark). */
  overrides?: Record<string, string>;
  /** Sandbox latency per call (ms), to stand in for a remote API. */
  latencyMs?: number;
}

export interface DemoServices {
  producer: Producer;
  sandbox: Sandbox;
  /** Stops everything in the order that loses nothing, then deletes every key under the prefix. */
  close(): Promise<void>;
}

/** Short, so the demo shows the poll fallback and timeouts in seconds. */
export const demoTimings = {
  CALLBACK_TIMEOUT_MS: '1500',
  POLL_INTERVAL_MS: '250',
  POLL_MAX_INTERVAL_MS: '1000',
  POLL_GIVE_UP_MS: '3000',
  JOB_BACKOFF_MS: '100',
  SANDBOX_PROCESSING_MS: 100,
};

export async function startDemoServices(options: DemoServicesOptions): Promise<DemoServices> {
  const { logger } = options;
  const credentials = {
    clientId: `demo-client-${randomUUID().slice(0, 8)}`,
    passKey: randomUUID(),
    onboardingPartner: 'DEMO-BE-CERT_REG',
  };
  const callbackSecret = randomUUID();
  const env: Record<string, string> = {
    REDIS_URL: options.redisUrl,
    QUEUE_PREFIX: options.prefix,
    LOG_LEVEL: options.logLevel,
    ESIGN_CLIENT_ID: credentials.clientId,
    ESIGN_PASS_KEY: credentials.passKey,
    ESIGN_ONBOARDING_PARTNER: credentials.onboardingPartner,
    ESIGN_PARTNER_USER_ID_TYPE: 'DEMO_USER_ID',
    ESIGN_REQUEST_TIMEOUT_MS: '5000',
    CALLBACK_AUTH: 'bearer',
    CALLBACK_AUTH_SECRET: callbackSecret,
    CALLBACK_TIMEOUT_MS: demoTimings.CALLBACK_TIMEOUT_MS,
    POLL_INTERVAL_MS: demoTimings.POLL_INTERVAL_MS,
    POLL_MAX_INTERVAL_MS: demoTimings.POLL_MAX_INTERVAL_MS,
    POLL_GIVE_UP_MS: demoTimings.POLL_GIVE_UP_MS,
    JOB_BACKOFF_MS: demoTimings.JOB_BACKOFF_MS,
    CONCURRENCY_INITIATE: '8',
    CONCURRENCY_UPLOAD: '8',
    CONCURRENCY_CONFIRM: '8',
    CONCURRENCY_POLL: '4',
    SHUTDOWN_TIMEOUT_MS: '5000',
    IMAGE_ROOT: options.imageRoot,
    ...options.overrides,
  };
  const metrics = new Metrics({ defaultMetrics: false });
  const closers: (() => Promise<unknown>)[] = [];
  const closeAll = async () => {
    // Reverse start order: results consumer, workers, producer, sandbox, listener, Redis.
    for (const close of closers.reverse()) await close().catch(() => undefined);
  };

  try {
    const listener: ListenerApp = createListenerApp(
      loadConfig(env, ['common', 'listener', 'pipeline']),
      logger,
      metrics,
    );
    closers.push(() => listener.close());
    const { url: listenerUrl } = await listener.http.listen(0, '127.0.0.1');

    const sandbox = await startSandbox({
      port: 0,
      ...credentials,
      processingMs: demoTimings.SANDBOX_PROCESSING_MS,
      callback: {
        url: `${listenerUrl}/callbacks/esign`,
        method: 'POST',
        auth: { mode: 'bearer', secret: callbackSecret },
      },
      callbackRetry: { attempts: 5, baseDelayMs: 100 },
      // One submission certainly loses all its callbacks, the rate drops a few more at random.
      faults: {
        callbackDropRate: options.callbackDropRate,
        dropCallbacksNext: options.callbackDropRate > 0 ? 1 : 0,
        latencyMs: options.latencyMs ?? 0,
      },
      logger,
    });
    closers.push(() => sandbox.close());
    env.ESIGN_TOKEN_URL = sandbox.url;
    env.ESIGN_API_URL = sandbox.url;

    const producer = createProducerApp(loadConfig(env, ['common', 'pipeline', 'producer']), {
      name: 'esign-demo-producer',
    });
    closers.push(() => producer.close());

    const worker: WorkerApp = createWorkerApp(
      loadConfig(env, ['common', 'esign', 'pipeline']),
      logger,
      metrics,
    );
    closers.push(() => worker.close());

    const consumerRedis = connectRedis(options.redisUrl, { name: 'esign-demo-results' });
    closers.push(() => consumerRedis.quit().catch(() => consumerRedis.disconnect()));
    const consumer = new Worker(
      RESULTS_QUEUE,
      (job: Job<RegistrationResult>) => {
        options.onResult(job.data);
        return Promise.resolve();
      },
      { connection: consumerRedis, prefix: options.prefix },
    );
    closers.push(() => consumer.close());

    let closed: Promise<void> | undefined;
    return {
      producer,
      sandbox,
      close() {
        closed ??= (async () => {
          await closeAll();
          await deleteKeysUnder(options.redisUrl, options.prefix);
        })();
        return closed;
      },
    };
  } catch (error) {
    await closeAll();
    await deleteKeysUnder(options.redisUrl, options.prefix).catch(() => undefined);
    throw error;
  }
}

/** Leave nothing behind in a shared Redis: every key the run wrote is under its prefix. */
export async function deleteKeysUnder(redisUrl: string, prefix: string): Promise<void> {
  const redis = connectRedis(redisUrl, { failFast: true, name: 'esign-demo-cleanup' });
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 500);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    await redis.quit().catch(() => redis.disconnect());
  }
}
