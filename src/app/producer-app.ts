import type { Config } from '../lib/config.ts';
import type { Logger } from '../lib/logger.ts';
import { producerOn, type Producer } from '../queues/producer.ts';
import { createRuntime, type AppTracing } from './runtime.ts';

/**
 * A producer configured like the workers (same prefix, image policy, PII keys), on its own
 * fail-fast connection: an enqueue or a status read errors at once while Redis is down.
 * Without the `pii` section (a status read) it can read progress but not enqueue.
 * close() closes its queues and the connection.
 */
export function createProducerApp(
  config: Config<'common' | 'pipeline' | 'producer'> & Partial<Config<'pii'>>,
  options: { name: string; logger?: Logger | undefined; tracing?: AppTracing | undefined },
): Producer {
  const runtime = createRuntime(config, {
    connection: { failFast: true, name: options.name },
    logger: options.logger,
    tracing: options.tracing,
  });
  const { ESIGN_PARTNER_USER_ID_TYPE, REDIS_WAIT_REPLICAS, REDIS_WAIT_TIMEOUT_MS } =
    config.producer;
  return producerOn(
    runtime,
    ESIGN_PARTNER_USER_ID_TYPE,
    { waitReplicas: REDIS_WAIT_REPLICAS, waitTimeoutMs: REDIS_WAIT_TIMEOUT_MS },
    options.logger,
  );
}
