import type { Config } from '../lib/config.ts';
import type { ErrorLog } from '../lib/error-log.ts';
import type { HttpApp } from '../lib/http/http-app.ts';
import { createCallbackListener } from '../lib/http/server.ts';
import type { Logger } from '../lib/logger.ts';
import type { Metrics } from '../lib/metrics.ts';
import { createCallbackSink } from '../queues/callback-sink.ts';
import { createRuntime, type AppTracing } from './runtime.ts';

export type ListenerAppConfig = Config<'common' | 'listener' | 'pipeline'>;

export interface ListenerApp {
  http: HttpApp;
  /** Returns within SHUTDOWN_TIMEOUT_MS (at most 10 s) + 0.4 s, whatever Redis does. */
  close(): Promise<void>;
}

/** In-flight callbacks get this long at shutdown, or SHUTDOWN_TIMEOUT_MS if shorter. */
const CALLBACK_CLOSE_MS = 10_000;

/** The callback listener: authenticated callbacks become `complete` jobs. */
export function createListenerApp(
  config: ListenerAppConfig,
  logger: Logger,
  metrics: Metrics,
  options: { errors?: ErrorLog | undefined; tracing?: AppTracing | undefined } = {},
): ListenerApp {
  const runtime = createRuntime(config, {
    connection: { failFast: true, name: 'esign-listener' },
    logger,
    errors: options.errors,
    tracing: options.tracing,
  });
  const sink = createCallbackSink(runtime, logger);
  const http = createCallbackListener({
    config: config.listener,
    sink,
    metrics,
    logger,
    tracer: options.tracing?.tracer,
    timeouts: {
      closeTimeoutMs: Math.min(CALLBACK_CLOSE_MS, config.common.SHUTDOWN_TIMEOUT_MS),
    },
  });
  return {
    http,
    async close() {
      await http.close();
      await runtime.close();
    },
  };
}
