/* eslint-disable @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-return -- assertions read JSON answers */
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { nikForScenario, type Sandbox, type SandboxOptions } from '../sandbox/index.ts';
import {
  call,
  confirm,
  confirmBody,
  createPath,
  createSubmission,
  credentials,
  getToken,
  newUser,
  partnerHeaders,
  register,
  startReceiver,
  startTestSandbox,
  tokenCall,
  tokenPath,
  upload,
  waitFor,
  type Receiver,
} from './support/sandbox-kit.ts';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

async function sandboxWith(options: Partial<SandboxOptions> = {}): Promise<Sandbox> {
  const sandbox = await startTestSandbox({ processingMs: 10, ...options });
  cleanups.push(() => sandbox.close());
  return sandbox;
}

async function withReceiver(
  options: Partial<SandboxOptions> = {},
): Promise<{ sandbox: Sandbox; receiver: Receiver }> {
  const receiver = await startReceiver();
  cleanups.push(() => receiver.close());
  const sandbox = await sandboxWith({
    callback: { url: receiver.url, method: 'POST', auth: { mode: 'none' } },
    callbackRetry: { attempts: 3, baseDelayMs: 10 },
    ...options,
  });
  return { sandbox, receiver };
}

describe('sandbox API faults', () => {
  it('failNext answers exactly the next n calls of that endpoint with 500 900', async () => {
    const sandbox = await sandboxWith({ faults: { failNext: { token: 2 } } });
    const first = await tokenCall(sandbox);
    expect(first.status).toBe(500);
    expect(first.json).toEqual({
      success: false,
      errors: [{ code: '900', cause: 'GENERIC_SERVICE_ERROR' }],
    });
    expect((await tokenCall(sandbox)).status).toBe(500);
    expect((await tokenCall(sandbox)).status).toBe(200);
    expect(sandbox.inspect().calls.token).toEqual({ '500': 2, '200': 1 });
  });

  it('failNext on confirm leaves the submission unconfirmed, so a retry succeeds', async () => {
    const sandbox = await sandboxWith({ faults: { failNext: { confirm: 1 } } });
    const token = await getToken(sandbox);
    const user = newUser();
    const created = await createSubmission(sandbox, token, user);
    await upload(created.ktpUrl);
    await upload(created.selfieUrl);
    const body = confirmBody(created.submissionId, nikForScenario('stuck'));
    expect((await confirm(sandbox, token, user, body)).status).toBe(500);
    expect(sandbox.inspect().submissions[0]?.confirmCount).toBe(0);
    expect((await confirm(sandbox, token, user, body)).status).toBe(200);
    expect(sandbox.inspect().submissions[0]?.confirmCount).toBe(1);
  });

  it('rateLimitNext answers 429 with Retry-After, settable over HTTP', async () => {
    const sandbox = await sandboxWith();
    const set = await call(`${sandbox.url}/__sandbox/faults`, {
      method: 'PUT',
      body: JSON.stringify({ rateLimitNext: { create_submission: 1 }, retryAfterSeconds: 7 }),
    });
    expect(set.status).toBe(200);
    const token = await getToken(sandbox);
    const limited = await call(`${sandbox.url}${createPath}`, {
      headers: partnerHeaders(token, newUser()),
    });
    expect(limited.status).toBe(429);
    expect(limited.headers['retry-after']).toBe('7');
    expect(
      (await call(`${sandbox.url}${createPath}`, { headers: partnerHeaders(token, newUser()) }))
        .status,
    ).toBe(200);
  });

  it('hangNext leaves the call unanswered until the client gives up; close() still ends', async () => {
    const sandbox = await startTestSandbox({ faults: { hangNext: { token: 1 } } });
    const hung = request(`${sandbox.url}${tokenPath}`, {
      headers: { 'client-id': credentials.clientId, 'pass-key': credentials.passKey },
      headersTimeout: 200,
    });
    await expect(hung).rejects.toThrow(/timeout/i);
    expect((await tokenCall(sandbox)).status).toBe(200);
    expect(sandbox.inspect().calls.token).toEqual({ hang: 1, '200': 1 });
    sandbox.setFaults({ hangNext: { token: 1 } });
    const pending = request(`${sandbox.url}${tokenPath}`, { headers: { 'client-id': 'x' } }).then(
      () => 'answered',
      () => 'connection closed',
    );
    await waitFor('the second hang', () => sandbox.inspect().calls.token.hang === 2);
    await sandbox.close();
    expect(await pending).toBe('connection closed');
  });

  it('latencyMs holds answers back: a client with a shorter deadline gives up', async () => {
    const sandbox = await sandboxWith({ faults: { latencyMs: 2_000 } });
    const impatient = request(`${sandbox.url}${tokenPath}`, { headersTimeout: 50 });
    await expect(impatient).rejects.toThrow(/timeout/i);
    sandbox.setFaults({ latencyMs: 0 });
    expect((await tokenCall(sandbox)).status).toBe(200);
  });

  it('applies faults to uploads with storage-style answers', async () => {
    const sandbox = await sandboxWith();
    const created = await createSubmission(sandbox, await getToken(sandbox), newUser());
    sandbox.setFaults({ failNext: { upload: 1 } });
    const failed = await upload(created.ktpUrl);
    expect(failed.status).toBe(500);
    expect(failed.text).toContain('<Code>InternalError</Code>');
    expect(sandbox.inspect().submissions[0]?.uploaded.KTP).toBe(false);
    expect((await upload(created.ktpUrl)).status).toBe(200);
  });

  it('errorRate 1 fails every call; seeded rates repeat exactly', async () => {
    const sandbox = await sandboxWith({ faults: { errorRate: 1 } });
    expect((await tokenCall(sandbox)).status).toBe(500);
    sandbox.setFaults({ errorRate: 0.5, seed: 42 });
    const first: number[] = [];
    for (let i = 0; i < 12; i += 1) first.push((await tokenCall(sandbox)).status);
    sandbox.setFaults({ seed: 42 });
    const second: number[] = [];
    for (let i = 0; i < 12; i += 1) second.push((await tokenCall(sandbox)).status);
    expect(second).toEqual(first);
    expect(new Set(first)).toEqual(new Set([200, 500]));
  });

  it('refuses invalid faults, naming the field, over HTTP and in code', async () => {
    const sandbox = await sandboxWith();
    const reply = await call(`${sandbox.url}/__sandbox/faults`, {
      method: 'PUT',
      body: JSON.stringify({ errorRate: 2 }),
    });
    expect(reply.status).toBe(400);
    expect(reply.json.problems[0]).toMatch(/^errorRate: /);
    const typo = await call(`${sandbox.url}/__sandbox/faults`, {
      method: 'PUT',
      body: JSON.stringify({ failNext: { confrim: 1 } }),
    });
    expect(typo.status).toBe(400);
    expect(() => sandbox.setFaults({ hangRate: -1 })).toThrow(/hangRate/);
    expect(sandbox.inspect().faults.errorRate).toBe(0);
  });
});

describe('sandbox callback faults', () => {
  it('dropCallbacksNext sends no callback for the next n submissions', async () => {
    const { sandbox, receiver } = await withReceiver({ faults: { dropCallbacksNext: 1 } });
    const token = await getToken(sandbox);
    const dropped = await register(sandbox, token, newUser(), nikForScenario('completed'));
    const kept = await register(sandbox, token, newUser(), nikForScenario('completed-direct'));
    await waitFor('the kept callback', () => receiver.received.length >= 1);
    await waitFor('both records', () => sandbox.inspect().callbacks.length === 3);
    expect(receiver.received.map((r) => r.body.submissionId)).toEqual([kept]);
    const records = sandbox.inspect().callbacks.filter((r) => r.submissionId === dropped);
    expect(records.map((r) => [r.status, r.dropped, r.attempts])).toEqual([
      ['PARTIALLY_COMPLETED', true, 0],
      ['COMPLETED', true, 0],
    ]);
  });

  it('duplicateCallbacksNext sends every callback of the next submission twice', async () => {
    const { sandbox, receiver } = await withReceiver({ faults: { duplicateCallbacksNext: 1 } });
    await register(sandbox, await getToken(sandbox), newUser(), nikForScenario('completed'));
    await waitFor('four callbacks', () => receiver.received.length === 4);
    expect(receiver.received.map((r) => r.body.status)).toEqual([
      'PARTIALLY_COMPLETED',
      'PARTIALLY_COMPLETED',
      'COMPLETED',
      'COMPLETED',
    ]);
    expect(sandbox.inspect().callbacks.filter((r) => r.duplicate)).toHaveLength(2);
  });

  it('callbackReorder delivers COMPLETED before PARTIALLY_COMPLETED', async () => {
    const { sandbox, receiver } = await withReceiver({ faults: { callbackReorder: true } });
    await register(sandbox, await getToken(sandbox), newUser(), nikForScenario('completed'));
    await waitFor('two callbacks', () => receiver.received.length === 2);
    expect(receiver.received.map((r) => r.body.status)).toEqual([
      'COMPLETED',
      'PARTIALLY_COMPLETED',
    ]);
  });

  it('callbackDropRate 1 drops every callback; callbackDuplicateRate 1 doubles them', async () => {
    const { sandbox, receiver } = await withReceiver({ faults: { callbackDropRate: 1 } });
    const token = await getToken(sandbox);
    await register(sandbox, token, newUser(), nikForScenario('completed-direct'));
    await waitFor('a dropped record', () => sandbox.inspect().callbacks.length === 1);
    expect(sandbox.inspect().callbacks[0]?.dropped).toBe(true);
    sandbox.setFaults({ callbackDropRate: 0, callbackDuplicateRate: 1 });
    await register(sandbox, token, newUser(), nikForScenario('completed-direct'));
    await waitFor('two copies', () => receiver.received.length === 2);
    expect(receiver.received[0]?.body).toEqual(receiver.received[1]?.body);
  });

  it('close() stops a callback waiting out callbackDelayMs', async () => {
    const receiver = await startReceiver();
    cleanups.push(() => receiver.close());
    const sandbox = await startTestSandbox({
      processingMs: 1,
      callback: { url: receiver.url, method: 'POST', auth: { mode: 'none' } },
      faults: { callbackDelayMs: 60_000 },
    });
    await register(sandbox, await getToken(sandbox), newUser(), nikForScenario('completed-direct'));
    await waitFor('a queued callback', () => sandbox.inspect().callbacks.length === 1);
    await sandbox.close();
    expect(receiver.received).toHaveLength(0);
    expect(sandbox.inspect().callbacks[0]?.delivered).toBe(false);
  });
});
