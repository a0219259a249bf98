import type { TracingConfig } from '../config.ts';

/**
 * What the tracing SDK is started with, decided from the OTEL_* variables (config.ts). Tracing
 * is off unless it was asked for: an exporter named (`OTEL_TRACES_EXPORTER=otlp|console`) or an
 * OTLP endpoint given. Off, main.ts never loads the SDK, so an untraced process pays nothing.
 * (The OpenTelemetry SDKs default to exporting to localhost:4318 when nothing is set; a worker
 * that nobody asked to trace should not send spans anywhere.)
 */
export interface TracingSettings {
  exporter: 'otlp' | 'console';
  /** The OTLP/HTTP traces URL (…/v1/traces). */
  url: string;
  /** Sent with every export; may hold a credential. */
  headers: Record<string, string>;
  timeoutMs: number;
  serviceName: string;
  resourceAttributes: Record<string, string>;
  sampler: TracingConfig['OTEL_TRACES_SAMPLER'];
  /** The ratio of the `traceidratio` samplers. */
  samplerRatio: number;
}

const defaultEndpoint = 'http://localhost:4318';

export function tracingSettings(
  config: TracingConfig,
  defaults: { serviceName: string },
): TracingSettings | undefined {
  if (config.OTEL_SDK_DISABLED) return undefined;
  const traces = config.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
  const base = config.OTEL_EXPORTER_OTLP_ENDPOINT;
  const exporter = config.OTEL_TRACES_EXPORTER ?? (traces || base ? 'otlp' : 'none');
  if (exporter === 'none') return undefined;
  return {
    exporter,
    // The spec: a signal-specific endpoint is used as is; the shared one gets /v1/traces.
    url: traces ?? `${(base ?? defaultEndpoint).replace(/\/+$/, '')}/v1/traces`,
    headers: {
      ...parsePairs(config.OTEL_EXPORTER_OTLP_HEADERS),
      ...parsePairs(config.OTEL_EXPORTER_OTLP_TRACES_HEADERS),
    },
    timeoutMs: config.OTEL_EXPORTER_OTLP_TIMEOUT,
    serviceName: config.OTEL_SERVICE_NAME ?? defaults.serviceName,
    resourceAttributes: parsePairs(config.OTEL_RESOURCE_ATTRIBUTES),
    sampler: config.OTEL_TRACES_SAMPLER,
    samplerRatio: config.OTEL_TRACES_SAMPLER_ARG,
  };
}

/** The W3C-baggage-like `k=v,k2=v2` lists of OTEL_*_HEADERS and OTEL_RESOURCE_ATTRIBUTES. */
function parsePairs(text: string | undefined): Record<string, string> {
  const pairs: Record<string, string> = {};
  for (const part of (text ?? '').split(',')) {
    const at = part.indexOf('=');
    if (at <= 0) continue;
    const key = part.slice(0, at).trim();
    const value = part.slice(at + 1).trim();
    try {
      pairs[key] = decodeURIComponent(value);
    } catch {
      pairs[key] = value;
    }
  }
  return pairs;
}
