import { readFileSync } from 'node:fs';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { within } from './deadline.ts';
import type { EsignEndpoint } from './esign/types.ts';
import { RESULTS_QUEUE, stepNames } from './registration/jobs.ts';

/**
 * Every metric the service exports, on a registry per app instance (so tests and several
 * apps in one process never collide). Labels are small closed sets: queue names, outcomes,
 * status classes, error codes. Never an id, a user or a URL.
 */

export const queueNames = [...stepNames, RESULTS_QUEUE] as const;
export type QueueName = (typeof queueNames)[number];

export type CallbackOutcome =
  'accepted' | 'duplicate' | 'unauthorized' | 'forbidden' | 'invalid' | 'unknown' | 'unavailable';
export type StatusClass = '2xx' | '3xx' | '4xx' | '5xx' | 'network' | 'timeout';

export interface QueueDepthSource {
  /** Job counts by state for one queue, read at scrape time. */
  counts(queue: QueueName): Promise<Record<string, number>>;
  /** Whether Redis answers, read at scrape time. */
  redisUp(): Promise<boolean>;
  /** The registration timers (fallback polls, deadlines): how many wait, how many are due. */
  timers?(): Promise<{ pending: number; due: number }>;
}

/**
 * How long a scrape waits for Redis: a Prometheus scrape times out at 10 s by default, and
 * health must tell the truth within 2 s, so a Redis that does not answer shows as
 * `redis_up 0` in about a second instead of a hung scrape.
 */
export const SCRAPE_REDIS_TIMEOUT_MS = 1_000;

/** What one scrape read from Redis: the queue counts only when Redis answered. */
interface DepthSample {
  up: boolean;
  counts: Map<QueueName, Record<string, number>>;
  timers: { pending: number; due: number } | undefined;
}

export function statusClass(status: number): StatusClass {
  if (status >= 500) return '5xx';
  if (status >= 400) return '4xx';
  if (status >= 300) return '3xx';
  return '2xx';
}

let version: string | undefined;

/**
 * This package's version, read once from its package.json: two levels up from this module both
 * in a checkout (src/lib/metrics.ts) and installed or in the image (dist/lib/metrics.js).
 */
export function packageVersion(): string {
  version ??= (
    JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      version: string;
    }
  ).version;
  return version;
}

export class Metrics {
  readonly registry: Registry;
  readonly jobs: Counter<'queue' | 'outcome'>;
  readonly jobErrors: Counter<'queue' | 'code'>;
  readonly jobDuration: Histogram<'queue'>;
  readonly stepDuration: Histogram<'step'>;
  readonly esignRequests: Counter<'endpoint' | 'status_class'>;
  readonly esignRequestDuration: Histogram<'endpoint'>;
  readonly uploadBytes: Counter<'document'>;
  readonly callbacks: Counter<'outcome'>;
  readonly polls: Counter<'outcome'>;
  readonly registrationsFinished: Counter<'status' | 'result' | 'source'>;
  readonly timeToResult: Histogram<'status'>;
  readonly tokenFetches: Counter<'outcome'>;
  readonly queueJobs: Gauge<'queue' | 'state'>;
  readonly redisUp: Gauge;
  readonly registrationTimers: Gauge<'state'>;
  readonly buildInfo: Gauge<'version' | 'node_version'>;
  private depthSource: QueueDepthSource | undefined;
  private depthReading: Promise<DepthSample> | undefined;
  private readonly scrapeTimeoutMs: number;

  constructor(
    options: { defaultMetrics?: boolean; version?: string; scrapeTimeoutMs?: number } = {},
  ) {
    this.scrapeTimeoutMs = options.scrapeTimeoutMs ?? SCRAPE_REDIS_TIMEOUT_MS;
    const registry = new Registry();
    this.registry = registry;
    if (options.defaultMetrics !== false) collectDefaultMetrics({ register: registry });
    const registers = [registry];

    this.jobs = new Counter({
      name: 'esign_worker_jobs_total',
      help: 'Step jobs processed, by queue and outcome (completed, failed for good, retried, delayed).',
      labelNames: ['queue', 'outcome'],
      registers,
    });
    this.jobErrors = new Counter({
      name: 'esign_worker_job_errors_total',
      help: 'Step job errors by queue and stable error code.',
      labelNames: ['queue', 'code'],
      registers,
    });
    this.jobDuration = new Histogram({
      name: 'esign_worker_job_duration_seconds',
      help: 'Time spent running one step job, by queue (an initiate job runs the whole submission).',
      labelNames: ['queue'],
      // Up to 600 s: a submission job runs initiate, two uploads (UPLOAD_TIMEOUT_MS, 120 s
      // each) and confirm.
      buckets: [
        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 180, 300, 600,
      ],
      registers,
    });
    this.stepDuration = new Histogram({
      name: 'esign_worker_step_duration_seconds',
      help: 'Time spent running one submission step (initiate, upload, confirm) within its job, by step.',
      labelNames: ['step'],
      // Up to 300 s: past the longest timeout a step can wait on (UPLOAD_TIMEOUT_MS, 120 s).
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 180, 300],
      registers,
    });
    this.esignRequests = new Counter({
      name: 'esign_worker_esign_requests_total',
      help: 'HTTP requests to Esign and its presigned storage, by endpoint and status class.',
      labelNames: ['endpoint', 'status_class'],
      registers,
    });
    this.esignRequestDuration = new Histogram({
      name: 'esign_worker_esign_request_duration_seconds',
      help: 'Latency of requests to Esign and its presigned storage, by endpoint.',
      labelNames: ['endpoint'],
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 180, 300],
      registers,
    });
    this.uploadBytes = new Counter({
      name: 'esign_worker_upload_bytes_total',
      help: 'Image bytes uploaded to presigned URLs, by document.',
      labelNames: ['document'],
      registers,
    });
    this.callbacks = new Counter({
      name: 'esign_worker_callbacks_total',
      help: 'Callbacks received from Esign, by outcome.',
      labelNames: ['outcome'],
      registers,
    });
    this.polls = new Counter({
      name: 'esign_worker_polls_total',
      help: 'Fallback polls of a submission (no callback in time), by outcome.',
      labelNames: ['outcome'],
      registers,
    });
    this.registrationsFinished = new Counter({
      name: 'esign_worker_registrations_finished_total',
      help: 'Registrations that reached a terminal status, by status, result and source.',
      labelNames: ['status', 'result', 'source'],
      registers,
    });
    this.timeToResult = new Histogram({
      name: 'esign_worker_time_to_result_seconds',
      help: 'Time from enqueue to terminal result, by status.',
      labelNames: ['status'],
      buckets: [0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400],
      registers,
    });
    this.tokenFetches = new Counter({
      name: 'esign_worker_token_fetches_total',
      help: 'Partner token fetches from Esign, by outcome (success, failure).',
      labelNames: ['outcome'],
      registers,
    });

    this.buildInfo = new Gauge({
      name: 'esign_worker_build_info',
      help: 'Always 1; the labels say which esign-worker version runs on which Node.js.',
      labelNames: ['version', 'node_version'],
      registers,
    });
    this.buildInfo.set(
      { version: options.version ?? packageVersion(), node_version: process.version },
      1,
    );

    // Collected at scrape time, so a quiet worker still reports its backlog. Both gauges read
    // one sample per scrape (see depthSample), bounded by scrapeTimeoutMs.
    const sample = (): Promise<DepthSample> | undefined => this.depthSample();
    this.queueJobs = new Gauge({
      name: 'esign_worker_queue_jobs',
      help: 'Jobs in each queue by state, read from Redis at scrape time; absent while Redis does not answer.',
      labelNames: ['queue', 'state'],
      registers,
      async collect() {
        const reading = sample();
        if (!reading) return;
        const { counts } = await reading;
        // Only what this scrape read: a queue that could not be read is left out, not stale.
        this.reset();
        for (const [queue, byState] of counts)
          for (const [state, count] of Object.entries(byState)) this.set({ queue, state }, count);
      },
    });
    this.registrationTimers = new Gauge({
      name: 'esign_worker_registration_timers',
      help: 'Registrations waiting for a fallback poll or their deadline (pending), and those whose time has come but no worker has woken yet (due), read from Redis at scrape time.',
      labelNames: ['state'],
      registers,
      async collect() {
        const reading = sample();
        if (!reading) return;
        const { timers } = await reading;
        this.reset();
        if (timers) for (const [state, count] of Object.entries(timers)) this.set({ state }, count);
      },
    });
    this.redisUp = new Gauge({
      name: 'esign_worker_redis_up',
      help: '1 when Redis answered a PING at scrape time (within 1 s), else 0.',
      registers,
      async collect() {
        const reading = sample();
        if (!reading) return;
        this.set((await reading).up ? 1 : 0);
      },
    });
  }

  /** Connect the scrape-time gauges to the queues. */
  watchQueues(source: QueueDepthSource): void {
    this.depthSource = source;
  }

  /**
   * One read of Redis shared by the gauges of a scrape: prom-client collects every metric at
   * once, so the gauges that start together share the reading in flight. PING and the counts
   * run side by side under one deadline, so a scrape waits at most scrapeTimeoutMs for Redis;
   * when PING fails the counts are dropped (a half-answering Redis shows as down).
   */
  private depthSample(): Promise<DepthSample> | undefined {
    const source = this.depthSource;
    if (!source) return undefined;
    this.depthReading ??= readDepth(source, this.scrapeTimeoutMs).finally(() => {
      this.depthReading = undefined;
    });
    return this.depthReading;
  }

  observeEsignRequest(endpoint: EsignEndpoint, status: StatusClass, seconds: number): void {
    this.esignRequests.inc({ endpoint, status_class: status });
    this.esignRequestDuration.observe({ endpoint }, seconds);
  }

  async text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

async function readDepth(source: QueueDepthSource, timeoutMs: number): Promise<DepthSample> {
  const [up, counts, timers] = await Promise.all([
    within(source.redisUp(), timeoutMs, 'PING').catch(() => false),
    Promise.all(
      queueNames.map(async (queue) => {
        const counts = await within(source.counts(queue), timeoutMs, 'job counts').catch(
          () => undefined,
        );
        return [queue, counts] as const;
      }),
    ),
    source.timers && within(source.timers(), timeoutMs, 'timer counts').catch(() => undefined),
  ]);
  const read = new Map<QueueName, Record<string, number>>();
  if (up) for (const [queue, byState] of counts) if (byState) read.set(queue, byState);
  return { up, counts: read, timers: up ? timers : undefined };
}
