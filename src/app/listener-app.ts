import type { Config } from '../lib/config.ts';
import type { HttpApp } from '../lib/http/http-app.ts';
import { createCallbackListener } from '../lib/http/server.ts';
import type { Logger } from '../lib/logger.ts';
import type { Metrics } from '../lib/metrics.ts';
import { createCallbackSink } from '../queues/callback-sink.ts';
import { createRuntime, type AppTracing } from './runtime.ts';

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
  tracing?: AppTracing,
): ListenerApp {
  const runtime = createRuntime(config, {
    connection: { failFast: true, name: 'esign-listener' },
    logger,
    metrics,
    tracing,
  });
  const sink = createCallbackSink(runtime);
  const http = createCallbackListener({
    config: config.listener,
    sink,
    metrics,
    logger,
    tracer: tracing?.tracer,
  });
  return {
    http,
    ready: () => sink.ready(),
    async close() {
      await http.close();
      await runtime.close();
    },
  };
}
