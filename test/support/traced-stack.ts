import { Queue } from 'bullmq';
import { expect } from 'vitest';
import { exitWithin } from '../../demo/child-process.ts';
import { createProducerApp } from '../../src/app/producer-app.ts';
import { loadConfig } from '../../src/lib/config.ts';
import { createPiiCipher } from '../../src/lib/pii-cipher.ts';
import { startTracing, type Tracing } from '../../src/lib/tracing/sdk.ts';
import { tracingSettings } from '../../src/lib/tracing/settings.ts';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from './otlp-receiver.ts';
import { connect } from './redis.ts';
import { person, registrationRequest, type TestPerson } from './requests.ts';
import {
  callbackSecret,
  sandboxCredentials,
  startStack,
  type Stack,
  type StackOptions,
} from './stack.ts';

/**
 * Traced registrations for the tracing tests: the producer and the listener traced in the
 * test process, the workers in `esign-worker worker` children configured by OTEL_* alone, all
 * exporting to a stand-in collector. What a test starts is pushed on its `cleanups`.
 */
export type Cleanups = (() => Promise<unknown>)[];

/** A collector, the SDK here exporting to it, and a stack with no workers, all cleaned up. */
export async function tracedStack(cleanups: Cleanups, options: StackOptions) {
  const receiver = await startOtlpReceiver();
  cleanups.push(() => receiver.close());
  const tracing = startTestTracing(receiver);
  cleanups.push(() => tracing.shutdown());
  const stack: Stack = await startStack({ ...options, worker: 'none', tracing });
  cleanups.push(() => stack.close());
  return { receiver, tracing, stack };
}

export interface TracedRun {
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
export async function tracedRegistration(
  cleanups: Cleanups,
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
  const { receiver, tracing, stack } = await tracedStack(cleanups, options);
  if (faults) stack.sandbox.setFaults(faults);
  const who = person('completed');
  const producer = tracedProducer
    ? stack.producer
    : createProducerApp(loadConfig(stack.env, ['common', 'pipeline', 'producer', 'pii']), {
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
  // Sealed in Redis: opened with the stack's key, to look for it in what was exported.
  const sealed = await redis.hget(`${stack.prefix}:esign:token`, 'sealedToken');
  redis.disconnect();
  const cipher = createPiiCipher({ key: Buffer.from(stack.env.PII_ENCRYPTION_KEY ?? '', 'hex') });
  const token = sealed === null ? null : cipher.open(sealed, 'esign:token');

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

export function startTestTracing(receiver: OtlpReceiver): Tracing {
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
export function expectNothingLeaked(run: {
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
