import type { TracingConfig } from '../lib/config.ts';
import type { Logger } from '../lib/logger.ts';
import type { Tracing } from '../lib/tracing/sdk.ts';

/**
 * The OpenTelemetry SDK, started only when the OTEL_* variables ask for traces: otherwise it
 * is not even loaded (lib/tracing/settings.ts says when).
 */
export async function startTracingIfAsked(
  config: TracingConfig,
  options: { version: string; logger?: Logger | undefined },
): Promise<Tracing | undefined> {
  const { version, logger } = options;
  const { tracingSettings } = await import('../lib/tracing/settings.ts');
  const settings = tracingSettings(config, { serviceName: 'esign-worker' });
  if (!settings) return undefined;
  const { startTracing } = await import('../lib/tracing/sdk.ts');
  const tracing = startTracing(settings, { version, logger });
  logger?.info(
    { exporter: settings.exporter, serviceName: settings.serviceName, sampler: settings.sampler },
    'tracing on',
  );
  return tracing;
}
