import {
  context,
  isSpanContextValid,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Link,
  type Span,
  type SpanContext,
  type Tracer as OtelTracer,
} from '@opentelemetry/api';
import { parseTraceParent } from '@opentelemetry/core';
import { isWorkerError } from '../errors.ts';
import type { ActiveSpan, SpanAttributes, SpanKindName, Tracer } from './tracer.ts';

/**
 * The span contract of tracer.ts over the OpenTelemetry API, on the global context manager
 * (AsyncLocalStorage), so spans made here and BullMQ's (bullmq-otel) nest in one another.
 * Loaded only when tracing is on.
 */

const kinds: Record<SpanKindName, SpanKind> = {
  internal: SpanKind.INTERNAL,
  server: SpanKind.SERVER,
  client: SpanKind.CLIENT,
  producer: SpanKind.PRODUCER,
  consumer: SpanKind.CONSUMER,
};

export function createOtelTracer(tracer: OtelTracer): Tracer {
  return {
    async inSpan(name, options, fn) {
      const active = context.active();
      const links: Link[] = (options.links ?? []).flatMap(toLink);
      let parent = active;
      if (options.root) {
        // A trace of its own; whatever was active (a caller's request) is related, not parent.
        const caller = trace.getSpanContext(active);
        if (caller && isSpanContextValid(caller)) links.push({ context: caller });
        parent = ROOT_CONTEXT;
      } else if (options.parent !== undefined) {
        const remote = fromTraceparent(options.parent);
        if (remote) parent = trace.setSpanContext(ROOT_CONTEXT, remote);
      }
      const span = tracer.startSpan(
        name,
        {
          kind: kinds[options.kind ?? 'internal'],
          attributes: clean(options.attributes ?? {}),
          links,
        },
        parent,
      );
      try {
        return await context.with(trace.setSpan(parent, span), () => fn(wrap(span)));
      } catch (error) {
        fail(span, isWorkerError(error) ? error.code : errorName(error));
        throw error;
      } finally {
        span.end();
      }
    },
    active: () => wrap(trace.getActiveSpan()),
  };
}

function wrap(span: Span | undefined): ActiveSpan {
  return {
    setAttributes: (attributes: SpanAttributes) => span?.setAttributes(clean(attributes)),
    fail: (type: string) => span && fail(span, type),
    link(traceparent: string) {
      for (const link of toLink(traceparent)) span?.addLink(link);
    },
    traceparent() {
      const spanContext = span?.spanContext();
      return spanContext && isSpanContextValid(spanContext)
        ? toTraceparent(spanContext)
        : undefined;
    },
  };
}

/** Status ERROR with the classification only: an error's message is never recorded. */
function fail(span: Span, type: string): void {
  span.setAttribute('error.type', type);
  span.setStatus({ code: SpanStatusCode.ERROR });
}

function errorName(error: unknown): string {
  return error instanceof Error ? error.name : 'Error';
}

function clean(attributes: SpanAttributes): Record<string, string | number | boolean> {
  const defined: Record<string, string | number | boolean> = {};
  for (const [key, value] of Object.entries(attributes))
    if (value !== undefined) defined[key] = value;
  return defined;
}

function fromTraceparent(traceparent: string): SpanContext | undefined {
  const parsed = parseTraceParent(traceparent);
  return parsed && isSpanContextValid(parsed) ? { ...parsed, isRemote: true } : undefined;
}

function toLink(traceparent: string): Link[] {
  const spanContext = fromTraceparent(traceparent);
  return spanContext ? [{ context: spanContext }] : [];
}

export function toTraceparent(spanContext: SpanContext): string {
  const flags = (spanContext.traceFlags & 0xff).toString(16).padStart(2, '0');
  return `00-${spanContext.traceId}-${spanContext.spanId}-${flags}`;
}
