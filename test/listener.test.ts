import http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import {
  callbackCount,
  completedCallback,
  postJson,
  startListener,
  type StartedListener,
} from './support/listener.ts';

let current: StartedListener | undefined;
async function start(env: Record<string, string> = {}): Promise<StartedListener> {
  current = await startListener(env);
  return current;
}
afterEach(async () => {
  await current?.app.close();
  current = undefined;
});

describe('callback listener: valid callbacks', () => {
  it('hands a valid callback to the sink and answers exactly 200 {"ok":true}', async () => {
    const { callbackUrl, sink, metrics } = await start();
    const res = await postJson(callbackUrl, completedCallback());
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ok: true });
    expect(sink.calls).toHaveLength(1);
    expect(sink.calls[0]).toMatchObject({
      submissionId: '8a0aef3d-0e27-4a7e-a4ba-2e1b97bcb00c',
      status: 'COMPLETED',
      result: 'VALID',
      submissionDetails: { registrationId: '6dab7f08-0dcb-4852-8459-59cb7c25f4dc' },
    });
    expect(await callbackCount(metrics, 'accepted')).toBe(1);
  });

  it('tolerates unknown fields and unknown reason codes', async () => {
    const { callbackUrl, sink } = await start();
    const res = await postJson(
      callbackUrl,
      completedCallback({
        result: 'INVALID',
        reasonCode: 'SOMETHING_NEW',
        rejectionReasonTranslations: { en_ID: { title: 't', message: 'm' } },
      }),
    );
    expect(res.status).toBe(200);
    expect(sink.calls[0]?.reasonCode).toBe('SOMETHING_NEW');
  });

  it('answers 200 to a duplicate and counts it as one', async () => {
    const { callbackUrl, sink, metrics } = await start();
    sink.mode = 'duplicate';
    const res = await postJson(callbackUrl, completedCallback());
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ok: true });
    expect(await callbackCount(metrics, 'duplicate')).toBe(1);
    expect(await callbackCount(metrics, 'accepted')).toBe(0);
  });

  it('answers 200 to an unknown submission, counts it and logs only its submissionId', async () => {
    const { callbackUrl, sink, metrics, logLines } = await start();
    sink.mode = 'unknown';
    const res = await postJson(callbackUrl, completedCallback({ submissionId: 'sub-unknown-1' }));
    expect(res.status).toBe(200);
    expect(await callbackCount(metrics, 'unknown')).toBe(1);
    const line = logLines.find((l) => l.includes('sub-unknown-1'));
    expect(line).toBeDefined();
    expect(line).toContain('"outcome":"unknown"');
  });

  it('answers 503 with Retry-After when the sink cannot take the callback', async () => {
    const { callbackUrl, sink, metrics } = await start();
    sink.mode = 'throw';
    const res = await postJson(callbackUrl, completedCallback());
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(await callbackCount(metrics, 'unavailable')).toBe(1);
    expect(await callbackCount(metrics, 'accepted')).toBe(0);
  });

  it('answers 503 when the sink hangs past its timeout', async () => {
    current = await startListener({}, { timeouts: { sinkTimeoutMs: 50 } });
    current.sink.mode = 'hold';
    const res = await postJson(current.callbackUrl, completedCallback());
    expect(res.status).toBe(503);
    expect(await callbackCount(current.metrics, 'unavailable')).toBe(1);
    current.sink.release();
  });

  it('accepts PUT and PATCH when configured', async () => {
    const { callbackUrl, sink } = await start({ CALLBACK_METHODS: 'PUT,PATCH' });
    expect((await postJson(callbackUrl, completedCallback(), {}, 'PUT')).status).toBe(200);
    expect((await postJson(callbackUrl, completedCallback(), {}, 'PATCH')).status).toBe(200);
    const post = await postJson(callbackUrl, completedCallback(), {}, 'POST');
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('PUT, PATCH');
    expect(sink.calls).toHaveLength(2);
  });

  it('logs ids, status and outcome but never the body, headers, address or secrets', async () => {
    const { callbackUrl, logLines } = await start({
      CALLBACK_AUTH: 'bearer',
      CALLBACK_AUTH_SECRET: 'very-secret-token',
    });
    const res = await postJson(
      callbackUrl,
      completedCallback({ reasonCode: 'DUKCAPIL_REJECTED', result: 'INVALID' }),
      { authorization: 'Bearer very-secret-token' },
    );
    expect(res.status).toBe(200);
    await postJson(callbackUrl, completedCallback(), { authorization: 'Bearer wrong-guess' });
    const text = logLines.join('');
    expect(text).toContain('8a0aef3d-0e27-4a7e-a4ba-2e1b97bcb00c');
    expect(text).toContain('DUKCAPIL_REJECTED');
    for (const leak of [
      'very-secret-token',
      'wrong-guess',
      '127.0.0.1',
      'user-12345',
      'session-abc-001',
      '6dab7f08',
    ])
      expect(text).not.toContain(leak);
  });
});

describe('callback listener: routing', () => {
  it('answers 404 on other paths and 405 with Allow for other methods', async () => {
    const { url, callbackUrl, sink } = await start();
    expect((await postJson(`${url}/elsewhere`, completedCallback())).status).toBe(404);
    const get = await fetch(callbackUrl);
    expect(get.status).toBe(405);
    expect(get.headers.get('allow')).toBe('POST');
    expect(sink.calls).toHaveLength(0);
  });

  it('serves no ops endpoint on the public callback port (they are on the ops port)', async () => {
    const { url } = await start();
    for (const path of ['/healthz', '/readyz', '/metrics'])
      expect((await fetch(`${url}${path}`)).status, path).toBe(404);
  });
});

describe('callback listener: bodies', () => {
  it('rejects a body that is not application/json with 415', async () => {
    const { callbackUrl, sink, metrics } = await start();
    const res = await fetch(callbackUrl, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: JSON.stringify(completedCallback()),
    });
    expect(res.status).toBe(415);
    expect(sink.calls).toHaveLength(0);
    expect(await callbackCount(metrics, 'invalid')).toBe(1);
  });

  it('accepts application/json with a UTF-8 charset', async () => {
    const { callbackUrl } = await start();
    const res = await postJson(callbackUrl, completedCallback(), {
      'content-type': 'application/json; charset=UTF-8',
    });
    expect(res.status).toBe(200);
  });

  it('rejects malformed JSON with 400 without echoing it', async () => {
    const { callbackUrl, sink, metrics } = await start();
    const res = await fetch(callbackUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"submissionId": "secret-ish-value", ',
    });
    expect(res.status).toBe(400);
    const text = await res.text();
    expect(text).not.toContain('secret-ish-value');
    expect(JSON.parse(text)).toMatchObject({ ok: false, problems: ['body: not JSON'] });
    expect(sink.calls).toHaveLength(0);
    expect(await callbackCount(metrics, 'invalid')).toBe(1);
  });

  it('rejects a schema failure with 400 naming the fields, not their values', async () => {
    const { callbackUrl, sink } = await start();
    const body = completedCallback({ status: 'DONE-ISH' });
    delete body.submissionId;
    const res = await postJson(callbackUrl, body);
    expect(res.status).toBe(400);
    const answer = (await res.json()) as { problems: string[] };
    expect(answer.problems.some((p) => p.startsWith('submissionId:'))).toBe(true);
    expect(answer.problems.some((p) => p.startsWith('status:'))).toBe(true);
    expect(JSON.stringify(answer)).not.toContain('DONE-ISH');
    expect(sink.calls).toHaveLength(0);
    const logged = current!.logLines.join('');
    expect(logged).toContain('submissionId:');
    expect(logged).not.toContain('DONE-ISH');
  });

  it('rejects an over-long submissionId with 400, never logging or indexing it', async () => {
    const { callbackUrl, sink } = await start();
    const long = `sub-${'x'.repeat(60_000)}`;
    const res = await postJson(callbackUrl, completedCallback({ submissionId: long }));
    expect(res.status).toBe(400);
    const answer = (await res.json()) as { problems: string[] };
    expect(answer.problems.some((p) => p.startsWith('submissionId:'))).toBe(true);
    expect(sink.calls).toHaveLength(0);
    expect(current!.logLines.join('')).not.toContain('xxxxxxxxxx');
  });

  it('rejects a declared body over 64 KiB with 413', async () => {
    const { callbackUrl, sink, metrics } = await start();
    const res = await postJson(callbackUrl, completedCallback({ padding: 'x'.repeat(70_000) }));
    expect(res.status).toBe(413);
    expect(sink.calls).toHaveLength(0);
    expect(await callbackCount(metrics, 'invalid')).toBe(1);
  });

  it('stops reading a chunked body once it passes 64 KiB and answers 413', async () => {
    const { callbackUrl, sink } = await start();
    const status = await new Promise<number>((resolve, reject) => {
      const req = http.request(callbackUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
      });
      req.on('response', (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      // The server may close while we still write: only a missing response is a failure.
      req.on('error', (error) => setTimeout(() => reject(error), 1_000));
      req.write('{"padding":"');
      const chunk = 'x'.repeat(8 * 1024);
      // Keep sending (up to 1 MiB) until the server answers; it must not wait for the end.
      let sent = 0;
      const pump = (): void => {
        if (req.destroyed || sent >= 128) return;
        sent++;
        if (req.write(chunk)) setImmediate(pump);
        else req.once('drain', pump);
      };
      pump();
    });
    expect(status).toBe(413);
    expect(sink.calls).toHaveLength(0);
  });
});
