import http from 'node:http';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createMetricsServer } from '../src/lib/http/metrics-server.ts';
import type { HttpApp } from '../src/lib/http/http-app.ts';
import { Metrics } from '../src/lib/metrics.ts';
import { connect } from './support/redis.ts';
import {
  capturingLogger,
  completedCallback,
  postJson,
  startListener,
  type StartedListener,
} from './support/listener.ts';

let current: StartedListener | undefined;
const apps: HttpApp[] = [];
const cleanups: (() => Promise<unknown> | void)[] = [];
afterEach(async () => {
  current?.sink.release();
  await current?.app.close();
  current = undefined;
  for (const app of apps.splice(0)) await app.close();
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

/** A POST on a fresh connection via node:http, resolving with the status or the error. */
function rawPost(url: string, body: unknown): Promise<number | Error> {
  return new Promise((resolve) => {
    const req = http.request(url, {
      method: 'POST',
      agent: false,
      headers: { 'content-type': 'application/json' },
    });
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', resolve);
    req.end(JSON.stringify(body));
  });
}

describe('graceful close', () => {
  it('finishes an in-flight callback, and refuses new connections meanwhile', async () => {
    current = await startListener();
    const { sink, callbackUrl, app } = current;
    sink.mode = 'hold';
    const inFlight = rawPost(callbackUrl, completedCallback());
    await vi.waitFor(() => expect(sink.calls).toHaveLength(1));

    let closed = false;
    const closing = app.close().then(() => {
      closed = true;
    });
    const late = await rawPost(callbackUrl, completedCallback());
    expect(late).toBeInstanceOf(Error);
    expect((late as NodeJS.ErrnoException).code).toBe('ECONNREFUSED');
    expect(closed).toBe(false);

    sink.release();
    expect(await inFlight).toBe(200);
    await closing;
    expect(closed).toBe(true);
    expect(sink.calls).toHaveLength(1);
  });

  it('closes idle keep-alive connections instead of waiting for them', async () => {
    current = await startListener();
    // Long enough that the test would time out if close() waited for idle sockets.
    current.app.server.keepAliveTimeout = 120_000;
    const agent = new http.Agent({ keepAlive: true });
    cleanups.push(() => agent.destroy());
    const status = await new Promise<number>((resolve, reject) => {
      http
        .get(`${current!.url}/elsewhere`, { agent }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        })
        .on('error', reject);
    });
    expect(status).toBe(404);
    const socketClosed = new Promise<void>((resolve) => {
      const sockets = Object.values(agent.freeSockets).flat();
      expect(sockets).toHaveLength(1);
      sockets[0]!.once('close', () => resolve());
    });
    await current.app.close();
    await socketClosed;
  });

  it('ends a keep-alive connection once its in-flight response is out', async () => {
    current = await startListener();
    current.app.server.keepAliveTimeout = 120_000;
    current.sink.mode = 'hold';
    const agent = new http.Agent({ keepAlive: true });
    cleanups.push(() => agent.destroy());
    const answer = new Promise<http.IncomingMessage>((resolve, reject) => {
      http
        .request(current!.callbackUrl, {
          method: 'POST',
          agent,
          headers: { 'content-type': 'application/json' },
        })
        .on('response', (res) => {
          res.resume();
          res.on('end', () => resolve(res));
        })
        .on('error', reject)
        .end(JSON.stringify(completedCallback()));
    });
    await vi.waitFor(() => expect(current!.sink.calls).toHaveLength(1));
    const closing = current.app.close();
    current.sink.release();
    const res = await answer;
    expect(res.statusCode).toBe(200);
    expect(res.headers.connection).toBe('close');
    // Resolves without waiting out the 120 s keep-alive timeout.
    await closing;
  });

  it('cuts a request still running at the close deadline', async () => {
    current = await startListener({}, { timeouts: { closeTimeoutMs: 100, sinkTimeoutMs: 60_000 } });
    current.sink.mode = 'hold';
    const stuck = rawPost(current.callbackUrl, completedCallback());
    await vi.waitFor(() => expect(current!.sink.calls).toHaveLength(1));
    await current.app.close();
    const outcome = await stuck;
    // Never acknowledged: Esign sees a broken connection and retries.
    expect(outcome).toBeInstanceOf(Error);
    expect(current.logLines.join('')).toContain('close timed out');
  });

  it('close() twice is harmless', async () => {
    current = await startListener();
    await Promise.all([current.app.close(), current.app.close()]);
    expect(current.app.server.listening).toBe(false);
  });
});

describe('metrics server', () => {
  async function startMetricsServer(ready: () => Promise<boolean>) {
    const metrics = new Metrics({ defaultMetrics: false });
    const { logger } = capturingLogger();
    const app = createMetricsServer({ metrics, ready, logger });
    apps.push(app);
    const { url } = await app.listen(0, '127.0.0.1');
    return { url, metrics };
  }

  it('serves Prometheus text with the registry content type', async () => {
    const { url, metrics } = await startMetricsServer(() => Promise.resolve(true));
    metrics.callbacks.inc({ outcome: 'accepted' });
    const res = await fetch(`${url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe(metrics.contentType);
    expect(await res.text()).toContain('esign_worker_callbacks_total{outcome="accepted"} 1');
  });

  it('reports ready while Redis answers and not ready once it does not; alive either way', async () => {
    const redis = connect();
    cleanups.push(() => redis.disconnect());
    const ready = () =>
      redis.ping().then(
        () => true,
        () => false,
      );
    const { url } = await startMetricsServer(ready);
    expect((await fetch(`${url}/readyz`)).status).toBe(200);
    expect((await fetch(`${url}/healthz`)).status).toBe(200);

    redis.disconnect();
    expect((await fetch(`${url}/readyz`)).status).toBe(503);
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
  });

  it('treats a readiness check that throws as not ready', async () => {
    const { url } = await startMetricsServer(() => Promise.reject(new Error('boom')));
    expect((await fetch(`${url}/readyz`)).status).toBe(503);
  });

  it('serves nothing else: no callback path, 404 elsewhere, 405 for non-GET', async () => {
    const { url } = await startMetricsServer(() => Promise.resolve(true));
    expect((await postJson(`${url}/callbacks/esign`, completedCallback())).status).toBe(404);
    expect((await fetch(`${url}/`)).status).toBe(404);
    const post = await fetch(`${url}/metrics`, { method: 'POST' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
  });
});
