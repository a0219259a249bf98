import type { Redis } from 'ioredis';
import { loadConfig } from '../../src/lib/config.ts';
import { createEsignClient } from '../../src/lib/esign/client.ts';
import { silentLogger } from '../../src/lib/logger.ts';
import { Metrics } from '../../src/lib/metrics.ts';
import { createPiiCipher } from '../../src/lib/pii-cipher.ts';
import { RegistrationStore } from '../../src/lib/registration/store.ts';
import type { StepContext, StepSettings } from '../../src/processors/context.ts';
import { connect } from './redis.ts';
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
  const redis: Redis = connect();
  const config = loadConfig(stack.env, ['common', 'esign', 'pipeline']);
  const logger = silentLogger();
  const metrics = new Metrics({ defaultMetrics: false });
  const esign = createEsignClient({
    config: config.esign,
    redis,
    keyPrefix: stack.prefix,
    logger,
    metrics,
  });
  const ctx: StepContext = {
    esign,
    store: new RegistrationStore({ redis, prefix: stack.prefix, retentionMs: 3_600_000 }),
    cipher: createPiiCipher(undefined),
    images: { root: stack.imageRoot, allowedHosts: [], maxBytes: 10 * 1024 * 1024 },
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
    publishResult: () => Promise.reject(new Error('no registration ends in this test')),
    cancelJob: () => Promise.resolve(),
  };
  return {
    ctx,
    metrics,
    async close() {
      await esign.close();
      await redis.quit();
    },
  };
}
