import { Queue } from 'bullmq';
import { afterEach, describe, expect, it } from 'vitest';
import { exitWithin, waitUntil, type ChildCli } from '../demo/child-process.ts';
import { createProducerApp } from '../src/app/producer-app.ts';
import { loadConfig } from '../src/lib/config.ts';
import { startTracing, type Tracing } from '../src/lib/tracing/sdk.ts';
import { tracingSettings } from '../src/lib/tracing/settings.ts';
import {
  startOtlpReceiver,
  type OtlpReceiver,
  type ReceivedSpan,
} from './support/otlp-receiver.ts';
import { connect } from './support/redis.ts';
import { person, registrationRequest, type TestPerson } from './support/requests.ts';
import {
  callbackSecret,
  sandboxCredentials,
  startStack,
  type Stack,
  type StackOptions,
} from './support/stack.ts';

/**
 * A registration traced across two processes as production runs them: the producer and the
 * callback listener here (the SDK started as main.ts starts it, exporting OTLP/HTTP JSON), the
 * step workers in a real `esign-worker worker` child configured by OTEL_* variables alone. Both
 * export to a stand-in collector; the tests read what arrived there.
 */
describe('traces', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
  });

  it('make one registration one trace, from enqueue to the published result', async () => {
    const run = await tracedRegistration({});
    const { spans, root: enqueue, trace } = run;
    expect(run.status).toBe('COMPLETED');
    const names = trace.map((s) => s.name);
    for (const name of [
      'add initiate.initiate',
      'process initiate',
      'esign.token',
      'esign.get_submission',
      'esign.create_submission',
      'add upload.upload',
      'process upload',
      'esign.upload',
      'add confirm.confirm',
      'process confirm',
      'esign.confirm',
      'add poll.poll',
      'esign.callback.accept',
      'add complete.complete',
      'process complete',
      'add results.result',
    ])
      expect(names, name).toContain(name);
    expect(names.filter((name) => name === 'esign.upload')).toHaveLength(2);
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
    const run = await tracedRegistration({
      sandbox: { callback: undefined },
      env: { CALLBACK_TIMEOUT_MS: '200' },
    });
    expect(run.status).toBe('COMPLETED');
    const names = run.trace.map((s) => s.name);
    for (const name of ['process confirm', 'process poll', 'esign.get_submission'])
      expect(names, name).toContain(name);
    expect(names).toContain('add results.result');
    expect(run.spans.filter((s) => s.name.startsWith('esign.callback'))).toEqual([]);
    expectNothingLeaked(run);
  });

  it('keep the callback in the trace when registrations are spread over partitions', async () => {
    const run = await tracedRegistration({ env: { QUEUE_PARTITIONS: '3' } });
    expect(run.status).toBe('COMPLETED');
    const names = run.trace.map((s) => s.name);
    for (const name of ['process confirm', 'esign.callback.accept', 'process complete'])
      expect(names, name).toContain(name);
    expect(names).toContain('add results.result');
    expectNothingLeaked(run);
  });

  it('continue the trace when a stranded registration is re-driven', async () => {
    const run = await tracedRegistration(
      { env: { REDRIVE_INTERVAL_MS: '200', REDRIVE_AFTER_MS: '300' } },
      { strand: true },
    );
    expect(run.status).toBe('COMPLETED');
    const redrive = run.trace.find((s) => s.name === 'esign.registration.redrive');
    expect(redrive?.parentSpanId).toBe(run.root.spanId);
    const names = run.trace.map((s) => s.name);
    for (const name of ['process initiate', 'process confirm', 'add results.result'])
      expect(names, name).toContain(name);
  });

  it('give a retried registration a trace per attempt, its callbacks joining the new one', async () => {
    const { receiver, tracing, stack } = await tracedStack({});
    const worker = stack.startProcess('worker', {
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_SERVICE_NAME: 'esign-worker-child',
    });
    cleanups.push(() => worker.kill());
    await worker.waitForLog('worker ready');

    stack.sandbox.setFaults({ failNext: { confirm: 1 }, failStatus: 400 });
    const request = registrationRequest(person('completed'));
    const { registrationId } = await stack.producer.enqueueRegistration(request);
    expect((await stack.waitForResult(registrationId, 20_000)).status).toBe('FAILED');
    const retried = await stack.producer.retryRegistration(registrationId, request);
    expect(retried).toMatchObject({ attempt: 2, started: true });
    await waitUntil(
      () =>
        stack.results.some((r) => r.registrationId === registrationId && r.status === 'COMPLETED'),
      { timeoutMs: 20_000, what: 'the second attempt completed' },
    );
    worker.process.kill('SIGTERM');
    expect((await exitWithin(worker, 10_000, 'SIGTERM on the traced worker')).code).toBe(0);
    await tracing.shutdown();

    const spans = receiver.spans;
    const first = spans.find((s) => s.name === 'esign.registration.enqueue');
    const second = spans.find((s) => s.name === 'esign.registration.retry');
    expect(second?.parentSpanId).toBe('');
    expect(second?.traceId).not.toBe(first?.traceId);
    const accepts = spans.filter((s) => s.name === 'esign.callback.accept');
    expect(accepts.length).toBeGreaterThan(0);
    for (const accept of accepts) expect(accept.traceId).toBe(second?.traceId);
    const inSecond = spans.filter((s) => s.traceId === second?.traceId).map((s) => s.name);
    expect(inSecond).toContain('add results.result');
  });

  it('start the trace at the first step when the producer traces nothing, and keep it whole', async () => {
    const run = await tracedRegistration({}, { tracedProducer: false });
    expect(run.status).toBe('COMPLETED');
    expect(run.root.name).toBe('process initiate');
    const names = run.trace.map((s) => s.name);
    for (const name of ['process confirm', 'esign.callback.accept', 'process complete'])
      expect(names, name).toContain(name);
    expect(names).toContain('add results.result');
    expectNothingLeaked(run);
  });

  it('mark a failed call and keep the failed registration in its trace, with nothing leaked', async () => {
    const run = await tracedRegistration(
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
    expect(names).toContain('process confirm');
    expect(names).toContain('add results.result');
    expectNothingLeaked(run);
  });

  it('publish in the trace the failure of a job that stalled twice', async () => {
    const { receiver, tracing, stack } = await tracedStack({});
    const children: ChildCli[] = [];
    cleanups.push(() => Promise.all(children.map((child) => child.kill())));
    const startWorker = () => {
      const child = stack.startProcess('worker', {
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
        OTEL_SERVICE_NAME: 'esign-worker-child',
        // A killed worker's job is found stalled within ~2.5 s, not 30 s.
        LOCK_DURATION_MS: '2000',
        STALLED_INTERVAL_MS: '500',
        ESIGN_REQUEST_TIMEOUT_MS: '30000',
      });
      children.push(child);
      return child;
    };

    // Two workers die on the same hung upload: BullMQ fails the job without the processor.
    const hungBefore = stack.sandbox.inspect().calls.upload.hang ?? 0;
    stack.sandbox.setFaults({ hangNext: { upload: 2 } });
    const { registrationId } = await stack.producer.enqueueRegistration(
      registrationRequest(person('completed')),
    );
    for (const index of [0, 1]) {
      const running = startWorker();
      await waitUntil(() => (stack.sandbox.inspect().calls.upload.hang ?? 0) > hungBefore + index, {
        timeoutMs: 15_000,
        what: `upload hang ${String(index + 1)}`,
      });
      await running.kill();
    }
    const last = startWorker();
    const result = await stack.waitForResult(registrationId, 30_000);
    expect(result).toMatchObject({ status: 'FAILED', error: { code: 'INTERNAL' } });
    last.process.kill('SIGTERM');
    expect((await exitWithin(last, 10_000, 'SIGTERM on the last worker')).code).toBe(0);
    await tracing.shutdown();

    const enqueue = receiver.spans.find((s) => s.name === 'esign.registration.enqueue');
    const trace = receiver.spans.filter((s) => s.traceId === enqueue?.traceId);
    // The last worker fails the job when it takes it (BullMQ's deferred failure), inside the
    // job's span, so the FAILED result is published in the registration's trace.
    const publish = trace.find((s) => s.name === 'add results.result');
    const job = trace.find((s) => s.spanId === publish?.parentSpanId);
    expect(job?.name).toBe('process upload');
    expect(job?.service).toBe('esign-worker-child');
  }, 60_000);

  /** A collector, the SDK here exporting to it, and a stack with no workers, all cleaned up. */
  async function tracedStack(options: StackOptions) {
    const receiver = await startOtlpReceiver();
    cleanups.push(() => receiver.close());
    const tracing = startTestTracing(receiver);
    cleanups.push(() => tracing.shutdown());
    const stack: Stack = await startStack({ ...options, worker: 'none', tracing });
    cleanups.push(() => stack.close());
    return { receiver, tracing, stack };
  }

  interface TracedRun {
    status: string;
    spans: ReceivedSpan[];
    /** The registration's root span, and every span of its trace. */
    root: ReceivedSpan;
    trace: ReceivedSpan[];
    bodies: string[];
    who: TestPerson;
    token: string | null;
  }

  /** One registration through a traced stack; every span exported once it is all stopped. */
  async function tracedRegistration(
    options: StackOptions,
    {
      tracedProducer = true,
      faults,
      strand = false,
    }: {
      tracedProducer?: boolean;
      faults?: Parameters<Stack['sandbox']['setFaults']>[0];
      strand?: boolean;
    } = {},
  ): Promise<TracedRun> {
    const { receiver, tracing, stack } = await tracedStack(options);
    if (faults) stack.sandbox.setFaults(faults);
    const who = person('completed');
    const producer = tracedProducer
      ? stack.producer
      : createProducerApp(loadConfig(stack.env, ['common', 'pipeline', 'producer']), {
          name: 'untraced-producer',
        });
    if (!tracedProducer) cleanups.push(() => producer.close());
    const { registrationId } = await producer.enqueueRegistration(registrationRequest(who));
    if (strand) {
      // Its first job lost (as Redis losing recent writes would): only a re-drive moves it.
      const connection = connect();
      const initiate = new Queue('initiate', { connection, prefix: stack.prefix });
      expect(await initiate.remove(`${registrationId}-initiate-g0`)).toBe(1);
      await initiate.close();
      connection.disconnect();
    }
    const worker = stack.startProcess('worker', {
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_SERVICE_NAME: 'esign-worker-child',
    });
    await worker.waitForLog('tracing on');
    const result = await stack.waitForResult(registrationId, 20_000);
    const redis = connect();
    const token = await redis.hget(`${stack.prefix}:esign:token`, 'token');
    redis.disconnect();

    // SIGTERM flushes the child's spans; the shutdown here flushes ours.
    worker.process.kill('SIGTERM');
    expect((await exitWithin(worker, 10_000, 'SIGTERM on the traced worker')).code).toBe(0);
    await tracing.shutdown();

    const spans = receiver.spans;
    // The registration's trace starts at its enqueue, or (producer untraced) its first step.
    const roots = spans.filter((s) => s.parentSpanId === '' && s.name !== 'esign.callback');
    expect(roots.map((s) => s.name)).toEqual([
      tracedProducer ? 'esign.registration.enqueue' : 'process initiate',
    ]);
    const root = roots[0] as ReceivedSpan;
    if (tracedProducer) expect(root.attributes['esign.registration.id']).toBe(registrationId);
    const trace = spans.filter((s) => s.traceId === root.traceId);
    // Every span of the trace hangs from the root: no orphan, no second root.
    const ids = new Set(trace.map((s) => s.spanId));
    for (const span of trace)
      if (span !== root) expect(ids.has(span.parentSpanId), span.name).toBe(true);
    return { status: result.status, spans, root, trace, bodies: receiver.bodies, who, token };
  }
});

function startTestTracing(receiver: OtlpReceiver): Tracing {
  const env = { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_SERVICE_NAME: 'esign-test' };
  const settings = tracingSettings(loadConfig(env, ['tracing']).tracing, {
    serviceName: 'unused',
  });
  if (!settings) throw new Error('tracing settings expected from OTEL_EXPORTER_OTLP_ENDPOINT');
  return startTracing(settings, { version: 'test' });
}

/**
 * Nothing personal or secret anywhere in what was exported: names, attributes, links, events,
 * resources, the raw bodies. No URL either (a presigned one carries its signature).
 */
function expectNothingLeaked(run: {
  spans: ReceivedSpan[];
  bodies: string[];
  who: TestPerson;
  token: string | null;
}): void {
  const { who } = run;
  expect(run.token).toBeTruthy();
  const exported = run.bodies.join('\n');
  for (const secret of [
    who.nik,
    who.name,
    who.email,
    who.phoneNumber,
    who.dateOfBirth,
    who.userIp,
    who.deviceId,
    run.token ?? 'token',
    sandboxCredentials.passKey,
    callbackSecret,
  ])
    expect(exported).not.toContain(secret);
  for (const span of run.spans)
    for (const [key, value] of Object.entries(span.attributes)) {
      expect(key).not.toMatch(/url|query|header|body/i);
      expect(String(value)).not.toMatch(/[?&][^=\s]+=|:\/\//);
    }
}
