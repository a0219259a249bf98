import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue, Worker } from 'bullmq';
import { startCli, exitWithin, type ChildCli } from '../demo/child-process.ts';
import { demoServiceEnv } from '../demo/config.ts';
import { createProducerApp } from '../src/app/producer-app.ts';
import { connectRedis } from '../src/app/redis.ts';
import { loadConfig } from '../src/lib/config.ts';
import { silentLogger } from '../src/lib/logger.ts';
import { RESULTS_QUEUE } from '../src/lib/registration/jobs.ts';
import type { RegistrationResult } from '../src/lib/registration/record.ts';
import type { Producer } from '../src/queues/producer.ts';
import type { Setting } from './args.ts';
import { track } from './children.ts';

/**
 * The service as production runs it, one setting at a time: the Esign sandbox, the callback
 * listener and N workers each as its own `esign-worker` process on the bench's own Redis. The
 * bench process itself plays the enqueuing service (producer, and a reader of `results`).
 * A second sandbox process sends its callbacks to the in-process baseline instead.
 */

export interface Credentials {
  clientId: string;
  passKey: string;
  onboardingPartner: string;
}

export interface PipelineStack {
  /** The environment every service process gets. */
  env: Record<string, string>;
  keyPrefix: string;
  /** QUEUE_PREFIX: every key of the stack, partitions included, has it in its name. */
  queuePrefix: string;
  /** IMAGE_ROOT: where the bench writes the users' images. */
  imageRoot: string;
  credentials: Credentials;
  listener: ChildCli;
  listenerUrl: string;
  callbackSecret: string;
  workers: ChildCli[];
  producer: Producer;
  /** The `results` queue, read but not consumed during rounds (a consumer's commands are not ours). */
  results: Queue<RegistrationResult>;
  /** The baseline's sandbox: same latency, callbacks to `baselineCallbackUrl`. */
  baselineSandboxUrl: string;
  /** Start `n` more worker processes (with `extra` env) and wait until each is ready. */
  startWorkers(n: number, extra?: Record<string, string>): Promise<ChildCli[]>;
  /** SIGTERM every worker and wait for it to exit. */
  stopWorkers(): Promise<void>;
  /**
   * Take every waiting result, as the enqueuing service does (after the rounds: its commands
   * are not the pipeline's). What stays is what the results queue keeps of consumed results.
   */
  consumeResults(): Promise<void>;
  close(): Promise<void>;
}

/** A child's "<what> ready" log line's url, waiting for it. */
async function readyUrl(child: ChildCli, message: string): Promise<string> {
  const line = await child.waitForLog(message, 30_000);
  return String(line.url);
}

async function stopChild(child: ChildCli): Promise<void> {
  if (!child.alive()) return;
  child.process.kill('SIGTERM');
  await exitWithin(child, 15_000, 'bench child').catch(() => child.kill());
}

export async function startPipelineStack(options: {
  redisEnv: Record<string, string>;
  setting: Setting;
  partitions: number;
  baselineCallbackUrl: string;
}): Promise<PipelineStack> {
  const { setting } = options;
  const credentials: Credentials = {
    clientId: `bench-${randomUUID().slice(0, 8)}`,
    passKey: randomUUID(),
    onboardingPartner: 'BENCH-BE-CERT_REG',
  };
  const callbackSecret = randomUUID();
  const imageRoot = await mkdtemp(join(tmpdir(), 'esign-bench-images-'));
  const c = String(setting.concurrency);
  const env: Record<string, string> = {
    ...options.redisEnv,
    QUEUE_PREFIX: `bench-${randomUUID().slice(0, 8)}`,
    QUEUE_PARTITIONS: String(options.partitions),
    ...demoServiceEnv,
    ESIGN_CLIENT_ID: credentials.clientId,
    ESIGN_PASS_KEY: credentials.passKey,
    ESIGN_ONBOARDING_PARTNER: credentials.onboardingPartner,
    ESIGN_PARTNER_USER_ID_TYPE: 'BENCH_USER_ID',
    CALLBACK_AUTH: 'bearer',
    CALLBACK_AUTH_SECRET: callbackSecret,
    IMAGE_ROOT: imageRoot,
    // PII is only stored encrypted: the bench makes a key of its own for its run.
    PII_ENCRYPTION_KEY: randomBytes(32).toString('hex'),
    SHUTDOWN_TIMEOUT_MS: '5000',
    // The service's default, not the demo's 100 ms: the bench's registrations end by callback,
    // so no timer falls due, and the sweep's fixed cost (one command a second) is measured as
    // a production worker pays it.
    TIMER_INTERVAL_MS: '1000',
    // BENCH_PROFILE_DIR: every service process writes a CPU profile there as it stops.
    ...(process.env.BENCH_PROFILE_DIR
      ? { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${process.env.BENCH_PROFILE_DIR}` }
      : {}),
    CONCURRENCY_INITIATE: c,
    CONCURRENCY_UPLOAD: c,
    CONCURRENCY_CONFIRM: c,
    CONCURRENCY_COMPLETE: c,
    METRICS_PORT: '0',
    CALLBACK_PORT: '0',
    CALLBACK_HOST: '127.0.0.1',
  };
  const { keyPrefix, redis: topology } = loadConfig(env, ['common']).common;
  const children: ChildCli[] = [];
  const workers: ChildCli[] = [];
  const closers: (() => Promise<unknown>)[] = [
    () => rm(imageRoot, { recursive: true, force: true }),
  ];
  const close = async () => {
    for (const child of [...workers, ...children]) await stopChild(child);
    for (const closer of closers.reverse()) await closer().catch(() => undefined);
  };
  const sandboxEnv = (callbackUrl: string): Record<string, string> => ({
    SANDBOX_PORT: '0',
    SANDBOX_CLIENT_ID: credentials.clientId,
    SANDBOX_PASS_KEY: credentials.passKey,
    SANDBOX_ONBOARDING_PARTNER: credentials.onboardingPartner,
    SANDBOX_CALLBACK_URL: callbackUrl,
    SANDBOX_CALLBACK_AUTH: 'bearer',
    SANDBOX_CALLBACK_SECRET: callbackSecret,
    SANDBOX_PROCESSING_MS: '100',
    SANDBOX_FAULTS: JSON.stringify({ latencyMs: setting.latencyMs }),
  });
  const start = (command: string, extra: Record<string, string>): ChildCli => {
    const child = startCli(command, { ...env, ...extra });
    track(child.process);
    children.push(child);
    return child;
  };

  try {
    const listener = start('listener', {});
    const listenerUrl = await readyUrl(listener, 'listener ready');
    const sandbox = start('sandbox', sandboxEnv(`${listenerUrl}/callbacks/esign`));
    const baselineSandbox = start('sandbox', sandboxEnv(options.baselineCallbackUrl));
    const sandboxUrl = await readyUrl(sandbox, 'sandbox ready');
    const baselineSandboxUrl = await readyUrl(baselineSandbox, 'sandbox ready');
    env.ESIGN_TOKEN_URL = sandboxUrl;
    env.ESIGN_API_URL = sandboxUrl;

    const producer = createProducerApp(loadConfig(env, ['common', 'pipeline', 'producer', 'pii']), {
      name: 'esign-bench-producer',
      logger: silentLogger(),
    });
    closers.push(() => producer.close());
    const resultsRedis = connectRedis(topology, { name: 'esign-bench-results' });
    closers.push(() => resultsRedis.quit().catch(() => resultsRedis.disconnect()));
    const results = new Queue<RegistrationResult>(RESULTS_QUEUE, {
      connection: resultsRedis,
      prefix: keyPrefix,
    });
    closers.push(() => results.close());

    return {
      env,
      keyPrefix,
      queuePrefix: env.QUEUE_PREFIX as string,
      imageRoot,
      credentials,
      listener,
      listenerUrl,
      callbackSecret,
      workers,
      producer,
      results,
      baselineSandboxUrl,
      async consumeResults() {
        const connection = connectRedis(topology, { name: 'esign-bench-consumer' });
        const consumer = new Worker(RESULTS_QUEUE, () => Promise.resolve(), {
          connection,
          prefix: keyPrefix,
          concurrency: 50,
        });
        try {
          const deadline = Date.now() + 60_000;
          const left = async () =>
            (await results.getWaitingCount()) + (await results.getActiveCount());
          while ((await left()) > 0) {
            if (Date.now() > deadline) throw new Error('results not consumed after 60 s');
            await new Promise((resolve) => setTimeout(resolve, 100));
          }
        } finally {
          await consumer.close();
          await connection.quit().catch(() => connection.disconnect());
        }
      },
      async startWorkers(n, extra = {}) {
        const started = Array.from({ length: n }, () => startCli('worker', { ...env, ...extra }));
        for (const worker of started) track(worker.process);
        workers.push(...started);
        await Promise.all(started.map((worker) => worker.waitForLog('worker ready', 30_000)));
        return started;
      },
      async stopWorkers() {
        await Promise.all(workers.splice(0).map(stopChild));
      },
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}
