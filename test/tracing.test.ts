import { afterEach, describe, expect, it } from 'vitest';
import { tracedRegistration, expectNothingLeaked, type Cleanups } from './support/traced-stack.ts';

/**
 * A registration traced across two processes as production runs them: the producer and the
 * callback listener here (the SDK started as main.ts starts it, exporting OTLP/HTTP JSON), the
 * step workers in a real `esign-worker worker` child configured by OTEL_* variables alone. Both
 * export to a stand-in collector; the tests read what arrived there.
 */
describe('traces', () => {
  const cleanups: Cleanups = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
  });

  it('make one registration one trace, from enqueue to the published result', async () => {
    const run = await tracedRegistration(cleanups, {});
    const { spans, root: enqueue, trace } = run;
    expect(run.status).toBe('COMPLETED');
    const names = trace.map((s) => s.name);
    for (const name of [
      'add initiate.initiate',
      'process initiate',
      'esign.step.initiate',
      'esign.token',
      'esign.get_submission',
      'esign.create_submission',
      'esign.step.upload',
      'esign.upload',
      'esign.step.confirm',
      'esign.confirm',
      'esign.callback.accept',
      'add complete.complete',
      'process complete',
      'add results.result',
    ])
      expect(names, name).toContain(name);
    expect(names.filter((name) => name === 'esign.upload')).toHaveLength(2);
    // The callback came first: the fallback poll never became a job (its timer went with the end).
    expect(names).not.toContain('add poll.poll');
    // The submission is one job: its steps are spans inside it, not jobs of their own.
    for (const name of ['add upload.upload', 'process upload', 'add confirm.confirm'])
      expect(names, name).not.toContain(name);
    const job = trace.find((s) => s.name === 'process initiate');
    for (const step of ['initiate', 'upload', 'confirm'])
      expect(trace.find((s) => s.name === `esign.step.${step}`)?.parentSpanId).toBe(job?.spanId);
    // Both processes wrote into the one trace: context travelled through Redis.
    expect(new Set(trace.map((s) => s.service))).toEqual(
      new Set(['esign-test', 'esign-worker-child']),
    );
    const esignCalls = trace.filter((s) => s.name.startsWith('esign.') && s.kind === 3);
    for (const call of esignCalls) {
      expect(call.attributes['server.address']).toBe('127.0.0.1');
      expect(call.attributes['http.response.status_code']).toBeTypeOf('number');
    }

    // Each callback (one per status Esign reports) came without our context: a trace of its
    // own, linked both ways with the registration's.
    const callbacks = spans.filter((s) => s.name === 'esign.callback');
    expect(callbacks.length).toBeGreaterThan(0);
    for (const callback of callbacks) {
      expect(callback.traceId).not.toBe(enqueue.traceId);
      expect(callback.parentSpanId).toBe('');
      expect(callback.attributes['esign.callback.outcome']).toBe('accepted');
      expect(callback.attributes['http.response.status_code']).toBe(200);
      expect(callback.links.map((link) => link.traceId)).toEqual([enqueue.traceId]);
    }
    const accepts = trace.filter((s) => s.name === 'esign.callback.accept');
    expect(accepts).toHaveLength(callbacks.length);
    for (const accept of accepts)
      expect(callbacks.map((c) => ({ traceId: c.traceId, spanId: c.spanId }))).toContainEqual(
        accept.links[0],
      );
    expectNothingLeaked(run);
  });

  it('keep the poll in the trace when no callback comes', async () => {
    const run = await tracedRegistration(cleanups, {
      sandbox: { callback: undefined },
      env: { CALLBACK_TIMEOUT_MS: '200' },
    });
    expect(run.status).toBe('COMPLETED');
    const names = run.trace.map((s) => s.name);
    // The poll's timer woke it: the sweeper's add joins the registration's trace.
    for (const name of [
      'esign.step.confirm',
      'esign.registration.timer',
      'add poll.poll',
      'process poll',
      'esign.get_submission',
    ])
      expect(names, name).toContain(name);
    expect(names).toContain('add results.result');
    expect(run.spans.filter((s) => s.name.startsWith('esign.callback'))).toEqual([]);
    expectNothingLeaked(run);
  });

  it('keep the callback in the trace when registrations are spread over partitions', async () => {
    const run = await tracedRegistration(cleanups, { env: { QUEUE_PARTITIONS: '3' } });
    expect(run.status).toBe('COMPLETED');
    const names = run.trace.map((s) => s.name);
    for (const name of ['esign.step.confirm', 'esign.callback.accept', 'process complete'])
      expect(names, name).toContain(name);
    expect(names).toContain('add results.result');
    expectNothingLeaked(run);
  });

  it('start the trace at the first step when the producer traces nothing, and keep it whole', async () => {
    const run = await tracedRegistration(cleanups, {}, { tracedProducer: false });
    expect(run.status).toBe('COMPLETED');
    expect(run.root.name).toBe('process initiate');
    const names = run.trace.map((s) => s.name);
    for (const name of ['esign.step.confirm', 'esign.callback.accept', 'process complete'])
      expect(names, name).toContain(name);
    expect(names).toContain('add results.result');
    expectNothingLeaked(run);
  });

  it('mark a failed call and keep the failed registration in its trace, with nothing leaked', async () => {
    const run = await tracedRegistration(
      cleanups,
      {},
      { faults: { failNext: { confirm: 1 }, failStatus: 400 } },
    );
    expect(run.status).toBe('FAILED');
    const confirm = run.trace.find((s) => s.name === 'esign.confirm');
    expect(confirm?.attributes).toMatchObject({
      'http.response.status_code': 400,
      'error.type': '400',
    });
    expect(confirm?.status.code).toBe(2); // ERROR
    const names = run.trace.map((s) => s.name);
    expect(names).toContain('esign.step.confirm');
    expect(names).toContain('add results.result');
    expectNothingLeaked(run);
  });
});
