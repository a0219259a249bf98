import { readFileSync } from 'node:fs';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { esignSchema } from '../src/lib/config.ts';
import type { ErrorCode } from '../src/lib/errors.ts';
import type { EsignEndpoint } from '../src/lib/esign/types.ts';
import {
  Metrics,
  packageVersion,
  queueNames,
  statusClass,
  type QueueName,
} from '../src/lib/metrics.ts';
import { submissionSteps } from '../src/lib/registration/jobs.ts';
import { promtool } from './support/promtool.ts';
import { cleanPrefix, connect, uniquePrefix } from './support/redis.ts';
import { timersKey } from '../src/lib/registration/timers.ts';

// prom-client's own default gauges end in _total, which promtool's naming lint rejects; they
// are not ours to rename. Every other lint line fails the test.
const promClientLintLines = [
  'nodejs_active_handles_total non-counter metrics should not have "_total" suffix',
  'nodejs_active_requests_total non-counter metrics should not have "_total" suffix',
  'nodejs_active_resources_total non-counter metrics should not have "_total" suffix',
];

const endpoints: EsignEndpoint[] = [
  'token',
  'create_submission',
  'upload',
  'confirm',
  'get_submission',
];
const errorCodes: ErrorCode[] = [
  'ESIGN_TIMEOUT',
  'ESIGN_SERVER_ERROR',
  'UPLOAD_URL_EXPIRED',
  'IMAGE_INVALID',
];

/** Drive every metric the way the worker and listener do, with the label values they use. */
function exerciseEveryMetric(metrics: Metrics): void {
  for (const queue of queueNames) {
    metrics.jobs.inc({ queue, outcome: 'completed' }, 5);
    metrics.jobs.inc({ queue, outcome: 'retried' });
    metrics.jobs.inc({ queue, outcome: 'failed' });
    metrics.jobDuration.observe({ queue }, 0.042);
  }
  for (const step of submissionSteps) metrics.stepDuration.observe({ step }, 0.031);
  for (const code of errorCodes) metrics.jobErrors.inc({ queue: 'upload', code });
  for (const endpoint of endpoints) {
    metrics.observeEsignRequest(endpoint, statusClass(200), 0.12);
    metrics.observeEsignRequest(endpoint, statusClass(503), 1.5);
    metrics.observeEsignRequest(endpoint, 'timeout', 15);
  }
  metrics.uploadBytes.inc({ document: 'KTP' }, 183_422);
  metrics.uploadBytes.inc({ document: 'SELFIE' }, 96_120);
  for (const outcome of ['accepted', 'duplicate', 'unauthorized', 'invalid'] as const)
    metrics.callbacks.inc({ outcome });
  for (const outcome of ['pending', 'terminal', 'not_found', 'error'] as const)
    metrics.polls.inc({ outcome });
  metrics.registrationsFinished.inc({ status: 'COMPLETED', result: 'VALID', source: 'callback' });
  metrics.registrationsFinished.inc({ status: 'COMPLETED', result: 'INVALID', source: 'poll' });
  metrics.registrationsFinished.inc({ status: 'ERROR', result: 'NONE', source: 'callback' });
  metrics.registrationsFinished.inc({ status: 'TIMED_OUT', result: 'NONE', source: 'poll' });
  metrics.timeToResult.observe({ status: 'COMPLETED' }, 640);
  metrics.timeToResult.observe({ status: 'TIMED_OUT' }, 86_400);
  metrics.tokenFetches.inc({ outcome: 'success' });
  metrics.tokenFetches.inc({ outcome: 'failure' });
}

/** Queue depth straight from BullMQ, as the worker wires it. */
function bullmqDepth(queues: Map<QueueName, Queue>, redis: Redis, prefix: string) {
  return {
    counts: (name: QueueName) => queues.get(name)!.getJobCounts(),
    redisUp: async () => (await redis.ping()) === 'PONG',
    timers: async () => ({ pending: await redis.zcard(timersKey(prefix)), due: 0 }),
  };
}

/** Every label value of our series in the exposition text, except histogram bucket bounds. */
function labelValues(text: string): { name: string; value: string }[] {
  const found: { name: string; value: string }[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('esign_worker_')) continue;
    const labels = /\{(.*)\}/.exec(line)?.[1];
    if (!labels) continue;
    for (const [, name = '', value = ''] of labels.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g))
      if (name !== 'le') found.push({ name, value });
  }
  return found;
}

describe('Metrics exposition', () => {
  const prefix = uniquePrefix('metrics');
  let redis: Redis;
  const queues = new Map<QueueName, Queue>();
  let metrics: Metrics;
  let text: string;

  beforeAll(async () => {
    redis = connect();
    for (const name of queueNames) queues.set(name, new Queue(name, { connection: redis, prefix }));
    await queues.get('initiate')!.add('registration', { registrationId: 'r1' });
    await queues.get('initiate')!.add('registration', { registrationId: 'r2' });
    await queues.get('poll')!.add('registration', { registrationId: 'r1' }, { delay: 600_000 });
    metrics = new Metrics();
    metrics.watchQueues(bullmqDepth(queues, redis, prefix));
    exerciseEveryMetric(metrics);
    text = await metrics.text();
  });

  afterAll(async () => {
    for (const queue of queues.values()) await queue.close();
    await cleanPrefix(redis, prefix);
    redis.disconnect();
  });

  it('passes promtool check metrics, apart from prom-client default gauge names', () => {
    const run = promtool(['check', 'metrics'], text);
    const problems = run.output
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line !== '' && !promClientLintLines.includes(line));
    expect(problems).toEqual([]);
  });

  it('exports a sample for every esign_worker metric once exercised', async () => {
    const ours = (await metrics.registry.getMetricsAsJSON()).filter((metric) =>
      metric.name.startsWith('esign_worker_'),
    );
    expect(ours.length).toBeGreaterThanOrEqual(13);
    for (const metric of ours) expect(metric.values.length, metric.name).toBeGreaterThan(0);
  });

  it('names counters *_total and uses base units', async () => {
    for (const metric of await metrics.registry.getMetricsAsJSON()) {
      if (!metric.name.startsWith('esign_worker_')) continue;
      if (String(metric.type) === 'counter') expect(metric.name).toMatch(/_total$/);
      else expect(metric.name).not.toMatch(/_total$/);
      expect(metric.name).not.toMatch(/_(milliseconds|ms|minutes|kilobytes|megabytes)(_|$)/);
      if (/duration|time_to/.test(metric.name)) expect(metric.name).toMatch(/_seconds$/);
    }
  });

  it('reads queue depth and Redis health from Redis at scrape time', () => {
    expect(text).toContain('esign_worker_queue_jobs{queue="initiate",state="waiting"} 2');
    expect(text).toContain('esign_worker_queue_jobs{queue="poll",state="delayed"} 1');
    expect(text).toMatch(/^esign_worker_redis_up 1$/m);
  });

  it('reports redis_up 0 when Redis does not answer, and still serves the rest', async () => {
    const broken = new Metrics({ defaultMetrics: false });
    broken.watchQueues({
      counts: () => Promise.reject(new Error('connection refused')),
      redisUp: () => Promise.reject(new Error('connection refused')),
    });
    broken.jobs.inc({ queue: 'confirm', outcome: 'completed' });
    const brokenText = await broken.text();
    expect(brokenText).toMatch(/^esign_worker_redis_up 0$/m);
    expect(brokenText).toContain('esign_worker_jobs_total{queue="confirm",outcome="completed"} 1');
  });

  it('answers within its deadline when Redis hangs: redis_up 0, no queue gauges', async () => {
    const hung = new Metrics({ defaultMetrics: false, scrapeTimeoutMs: 200 });
    const never = new Promise<never>(() => undefined);
    hung.watchQueues({ counts: () => never, redisUp: () => never });
    // Bounded by the deadline, not by the test's timeout: a hang would fail this test.
    const text = await Promise.race([
      hung.text(),
      new Promise<string>((resolve) => setTimeout(resolve, 5_000, 'still waiting')),
    ]);
    expect(text).toMatch(/^esign_worker_redis_up 0$/m);
    expect(text).not.toMatch(/^esign_worker_queue_jobs\{/m);
  });

  it('drops the queue gauges once Redis stops answering, rather than showing stale counts', async () => {
    let up = true;
    const flaky = new Metrics({ defaultMetrics: false });
    flaky.watchQueues({
      counts: () => (up ? Promise.resolve({ waiting: 3 }) : Promise.reject(new Error('down'))),
      redisUp: () => Promise.resolve(up),
    });
    expect(await flaky.text()).toContain(
      'esign_worker_queue_jobs{queue="upload",state="waiting"} 3',
    );
    up = false;
    const text = await flaky.text();
    expect(text).toMatch(/^esign_worker_redis_up 0$/m);
    expect(text).not.toMatch(/^esign_worker_queue_jobs\{/m);
  });

  it('keeps label sets closed: no ids, no numbers, no free text in label values', () => {
    const values = labelValues(text);
    expect(values.length).toBeGreaterThan(50);
    for (const { name, value } of values) {
      const where = `${name}="${value}"`;
      expect(value, where).not.toMatch(
        /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/i,
      );
      expect(value, where).not.toMatch(/^\d+$/);
      expect(value, where).not.toMatch(/[@/\s]/);
      expect(value.length, where).toBeLessThanOrEqual(32);
    }
  });
});

describe('Build info', () => {
  const { version } = JSON.parse(
    readFileSync(new URL('../package.json', import.meta.url), 'utf8'),
  ) as { version: string };

  it('exports esign_worker_build_info 1 with the package version and the Node.js version', async () => {
    expect(packageVersion()).toBe(version);
    const text = await new Metrics({ defaultMetrics: false }).text();
    expect(text).toContain('# TYPE esign_worker_build_info gauge');
    expect(text).toContain(
      `esign_worker_build_info{version="${version}",node_version="${process.version}"} 1`,
    );
  });

  it('takes the version from the caller when given', async () => {
    const text = await new Metrics({ defaultMetrics: false, version: '9.9.9-test' }).text();
    expect(text).toMatch(
      /^esign_worker_build_info\{version="9\.9\.9-test",node_version="v[\d.]+"\} 1$/m,
    );
  });
});

describe('Histogram buckets', () => {
  /** The finite upper bounds of a histogram, observed once so that its buckets are exported. */
  async function upperBounds(observe: (metrics: Metrics) => void, name: string) {
    const metrics = new Metrics({ defaultMetrics: false });
    observe(metrics);
    const metric = (await metrics.registry.getMetricsAsJSON()).find((m) => m.name === name);
    return (metric?.values ?? [])
      .map((value) => value.labels.le)
      .filter((le): le is number => typeof le === 'number' && Number.isFinite(le));
  }

  // The longest a single Esign or storage call can take by default: connecting, then the
  // longest request timeout (the upload's). A step job waits on at most one such call at a time.
  const esign = esignSchema.parse({
    ESIGN_TOKEN_URL: 'https://esign.example',
    ESIGN_API_URL: 'https://esign.example',
    ESIGN_CLIENT_ID: 'id',
    ESIGN_PASS_KEY: 'key',
    ESIGN_ONBOARDING_PARTNER: 'partner',
    ESIGN_PARTNER_USER_ID_TYPE: 'type',
  });
  const requestTimeouts = Object.entries(esign)
    .filter(([key]) => key.endsWith('_TIMEOUT_MS') && key !== 'ESIGN_CONNECT_TIMEOUT_MS')
    .map(([, value]) => value as number);
  const longestCallSeconds = (esign.ESIGN_CONNECT_TIMEOUT_MS + Math.max(...requestTimeouts)) / 1000;

  it('reaches past the longest default timeout, so a slow job or call is not off the scale', async () => {
    expect(requestTimeouts).toContain(esign.UPLOAD_TIMEOUT_MS);
    expect(longestCallSeconds).toBe(125);
    const jobBounds = await upperBounds(
      (m) => m.jobDuration.observe({ queue: 'upload' }, 1),
      'esign_worker_job_duration_seconds',
    );
    const requestBounds = await upperBounds(
      (m) => m.observeEsignRequest('upload', '2xx', 1),
      'esign_worker_esign_request_duration_seconds',
    );
    for (const bounds of [jobBounds, requestBounds]) {
      expect(bounds.length).toBeGreaterThan(5);
      expect(Math.max(...bounds)).toBeGreaterThanOrEqual(longestCallSeconds);
      // A bucket between the request timeout and the upload timeout, so p95 stays readable.
      expect(bounds.some((le) => le > 60 && le < longestCallSeconds)).toBe(true);
    }
  });
});
