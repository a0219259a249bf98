import type { Config } from '../lib/config.ts';
import type { HttpApp } from '../lib/http/http-app.ts';
import { createCallbackListener } from '../lib/http/server.ts';
import type { Logger } from '../lib/logger.ts';
import type { Metrics } from '../lib/metrics.ts';
import { RegistrationStore } from '../lib/registration/store.ts';
import { createCallbackSink } from '../queues/callback-sink.ts';
import { createQueues } from '../queues/queues.ts';
import { watchQueueDepth } from './queue-depth.ts';
import { connectRedis } from './redis.ts';

export type ListenerAppConfig = Config<'common' | 'listener' | 'pipeline'>;

export interface ListenerApp {
  http: HttpApp;
  /** Readiness for /readyz: a callback could be taken now (Redis answers). */
  ready(): Promise<boolean>;
  close(): Promise<void>;
}

/** The callback listener: authenticated callbacks become `complete` jobs. */
export function createListenerApp(
  config: ListenerAppConfig,
  logger: Logger,
  metrics: Metrics,
): ListenerApp {
  const { common, listener, pipeline } = config;
  const redis = connectRedis(common.REDIS_URL, { failFast: true, name: 'esign-listener', logger });
  const store = new RegistrationStore({
    redis,
    prefix: common.QUEUE_PREFIX,
    retentionMs: pipeline.RECORD_RETENTION_DAYS * 24 * 3600 * 1000,
  });
  const queues = createQueues(
    redis,
    common.QUEUE_PREFIX,
    { attempts: pipeline.JOB_ATTEMPTS, backoffMs: pipeline.JOB_BACKOFF_MS },
    logger,
  );
  watchQueueDepth(metrics, queues, store);
  const sink = createCallbackSink(store, queues.steps.complete);
  const http = createCallbackListener({ config: listener, sink, metrics, logger });
  return {
    http,
    ready: () => sink.ready(),
    async close() {
      await http.close();
      await queues.close();
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}
