import { afterEach, describe, expect, it } from 'vitest';
import { exitWithin, waitUntil, type ChildCli } from '../demo/child-process.ts';
import { person, registrationRequest } from './support/requests.ts';
import { tracedRegistration, tracedStack, type Cleanups } from './support/traced-stack.ts';

/**
 * One registration, one trace, through the recovery paths too: a re-drive after Redis lost a
 * job, a retry (a trace per attempt), a job that stalled twice. As in tracing.test.ts, the
 * workers are `esign-worker worker` children exporting to a stand-in collector.
 */
describe('traces through recovery', () => {
  const cleanups: Cleanups = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
  });

  it('continue the trace when a stranded registration is re-driven', async () => {
    const run = await tracedRegistration(
      cleanups,
      { env: { REDRIVE_INTERVAL_MS: '200', REDRIVE_AFTER_MS: '300' } },
      { strand: true },
    );
    expect(run.status).toBe('COMPLETED');
    const redrive = run.trace.find((s) => s.name === 'esign.registration.redrive');
    expect(redrive?.parentSpanId).toBe(run.root.spanId);
    const names = run.trace.map((s) => s.name);
    for (const name of ['process initiate', 'esign.step.confirm', 'add results.result'])
      expect(names, name).toContain(name);
  });

  it('give a retried registration a trace per attempt, its callbacks joining the new one', async () => {
    const { receiver, tracing, stack } = await tracedStack(cleanups, {});
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
    // The result reaches the consumer a moment before the record notes it published; until
    // then retry says to try again in a moment, as a user would.
    let retried: Awaited<ReturnType<typeof stack.producer.retryRegistration>> | undefined;
    await waitUntil(
      async () => {
        retried = await stack.producer
          .retryRegistration(registrationId, request)
          .catch((error: unknown) => {
            if (String((error as Error).message).includes('not published yet')) return undefined;
            throw error;
          });
        return retried !== undefined;
      },
      { timeoutMs: 10_000, what: 'the first attempt noted published' },
    );
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
    // The retry call that started the attempt: one before it may have been refused (not
    // published yet), and its span is exported too, in a trace where nothing was added.
    const second = spans.find(
      (s) =>
        s.name === 'esign.registration.retry' &&
        spans.some((x) => x.traceId === s.traceId && x.name === 'add initiate.initiate'),
    );
    expect(second?.parentSpanId).toBe('');
    expect(second?.traceId).not.toBe(first?.traceId);
    const accepts = spans.filter((s) => s.name === 'esign.callback.accept');
    expect(accepts.length).toBeGreaterThan(0);
    for (const accept of accepts) expect(accept.traceId).toBe(second?.traceId);
    const inSecond = spans.filter((s) => s.traceId === second?.traceId).map((s) => s.name);
    expect(inSecond).toContain('add results.result');
  });

  it('publish in the trace the failure of a job that stalled twice', async () => {
    const { receiver, tracing, stack } = await tracedStack(cleanups, {});
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
    expect(job?.name).toBe('process initiate');
    expect(job?.service).toBe('esign-worker-child');
  }, 60_000);
});
