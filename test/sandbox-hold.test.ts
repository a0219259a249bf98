import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { nikForScenario, type Sandbox } from '../sandbox/index.ts';
import {
  call,
  confirm,
  confirmBody,
  confirmPath,
  createSubmission,
  credentials,
  getToken,
  newUser,
  partnerHeaders,
  startTestSandbox,
  upload,
  waitFor,
} from './support/sandbox-kit.ts';

/**
 * The hold faults: Esign taking a request, keeping it, and applying it after the client gave
 * up. That is what makes a timeout ambiguous: the caller cannot tell "never arrived" from
 * "arrived and will still be applied", so a retry must not assume the first call was lost.
 */
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

async function sandboxWith(faults: Parameters<Sandbox['setFaults']>[0] = {}): Promise<Sandbox> {
  const sandbox = await startTestSandbox({ processingMs: 10, faults });
  cleanups.push(() => sandbox.close());
  return sandbox;
}

const tokenPath = '/v1/esign/partner/authentication';

describe('sandbox hold faults', () => {
  it('holdNext applies a confirm after its client gave up; a second confirm counts twice', async () => {
    const sandbox = await sandboxWith();
    const token = await getToken(sandbox);
    const user = newUser();
    const created = await createSubmission(sandbox, token, user);
    await upload(created.ktpUrl);
    await upload(created.selfieUrl);
    const body = confirmBody(created.submissionId, nikForScenario('stuck'));
    sandbox.setFaults({ holdNext: { confirm: { count: 1, ms: 300 } } });

    const impatient = request(`${sandbox.url}${confirmPath}`, {
      method: 'PUT',
      headers: { ...partnerHeaders(token, user), 'content-type': 'application/json' },
      body,
      // A native timer: undici's own headersTimeout fires up to a second late.
      signal: AbortSignal.timeout(100),
    });
    await expect(impatient).rejects.toThrow(/abort|timeout/i);
    // The client is gone; Esign has not applied it yet.
    expect(sandbox.inspect().submissions[0]?.confirmCount).toBe(0);
    await waitFor('the held confirm to be applied', () => {
      return sandbox.inspect().submissions[0]?.confirmCount === 1;
    });
    expect(sandbox.inspect().submissions[0]?.status).toBe('IN_PROGRESS');
    // Held, applied, never answered: its client had gone.
    expect(sandbox.inspect().calls.confirm).toEqual({ held: 1 });

    // A retry that assumed the first was lost confirms a second time.
    const again = await confirm(sandbox, token, user, body);
    expect(again.status).toBe(400);
    expect(again.json).toMatchObject({ errors: [{ cause: 'SUBMISSION_ALREADY_CONFIRMED' }] });
    expect(sandbox.inspect().submissions[0]?.confirmCount).toBe(2);
    expect(sandbox.inspect().faults.holdNext).toEqual({ confirm: { count: 0, ms: 300 } });
  });

  it('a held call whose client waits is answered after the hold', async () => {
    const sandbox = await sandboxWith({ holdNext: { token: { count: 1, ms: 200 } } });
    const started = Date.now();
    const reply = await call(`${sandbox.url}${tokenPath}`, {
      headers: { 'client-id': credentials.clientId, 'pass-key': credentials.passKey },
    });
    expect(reply.status).toBe(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
    expect(sandbox.inspect().calls.token).toEqual({ held: 1, '200': 1 });
  });

  it('holds an upload too: stored after the hold though its client gave up', async () => {
    const sandbox = await sandboxWith();
    const created = await createSubmission(sandbox, await getToken(sandbox), newUser());
    sandbox.setFaults({ holdNext: { upload: { count: 1, ms: 200 } } });
    const impatient = request(created.ktpUrl, {
      method: 'PUT',
      headers: { 'content-type': 'image/jpeg' },
      body: Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00]),
      signal: AbortSignal.timeout(50),
    });
    await expect(impatient).rejects.toThrow(/abort|timeout/i);
    expect(sandbox.inspect().submissions[0]?.uploaded.KTP).toBe(false);
    await waitFor('the held upload', () => sandbox.inspect().submissions[0]?.uploaded.KTP === true);
  });

  it('holdRate holds that fraction of the calls, reproducibly for a seed', async () => {
    const sandbox = await sandboxWith({ holdRate: { token: { rate: 1, ms: 1 } } });
    const tokenCall = () =>
      call(`${sandbox.url}${tokenPath}`, {
        headers: { 'client-id': credentials.clientId, 'pass-key': credentials.passKey },
      });
    await tokenCall();
    await tokenCall();
    expect(sandbox.inspect().calls.token).toEqual({ held: 2, '200': 2 });

    const heldOf = async (): Promise<number[]> => {
      const held: number[] = [];
      for (let i = 0; i < 12; i += 1) {
        const before = sandbox.inspect().calls.token.held ?? 0;
        await tokenCall();
        held.push((sandbox.inspect().calls.token.held ?? 0) - before);
      }
      return held;
    };
    sandbox.setFaults({ holdRate: { token: { rate: 0.5, ms: 1 } }, seed: 7 });
    const first = await heldOf();
    sandbox.setFaults({ seed: 7 });
    expect(await heldOf()).toEqual(first);
    expect(new Set(first)).toEqual(new Set([0, 1]));
  });

  it('other faults come first: a failed or hung call is not held', async () => {
    const sandbox = await sandboxWith({
      failNext: { token: 1 },
      holdNext: { token: { count: 1, ms: 1 } },
    });
    const headers = { 'client-id': credentials.clientId, 'pass-key': credentials.passKey };
    expect((await call(`${sandbox.url}${tokenPath}`, { headers })).status).toBe(500);
    expect((await call(`${sandbox.url}${tokenPath}`, { headers })).status).toBe(200);
    expect(sandbox.inspect().calls.token).toEqual({ '500': 1, held: 1, '200': 1 });
  });

  it('refuses a malformed hold, and close() ends a call on hold', async () => {
    const sandbox = await sandboxWith();
    const reply = await call(`${sandbox.url}/__sandbox/faults`, {
      method: 'PUT',
      body: JSON.stringify({ holdNext: { confirm: { count: 1 } } }),
    });
    expect(reply.status).toBe(400);
    expect(JSON.stringify(reply.json)).toContain('holdNext.confirm.ms');
    expect(() => sandbox.setFaults({ holdRate: { confirm: { rate: 2, ms: 1 } } })).toThrow(
      /holdRate/,
    );
    expect(() =>
      sandbox.setFaults({ holdNext: { confrim: { count: 1, ms: 1 } } } as never),
    ).toThrow(/holdNext/);

    sandbox.setFaults({ holdNext: { token: { count: 1, ms: 60_000 } } });
    const pending = call(`${sandbox.url}${tokenPath}`, {
      headers: { 'client-id': credentials.clientId, 'pass-key': credentials.passKey },
    }).then(
      () => 'answered',
      () => 'connection closed',
    );
    await waitFor('the hold', () => sandbox.inspect().calls.token.held === 1);
    const closing = Date.now();
    await sandbox.close();
    expect(Date.now() - closing).toBeLessThan(5_000);
    expect(await pending).toBe('connection closed');
  });
});
