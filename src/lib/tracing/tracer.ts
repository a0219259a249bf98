/**
 * The spans this service makes itself (Esign calls, the callback, the enqueue), as a small
 * contract that code below app/ is handed: it imports no OpenTelemetry package, so a process
 * with tracing off loads none (lib/tracing/otel-tracer.ts implements it when tracing is on).
 *
 * Attributes are chosen by the caller from a closed set of safe values: names of endpoints,
 * statuses, ids we issue. Never a URL (a presigned upload URL carries its signature in the
 * query), a header, a body, an error message or anything from the request.
 */

export type SpanKindName = 'internal' | 'server' | 'client' | 'producer' | 'consumer';
export type SpanAttributes = Record<string, string | number | boolean | undefined>;

export interface SpanOptions {
  kind?: SpanKindName;
  attributes?: SpanAttributes;
  /** Where the span belongs, as a W3C traceparent (`00-<trace>-<span>-<flags>`), if not the active span. */
  parent?: string | undefined;
  /** A trace of its own: the active span, if any, is linked, not its parent. */
  root?: boolean | undefined;
  /** Other spans this one relates to (W3C traceparents). */
  links?: readonly string[] | undefined;
}

export interface ActiveSpan {
  setAttributes(attributes: SpanAttributes): void;
  /** Marks the span failed with a short classification (an error code, a status), never a message. */
  fail(type: string): void;
  /** Relates this span to another (a W3C traceparent). */
  link(traceparent: string): void;
  /** This span as a W3C traceparent, for continuing or linking its trace elsewhere. */
  traceparent(): string | undefined;
}

export interface Tracer {
  /**
   * Runs `fn` in a new span, the active one while it runs, ended when `fn` settles. A throw
   * marks it failed with the error's code (WorkerError) or name, and is rethrown.
   */
  inSpan<T>(name: string, options: SpanOptions, fn: (span: ActiveSpan) => Promise<T>): Promise<T>;
  /** The span active here (e.g. the callback's), so another trace can link to it. */
  active(): ActiveSpan;
}

const noSpan: ActiveSpan = {
  setAttributes: () => undefined,
  fail: () => undefined,
  link: () => undefined,
  traceparent: () => undefined,
};

/** `tracer.inSpan`, or just `fn` when tracing is off (no tracer was given). */
export function inSpan<T>(
  tracer: Tracer | undefined,
  name: string,
  options: SpanOptions,
  fn: (span: ActiveSpan) => Promise<T>,
): Promise<T> {
  return tracer ? tracer.inSpan(name, options, fn) : fn(noSpan);
}

/** The active span, or one that records nothing when tracing is off. */
export function activeSpan(tracer: Tracer | undefined): ActiveSpan {
  return tracer ? tracer.active() : noSpan;
}
