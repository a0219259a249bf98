/* eslint-disable @typescript-eslint/no-unsafe-member-access -- reads the sandbox's JSON answers */
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWorkerApp, type WorkerApp } from '../src/app/worker-app.ts';
import { loadConfig } from '../src/lib/config.ts';
import { silentLogger } from '../src/lib/logger.ts';
import { Metrics } from '../src/lib/metrics.ts';
import { RegistrationStore } from '../src/lib/registration/store.ts';
import { nikForScenario, type ScenarioName } from '../sandbox/index.ts';
import { waitUntil } from '../demo/child-process.ts';
import { connect } from './support/redis.ts';
import { person, registrationRequest } from './support/requests.ts';
import { call, confirmBody, jpeg, png } from './support/sandbox-kit.ts';
import { capturingLogger } from './support/listener.ts';
import { sandboxCredentials, startStack, type Stack } from './support/stack.ts';

/**
 * Adopt before create: initiate first asks Esign what this user has. A submission a lost write
 * left behind (Esign created, even confirmed it; the record never heard) is adopted, not
 * duplicated. What it must not adopt: another registration's submission, or an older one.
 * A lost write is simulated by doing at the sandbox, for the registration's user, what the
 * worker would have done, while no worker runs.
 */
describe('adopt before create', () => {
  let stack: Stack;
  let redis: Redis;
  let store: RegistrationStore;

  beforeAll(async () => {
    stack = await startStack({ worker: 'none' });
    redis = connect();
    store = new RegistrationStore({ redis, prefix: stack.prefix, retentionMs: 3_600_000 });
  });
  afterAll(async () => {
    await redis.quit();
    await stack.close();
  });

  async function withWorker<T>(
    run: () => Promise<T>,
    env: Record<string, string> = {},
    logger = silentLogger(),
  ): Promise<T> {
    const worker: WorkerApp = createWorkerApp(
      loadConfig({ ...stack.env, ...env }, ['common', 'esign', 'pipeline', 'pii']),
      logger,
      new Metrics({ defaultMetrics: false }),
    );
    try {
      return await run();
    } finally {
      await worker.close();
    }
  }

  /** At the sandbox, as the worker would: create a submission for the user, then optionally upload and confirm. */
  async function atEsign(partnerUserId: string, confirmWith?: ScenarioName): Promise<string> {
    const base = stack.sandbox.url;
    const token = await call(`${base}/v1/esign/partner/authentication`, {
      headers: { 'client-id': sandboxCredentials.clientId, 'pass-key': sandboxCredentials.passKey },
    });
    const headers = () => ({
      'x-onekyc-token': token.json.data.token as string,
      'x-esign-onboarding-partner': sandboxCredentials.onboardingPartner,
      'x-partner-user-id': partnerUserId,
      'x-partner-user-id-type': 'E2E_USER_ID',
      'x-partner-session-id': randomUUID(),
    });
    const created = await call(
      `${base}/esign-partner/v1/submissions/urls?submissionType=CERT_REG`,
      {
        headers: headers(),
      },
    );
    const submissionId = created.json.data.submissionId as string;
    if (!confirmWith) return submissionId;
    const urls = created.json.data.documents as Record<'KTP' | 'SELFIE', { documentUrl: string }>;
    await call(urls.KTP.documentUrl, { method: 'PUT', body: jpeg });
    await call(urls.SELFIE.documentUrl, { method: 'PUT', body: png });
    const confirmed = await call(`${base}/esign-partner/v1/submissions/urls`, {
      method: 'PUT',
      headers: { ...headers(), 'content-type': 'application/json' },
      body: confirmBody(submissionId, nikForScenario(confirmWith)),
    });
    expect(confirmed.status).toBe(200);
    return submissionId;
  }

  const submissionsOf = (partnerUserId: string) =>
    stack.sandbox.inspect().submissions.filter((s) => s.userId === partnerUserId);
  const statusAtEsign = (submissionId: string) =>
    stack.sandbox.inspect().submissions.find((s) => s.submissionId === submissionId)?.status;

  it('adopts a confirmed submission no registration owns: no second one, its outcome is the result', async () => {
    const request = registrationRequest(person('completed'));
    const { registrationId } = await stack.producer.enqueueRegistration(request);
    // The lost write: Esign has it created, uploaded and confirmed (and finished); the record
    // says QUEUED. Its outcome (rejected) differs from what this request's NIK would give.
    const lost = await atEsign(request.partnerUserId, 'invalid-FRAUD_REJECT');
    await waitUntil(() => statusAtEsign(lost) === 'COMPLETED', {
      timeoutMs: 5_000,
      what: 'the lost submission to finish at Esign',
    });

    const result = await withWorker(() => stack.waitForResult(registrationId, 20_000));
    expect(result).toMatchObject({
      submissionId: lost,
      status: 'COMPLETED',
      result: 'INVALID',
      reasonCode: 'FRAUD_REJECT',
      source: 'poll',
    });
    expect(
      submissionsOf(request.partnerUserId).map((s) => [s.submissionId, s.confirmCount]),
    ).toEqual([[lost, 1]]);
    const view = await stack.producer.getRegistration(registrationId);
    expect(view?.history.map((entry) => [entry.status, entry.source])).toEqual([
      ['QUEUED', 'worker'],
      ['CONFIRMED', 'poll'],
      ['COMPLETED', 'poll'],
    ]);
  });

  it('adopts one still in progress that the store says is its own, and waits on it', async () => {
    const request = registrationRequest(person('completed'));
    const { registrationId } = await stack.producer.enqueueRegistration(request);
    // The index was written, the record was not (the order initiate writes them in).
    const lost = await atEsign(request.partnerUserId, 'stuck');
    await store.submissions.add(lost, registrationId);

    await withWorker(() =>
      waitUntil(
        async () =>
          (await stack.producer.getRegistration(registrationId))?.status === 'IN_PROGRESS',
        { timeoutMs: 15_000, what: 'the registration to follow the adopted submission' },
      ),
    );
    const view = await stack.producer.getRegistration(registrationId);
    expect(view?.submissionId).toBe(lost);
    expect(view?.confirmedAt).not.toBeNull();
    expect(submissionsOf(request.partnerUserId).map((s) => s.confirmCount)).toEqual([1]);
  });

  it('waits for Esign to date one nobody owns; still undated at POLL_GIVE_UP_MS, creates', async () => {
    const request = registrationRequest(person('completed'));
    const { registrationId } = await stack.producer.enqueueRegistration(request);
    // Confirmed at Esign, never dated: it stays IN_PROGRESS with no processedAt.
    const undated = await atEsign(request.partnerUserId, 'stuck');
    const { logger, lines } = capturingLogger();
    const result = await withWorker(
      () => stack.waitForResult(registrationId, 20_000),
      {
        POLL_GIVE_UP_MS: '2000',
        POLL_INTERVAL_MS: '200',
      },
      logger,
    );
    const waited = lines.filter(
      (line) =>
        line.includes(registrationId) &&
        line.includes('a submission at Esign not dated yet: asking again before creating one'),
    );
    expect(waited.length).toBeGreaterThan(1);
    expect(result).toMatchObject({ status: 'COMPLETED', result: 'VALID' });
    expect(result.submissionId).not.toBe(undated);
    expect(submissionsOf(request.partnerUserId).map((s) => s.confirmCount)).toEqual([1, 1]);
  }, 30_000);

  it('never adopts an older finished submission: a user registering again gets a new result', async () => {
    const request = registrationRequest(person('completed'));
    // Last month's registration of this user, rejected, long gone from our store.
    const old = await atEsign(request.partnerUserId, 'invalid-FRAUD_REJECT');
    await waitUntil(() => statusAtEsign(old) === 'COMPLETED', {
      timeoutMs: 5_000,
      what: 'the old submission to finish at Esign',
    });
    const { registrationId } = await stack.producer.enqueueRegistration(request);

    const result = await withWorker(() => stack.waitForResult(registrationId, 20_000));
    expect(result).toMatchObject({ status: 'COMPLETED', result: 'VALID', reasonCode: null });
    expect(result.submissionId).not.toBe(old);
    expect(submissionsOf(request.partnerUserId).map((s) => s.confirmCount)).toEqual([1, 1]);
  });

  it("never adopts another registration's submission", async () => {
    const first = registrationRequest(person('invalid-FRAUD_REJECT'));
    const again = registrationRequest(person('completed'), {
      partnerUserId: first.partnerUserId,
      images: first.images,
    });
    const results = await withWorker(async () => {
      const one = await stack.producer.enqueueRegistration(first);
      const earlier = await stack.waitForResult(one.registrationId, 20_000);
      const two = await stack.producer.enqueueRegistration(again);
      return [earlier, await stack.waitForResult(two.registrationId, 20_000)];
    });
    expect(results.map((r) => [r?.result, r?.reasonCode])).toEqual([
      ['INVALID', 'FRAUD_REJECT'],
      ['VALID', null],
    ]);
    expect(results[1]?.submissionId).not.toBe(results[0]?.submissionId);
  });

  it('does not adopt an unconfirmed one (its upload URLs are lost): creates a new one', async () => {
    const request = registrationRequest(person('completed'));
    const { registrationId } = await stack.producer.enqueueRegistration(request);
    const orphan = await atEsign(request.partnerUserId);

    const result = await withWorker(() => stack.waitForResult(registrationId, 20_000));
    expect(result).toMatchObject({ status: 'COMPLETED', result: 'VALID' });
    expect(result.submissionId).not.toBe(orphan);
    expect(
      submissionsOf(request.partnerUserId).map((s) => [
        s.submissionId === orphan,
        s.status,
        s.confirmCount,
      ]),
    ).toEqual([
      [true, 'INITIATED', 0],
      [false, 'COMPLETED', 1],
    ]);
  });
});
