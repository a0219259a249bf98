import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { exitWithin, startCli, waitUntil, type ChildCli } from '../demo/child-process.ts';
import { startLocalStack, type LocalStack } from '../demo/local-stack.ts';
import { capturingLogger } from './support/listener.ts';
import { startPrivateRedis, type PrivateRedis } from './support/private-redis.ts';
import { person, registrationRequest } from './support/requests.ts';
import { uniquePrefix } from './support/redis.ts';
import { callbackSecret, sandboxCredentials } from './support/stack.ts';

/**
 * Redis dies under a running worker and listener, each its own process (`bin/esign-worker.js`,
 * as installed). What on-call relies on then: both keep answering their ops endpoints within
 * 2 s, saying the truth (`/readyz` 503, `esign_worker_redis_up 0`, no stale queue gauges);
 * the logs do not flood; SIGTERM still ends them within SHUTDOWN_TIMEOUT_MS + 1 s; and once
 * Redis is back, they are ready again and jobs run. The Redis killed is the test's own.
 */

/** The promise: health answers within 2 s whatever Redis does. */
const ANSWER_MS = 2_000;
const SHUTDOWN_TIMEOUT_MS = 2_000;

interface Service {
  child: ChildCli;
  ops: string;
}

describe('a Redis outage under a running worker and listener', () => {
  let redis: PrivateRedis;
  let stack: LocalStack;
  let children: ChildCli[];

  beforeEach(async () => {
    children = [];
    redis = await startPrivateRedis();
    stack = await startLocalStack({
      redisUrl: redis.url,
      prefix: uniquePrefix('outage'),
      logger: capturingLogger().logger,
      credentials: sandboxCredentials,
      callbackSecret,
      env: {
        LOG_LEVEL: 'info',
        ESIGN_PARTNER_USER_ID_TYPE: 'E2E_USER_ID',
        ESIGN_REQUEST_TIMEOUT_MS: '2000',
        JOB_BACKOFF_MS: '50',
        SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS),
      },
      sandbox: { processingMs: 30, callbackRetry: { attempts: 20, baseDelayMs: 100 } },
      worker: 'none',
    });
  });

  afterEach(async () => {
    await Promise.all(children.map((child) => child.kill()));
    // So the stack's own parts close cleanly: a frozen Redis runs again, a killed one restarts.
    redis.resume();
    await redis.start().catch(() => undefined);
    await stack.close();
    await redis.close();
  });

  async function start(command: 'worker' | 'listener' | 'start'): Promise<Service> {
    const child = startCli(
      command,
      { ...stack.env, METRICS_PORT: '0', CALLBACK_PORT: '0', CALLBACK_HOST: '127.0.0.1' },
      'bin/esign-worker.js',
    );
    children.push(child);
    const ready = await child.waitForLog('ops endpoints ready (/metrics /healthz /readyz)');
    if (command !== 'listener') await child.waitForLog('worker ready');
    return { child, ops: String(ready.url) };
  }

  /** GET an ops path; fails the test if no answer comes within the promised 2 s. */
  async function get(url: string): Promise<{ status: number; text: string }> {
    const response = await fetch(url, { signal: AbortSignal.timeout(ANSWER_MS) });
    return { status: response.status, text: await response.text() };
  }

  async function healthy(service: Service): Promise<boolean> {
    const [ready, metrics] = await Promise.all([
      get(`${service.ops}/readyz`),
      get(`${service.ops}/metrics`),
    ]);
    return (
      ready.status === 200 &&
      /^esign_worker_redis_up 1$/m.test(metrics.text) &&
      /^esign_worker_queue_jobs\{/m.test(metrics.text) // read from Redis again
    );
  }

  /** Both answer in time and say Redis is down; the queue gauges are left out, not stale. */
  async function expectDownReported(service: Service): Promise<void> {
    const metrics = await get(`${service.ops}/metrics`);
    expect(metrics.status).toBe(200);
    expect(metrics.text).toMatch(/^esign_worker_redis_up 0$/m);
    expect(metrics.text).not.toMatch(/^esign_worker_queue_jobs\{/m);
    expect(metrics.text).toMatch(/^esign_worker_build_info\{/m); // the rest is still served
    expect((await get(`${service.ops}/readyz`)).status).toBe(503);
    expect((await get(`${service.ops}/healthz`)).status).toBe(200);
  }

  /** Error-level lines (pino level 50+) logged since line `from` of the child's output. */
  function errorLines(child: ChildCli, from: number): Record<string, unknown>[] {
    return child.lines.slice(from).flatMap((line) => {
      try {
        const entry = JSON.parse(line) as Record<string, unknown>;
        return Number(entry.level) >= 50 ? [entry] : [];
      } catch {
        return [];
      }
    });
  }

  /** SIGTERM while a /metrics and a /readyz request are in flight: gone in time, exit 0. */
  async function expectStopInTime(service: Service): Promise<void> {
    const inFlight = [get(`${service.ops}/metrics`), get(`${service.ops}/readyz`)].map((p) =>
      p.catch(() => undefined),
    );
    service.child.process.kill('SIGTERM');
    const exit = await exitWithin(
      service.child,
      SHUTDOWN_TIMEOUT_MS + 1_000,
      'SIGTERM with Redis away and ops requests in flight',
    );
    expect(exit).toEqual({ code: 0, signal: null });
    await Promise.all(inFlight);
  }

  it('health answers the truth in time, logs stay quiet, SIGTERM still ends them', async () => {
    const services = await Promise.all([start('worker'), start('listener'), start('start')]);
    // While Redis answers: ready, redis_up 1, the queue gauges there (read on the probe).
    for (const service of services) expect(await healthy(service)).toBe(true);

    const linesBefore = services.map((service) => service.child.lines.length);
    await redis.kill();
    for (const service of services) await expectDownReported(service);

    // A few seconds of outage: every worker and connection keeps failing several times a
    // second (BullMQ reconnects, ioredis retries), yet each kind of error is logged once
    // per 10 s interval, not once per failure.
    const outageMs = 4_000;
    await new Promise((resolve) => setTimeout(resolve, outageMs));
    for (const [index, service] of services.entries()) {
      await expectDownReported(service);
      const errors = errorLines(service.child, linesBefore[index] ?? 0);
      const kinds = new Set(
        errors.map((entry) => `${String(entry.msg)} ${JSON.stringify(entry.err)}`),
      );
      expect(errors.length, JSON.stringify(errors.map((entry) => entry.msg))).toBeLessThanOrEqual(
        6,
      );
      // Throttled, not silenced: the outage is in the log.
      expect(errors.length).toBeGreaterThan(0);
      expect(kinds.size).toBe(errors.length);
    }

    await Promise.all(services.map(expectStopInTime));
  }, 60_000);

  it('Redis hanging (SIGSTOP) with a job in flight: health in time, SIGTERM in time', async () => {
    const services = await Promise.all([start('worker'), start('listener')]);
    // A registration on its way as Redis stops answering: whatever step it is at, the worker
    // has Redis commands out (the job's, BullMQ's blocking fetch, lock renewals) that get no
    // answer, and neither QUIT nor BullMQ's close returns while they wait.
    await stack.producer.enqueueRegistration(registrationRequest(person('completed')));
    redis.pause();
    for (const service of services) await expectDownReported(service);
    await Promise.all(services.map(expectStopInTime));
  }, 60_000);

  it('a worker started while Redis is down says ready only once Redis answers', async () => {
    await redis.kill();
    const child = startCli('worker', { ...stack.env, METRICS_PORT: '0' }, 'bin/esign-worker.js');
    children.push(child);
    const ops = String(
      (await child.waitForLog('ops endpoints ready (/metrics /healthz /readyz)')).url,
    );
    expect((await get(`${ops}/readyz`)).status).toBe(503);
    expect((await get(`${ops}/metrics`)).text).toMatch(/^esign_worker_redis_up 0$/m);
    expect(child.lines.join('\n')).not.toContain('"worker ready"');

    await redis.start();
    await child.waitForLog('worker ready');
    await waitUntil(() => healthy({ child, ops }), {
      timeoutMs: 15_000,
      what: 'ready once Redis answered',
      everyMs: 200,
    });
  }, 60_000);

  it('a SIGTERM while a service is still starting ends it cleanly, in time', async () => {
    await redis.kill();
    const child = startCli('start', { ...stack.env, METRICS_PORT: '0' }, 'bin/esign-worker.js');
    children.push(child);
    // Said early in the start, before the pipeline is loaded and anything listens.
    await child.waitForLog('the partition layout could not be checked (Redis unreachable)');
    child.process.kill('SIGTERM');
    const exit = await exitWithin(child, SHUTDOWN_TIMEOUT_MS + 1_000, 'SIGTERM while starting');
    expect(exit).toEqual({ code: 0, signal: null });
    expect(child.lines.join('\n')).toContain('"shutting down"');
  }, 60_000);

  it('recovers when Redis returns: ready again, redis_up 1, and a registration completes', async () => {
    const services = await Promise.all([start('worker'), start('listener')]);
    await redis.kill();
    for (const service of services) await expectDownReported(service);

    await redis.start();
    for (const service of services)
      await waitUntil(() => healthy(service), {
        timeoutMs: 15_000,
        what: 'ready and redis_up 1 again after Redis returned',
        everyMs: 200,
      });

    // Jobs proceed on the same worker process: a registration enqueued now completes.
    const { registrationId } = await stack.producer.enqueueRegistration(
      registrationRequest(person('completed')),
    );
    const result = await stack.waitForResult(registrationId, 30_000);
    expect(result).toMatchObject({ status: 'COMPLETED', result: 'VALID' });
    // And they still stop as they should.
    await Promise.all(services.map(expectStopInTime));
  }, 60_000);
});
