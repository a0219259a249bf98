import { trace as otelTrace } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { permanent } from '../src/lib/errors.ts';
import { startTracing, type Tracing } from '../src/lib/tracing/sdk.ts';
import type { TracingSettings } from '../src/lib/tracing/settings.ts';

/** The span contract (lib/tracing/tracer.ts) over the real SDK, spans kept in memory. */
describe('the tracing SDK and span contract', () => {
  const exporter = new InMemorySpanExporter();
  let tracing: Tracing;
  const settings: TracingSettings = {
    exporter: 'otlp',
    url: 'http://127.0.0.1:1/v1/traces',
    headers: {},
    timeoutMs: 1_000,
    serviceName: 'esign-unit',
    resourceAttributes: {},
    sampler: 'parentbased_always_on',
    samplerRatio: 1,
  };
  beforeAll(() => {
    tracing = startTracing(settings, {
      version: 'test',
      spanProcessor: new SimpleSpanProcessor({ exporter }),
    });
  });
  beforeEach(() => exporter.reset());
  afterAll(() => tracing.shutdown());

  const spans = () => exporter.getFinishedSpans();
  const named = (name: string) => spans().find((span) => span.name === name);

  it('nests spans, continues a given trace, and starts a linked root on request', async () => {
    const { tracer } = tracing;
    let remembered: string | undefined;
    await tracer.inSpan('esign.caller', {}, async (caller) => {
      remembered = caller.traceparent();
      await tracer.inSpan('esign.child', {}, () => Promise.resolve());
      await tracer.inSpan('esign.own', { root: true }, () => Promise.resolve());
    });
    await tracer.inSpan('esign.later', { parent: remembered }, () => Promise.resolve());
    const caller = named('esign.caller');
    const callerId = caller?.spanContext().spanId;
    const traceId = caller?.spanContext().traceId;
    expect(remembered).toBe(`00-${traceId}-${callerId}-01`);
    expect(named('esign.child')?.parentSpanContext?.spanId).toBe(callerId);
    const own = named('esign.own');
    expect(own?.spanContext().traceId).not.toBe(traceId);
    expect(own?.parentSpanContext).toBeUndefined();
    expect(own?.links.map((link) => link.context.spanId)).toEqual([callerId]);
    const later = named('esign.later');
    expect(later?.spanContext().traceId).toBe(traceId);
    expect(later?.parentSpanContext?.spanId).toBe(callerId);
  });

  it('marks a failure with its code only: no message, no exception event', async () => {
    await expect(
      tracing.tracer.inSpan('esign.failing', {}, () =>
        Promise.reject(permanent('ESIGN_REJECTED', 'Esign said no about user 3171234567890001')),
      ),
    ).rejects.toMatchObject({ code: 'ESIGN_REJECTED' });
    const failing = named('esign.failing');
    expect(failing?.status.code).toBe(2);
    expect(failing?.status.message).toBeUndefined();
    expect(failing?.attributes).toEqual({ 'error.type': 'ESIGN_REJECTED' });
    expect(failing?.events).toEqual([]);
  });

  it("drops BullMQ's housekeeping as a trace of its own, keeps it inside a job's", async () => {
    const raw = otelTrace.getTracer('bullmq-like');
    for (const name of ['getNextJob initiate', 'extendLocks upload', 'moveStalledJobsToWait x'])
      raw.startSpan(name).end();
    const job = raw.startSpan('process initiate');
    await tracing.tracer.inSpan('esign.inside', { parent: toParent(job) }, async () => {
      otelTrace.getTracer('bullmq-like').startSpan('getNextJob upload').end();
      return Promise.resolve();
    });
    job.end();
    raw.startSpan('add initiate.initiate').end();
    expect(spans().map((span) => span.name)).toEqual([
      'getNextJob upload',
      'esign.inside',
      'process initiate',
      'add initiate.initiate',
    ]);
  });
});

function toParent(span: { spanContext(): { traceId: string; spanId: string } }): string {
  const { traceId, spanId } = span.spanContext();
  return `00-${traceId}-${spanId}-01`;
}
