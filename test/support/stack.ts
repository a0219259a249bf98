import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { Worker, type Job } from 'bullmq';
import { createListenerApp, type ListenerApp } from '../../src/app/listener-app.ts';
import { createProducerApp } from '../../src/app/producer-app.ts';
import { createWorkerApp, type WorkerApp } from '../../src/app/worker-app.ts';
import { loadConfig } from '../../src/lib/config.ts';
import { createLogger } from '../../src/lib/logger.ts';
import { Metrics } from '../../src/lib/metrics.ts';
import type { RegistrationResult } from '../../src/lib/registration/record.ts';
import type { Producer } from '../../src/queues/producer.ts';
import { startSandbox, type Sandbox, type SandboxOptions } from '../../sandbox/index.ts';
import { cleanPrefix, connect, redisUrl, uniquePrefix } from './redis.ts';

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
  /** Start no worker: the test runs its own (e.g. in a child process). */
  withoutWorker?: boolean;
}

/**
 * The whole service in one process, on real parts: the sandbox and the callback listener
 * over real HTTP on free ports, the workers on the test Redis under a unique prefix, and a
 * consumer of the results queue like the enqueuing service would run. Logs are captured so
 * tests can check them for PII.
 */
export interface Stack {
  prefix: string;
  env: Record<string, string>;
  imageRoot: string;
  sandbox: Sandbox;
  producer: Producer;
  worker: WorkerApp | undefined;
  listener: ListenerApp;
  listenerUrl: string;
  metrics: Metrics;
  logLines: string[];
  results: RegistrationResult[];
  waitForResult(registrationId: string, timeoutMs?: number): Promise<RegistrationResult>;
  close(): Promise<void>;
}

export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const prefix = uniquePrefix('e2e');
  const imageRoot = await mkdtemp(join(tmpdir(), 'esign-e2e-'));
  const logLines: string[] = [];
  const logger = createLogger({
    level: 'debug',
    destination: new Writable({
      write(chunk: Buffer, _encoding, done) {
        logLines.push(chunk.toString());
        done();
      },
    }),
  });
  const metrics = new Metrics({ defaultMetrics: false });
  const env: Record<string, string> = {
    REDIS_URL: redisUrl(),
    QUEUE_PREFIX: prefix,
    LOG_LEVEL: 'debug',
    ESIGN_CLIENT_ID: sandboxCredentials.clientId,
    ESIGN_PASS_KEY: sandboxCredentials.passKey,
    ESIGN_ONBOARDING_PARTNER: sandboxCredentials.onboardingPartner,
    ESIGN_PARTNER_USER_ID_TYPE: 'E2E_USER_ID',
    ESIGN_REQUEST_TIMEOUT_MS: '2000',
    CALLBACK_AUTH: 'bearer',
    CALLBACK_AUTH_SECRET: callbackSecret,
    CALLBACK_TIMEOUT_MS: '60000',
    POLL_INTERVAL_MS: '100',
    POLL_MAX_INTERVAL_MS: '400',
    JOB_BACKOFF_MS: '50',
    SHUTDOWN_TIMEOUT_MS: '5000',
    IMAGE_ROOT: imageRoot,
    ...options.env,
  };

  const listener = createListenerApp(
    loadConfig(env, ['common', 'listener', 'pipeline']),
    logger,
    metrics,
  );
  const { url: listenerUrl } = await listener.http.listen(0, '127.0.0.1');
  const sandbox = await startSandbox({
    port: 0,
    ...sandboxCredentials,
    processingMs: 30,
    callback: {
      url: `${listenerUrl}/callbacks/esign`,
      method: 'POST',
      auth: { mode: 'bearer', secret: callbackSecret },
    },
    callbackRetry: { attempts: 5, baseDelayMs: 50 },
    logger: logger.child({ component: 'sandbox' }),
    ...options.sandbox,
  });
  env.ESIGN_TOKEN_URL = sandbox.url;
  env.ESIGN_API_URL = sandbox.url;

  const worker = options.withoutWorker
    ? undefined
    : createWorkerApp(loadConfig(env, ['common', 'esign', 'pipeline']), logger, metrics);
  const producer = createProducerApp(loadConfig(env, ['common', 'pipeline', 'producer']), {
    name: 'esign-e2e-producer',
  });

  const results: RegistrationResult[] = [];
  const waiters = new Map<string, (result: RegistrationResult) => void>();
  const consumer = new Worker(
    'results',
    (job: Job<RegistrationResult>) => {
      results.push(job.data);
      waiters.get(job.data.registrationId)?.(job.data);
      return Promise.resolve();
    },
    { connection: connect(), prefix },
  );

  return {
    prefix,
    env,
    imageRoot,
    sandbox,
    producer,
    worker,
    listener,
    listenerUrl,
    metrics,
    logLines,
    results,
    waitForResult(registrationId, timeoutMs = 15_000) {
      const known = results.find((result) => result.registrationId === registrationId);
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
    async close() {
      await consumer.close();
      await worker?.close();
      await producer.close();
      await listener.close();
      await sandbox.close();
      const redis = connect();
      await cleanPrefix(redis, prefix);
      await redis.quit();
      await rm(imageRoot, { recursive: true, force: true });
    },
  };
}
