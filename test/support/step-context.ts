import { createRuntime } from '../../src/app/runtime.ts';
import { loadConfig } from '../../src/lib/config.ts';
import { createEsignClient } from '../../src/lib/esign/client.ts';
import { silentLogger } from '../../src/lib/logger.ts';
import { Metrics } from '../../src/lib/metrics.ts';
import type { StepContext, StepSettings } from '../../src/processors/context.ts';
import type { Stack } from './stack.ts';

export interface StepHarness {
  ctx: StepContext;
  metrics: Metrics;
  close(): Promise<void>;
}

/**
 * A step context on the real record store, Esign client and the stack's sandbox, so a test
 * can run a step directly (start the stack `withoutWorker`: nothing else moves the record).
 */
export function stepContext(stack: Stack, settings: Partial<StepSettings> = {}): StepHarness {
  const config = loadConfig(stack.env, ['common', 'esign', 'pipeline', 'pii']);
  const logger = silentLogger();
  const metrics = new Metrics({ defaultMetrics: false });
  // The stack's configuration, so the store, cipher and image policy are the workers'.
  const runtime = createRuntime(config, { connection: { name: 'test-step-context' }, logger });
  const esign = createEsignClient({
    config: config.esign,
    redis: runtime.redis,
    keyPrefix: stack.prefix,
    cipher: runtime.all[0]!.cipher,
    logger,
    metrics,
  });
  const partition = runtime.all[0]!;
  const ctx: StepContext = {
    esign,
    store: partition.store,
    imageStore: partition.imageStore,
    cipher: partition.cipher,
    images: partition.images,
    settings: {
      maxReinitiations: 2,
      callbackTimeoutMs: 60_000,
      pollIntervalMs: 1_000,
      pollMaxIntervalMs: 4_000,
      pollGiveUpMs: 60_000,
      confirmLeaseMs: 5_000,
      confirmCallMs: 4_000,
      ...settings,
    },
    logger,
    metrics,
    now: Date.now,
    signal: new AbortController().signal,
    pausedWithin: () => Promise.resolve(0),
    publishResult: () => Promise.reject(new Error('no registration ends in this test')),
    cancelJob: () => Promise.resolve(),
  };
  return {
    ctx,
    metrics,
    async close() {
      await esign.close();
      await runtime.close();
    },
  };
}
