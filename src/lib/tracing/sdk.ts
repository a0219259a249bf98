import { context, isSpanContextValid, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { setGlobalErrorHandler, W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { defaultResource, resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BatchSpanProcessor,
  ConsoleSpanExporter,
  ParentBasedSampler,
  SamplingDecision,
  TraceIdRatioBasedSampler,
  TracerProvider,
  type Sampler,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace';
import type { Telemetry } from 'bullmq';
import { BullMQOtel } from 'bullmq-otel';
import type { Logger } from '../logger.ts';
import { createOtelTracer } from './otel-tracer.ts';
import type { TracingSettings } from './settings.ts';
import type { Tracer } from './tracer.ts';

/**
 * The OpenTelemetry SDK for one process: a tracer provider with the configured sampler and
 * exporter, the AsyncLocalStorage context manager and the W3C trace-context propagator
 * registered globally (bullmq-otel works through the global API), the BullMQ `telemetry`
 * option, and the service's own tracer. Started by main.ts only when tracing is on.
 */
export interface Tracing {
  tracer: Tracer;
  /** BullMQ's `telemetry` option for every Queue and Worker: context travels in job options. */
  telemetry: Telemetry;
  /** Exports what is left, waiting at most FLUSH_LIMIT_MS (a shutdown stays bounded). */
  shutdown(): Promise<void>;
}

export interface StartTracingOptions {
  version: string;
  logger?: Logger | undefined;
  /** Instead of the configured exporter (tests collect spans in memory with it). */
  spanProcessor?: SpanProcessor | undefined;
}

/** How long a shutdown waits for the last spans; a collector that is down must not hold it. */
const FLUSH_LIMIT_MS = 1_000;
const TRACER_NAME = 'esign-worker';

export function startTracing(settings: TracingSettings, options: StartTracingOptions): Tracing {
  const exporter =
    settings.exporter === 'console'
      ? new ConsoleSpanExporter()
      : new OTLPTraceExporter({
          url: settings.url,
          headers: settings.headers,
          timeoutMillis: settings.timeoutMs,
        });
  const provider = new TracerProvider({
    resource: defaultResource().merge(
      resourceFromAttributes({
        ...settings.resourceAttributes,
        'service.name': settings.serviceName,
        'service.version': options.version,
      }),
    ),
    sampler: new HousekeepingFilter(configuredSampler(settings)),
    spanProcessors: [options.spanProcessor ?? new BatchSpanProcessor({ exporter })],
  });
  const contextManager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(contextManager);
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(provider);
  const logger = options.logger;
  let lastLogged = 0;
  setGlobalErrorHandler((error) => {
    // A collector that is down fails every export: say so at most every 10 s.
    if (Date.now() - lastLogged < 10_000) return;
    lastLogged = Date.now();
    logger?.warn({ err: error }, 'trace export failed');
  });

  let stopped: Promise<void> | undefined;
  const stop = async () => {
    const timer = new Promise<void>((resolve) => setTimeout(resolve, FLUSH_LIMIT_MS).unref());
    await Promise.race([provider.shutdown().catch(() => undefined), timer]);
    trace.disable();
    context.disable();
    propagation.disable();
  };
  return {
    tracer: createOtelTracer(trace.getTracer(TRACER_NAME, options.version)),
    telemetry: new BullMQOtel({ tracerName: TRACER_NAME, version: options.version }),
    shutdown: () => (stopped ??= stop()),
  };
}

function configuredSampler(settings: TracingSettings): Sampler {
  const ratio = new TraceIdRatioBasedSampler(settings.samplerRatio);
  switch (settings.sampler) {
    case 'always_on':
      return new AlwaysOnSampler();
    case 'always_off':
      return new AlwaysOffSampler();
    case 'traceidratio':
      return ratio;
    case 'parentbased_always_on':
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
    case 'parentbased_always_off':
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case 'parentbased_traceidratio':
      return new ParentBasedSampler({ root: ratio });
  }
}

/**
 * BullMQ also traces its own housekeeping: every blocking wait for a job (`getNextJob`, a few
 * per second per idle worker), lock renewals, stalled checks, closes. Outside a job these are
 * traces of their own, hundreds a minute, that say nothing about a registration. Such roots
 * are dropped; a trace may start only where work starts: our spans (`esign.*`), a job added
 * (`add …`) or processed (`process …`, a job enqueued without trace context). Spans inside a
 * trace follow the configured sampler.
 */
class HousekeepingFilter implements Sampler {
  private readonly inner: Sampler;
  constructor(inner: Sampler) {
    this.inner = inner;
  }

  shouldSample(...args: Parameters<Sampler['shouldSample']>) {
    const [parentContext, , name] = args;
    const parent = trace.getSpanContext(parentContext);
    const isRoot = !parent || !isSpanContextValid(parent);
    if (isRoot && !/^(esign\.|add |addBulk |process )/.test(name))
      return { decision: SamplingDecision.NOT_RECORD };
    return this.inner.shouldSample(...args);
  }

  toString(): string {
    return `HousekeepingFilter{${this.inner.toString()}}`;
  }
}
