import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ScenarioName } from '../sandbox/index.ts';
import { person, registrationRequest } from './support/requests.ts';
import { startStack, type Stack } from './support/stack.ts';

/**
 * Confirm at most once when Esign applies a confirm after we gave up on it. 10% of confirms are
 * held at the sandbox past the point where the worker abandons the call, then applied anyway.
 * A retry that treats the timeout as "never arrived" confirms those submissions twice; the
 * worker must instead wait out the claim's lease and ask Esign before sending again.
 *
 * Timings, from a claim: the worker abandons the call at CONNECT + REQUEST = 1,200 ms (a
 * native timer; undici's own headers timeout fires up to a second late). The sandbox applies a
 * held confirm 2,000 ms after it arrives, so always after the worker gave up. The lease
 * (CONFIRM_LEASE_MS) ends at 6,000 ms: the guarantee holds for a confirm Esign applies before
 * the lease ends, here for a request that reaches the sandbox within 4 s of its claim (this
 * process is busy: the sandbox, the listener and the workers share its event loop, and other
 * test files run beside it). The default lease is checked in config.test.ts.
 */
const REGISTRATIONS = 200;
const HOLD_MS = 2_000;

const expected: Record<string, Record<string, unknown>> = {
  completed: { status: 'COMPLETED', result: 'VALID', reasonCode: null },
  'completed-direct': { status: 'COMPLETED', result: 'VALID', reasonCode: null },
  'invalid-FRAUD_REJECT': { status: 'COMPLETED', result: 'INVALID', reasonCode: 'FRAUD_REJECT' },
  error: { status: 'ERROR', reasonCode: 'SYSTEM_ERROR' },
};
const scenarios = Object.keys(expected) as ScenarioName[];

describe('confirms held past the request timeout and applied late', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({
      env: {
        ESIGN_CONNECT_TIMEOUT_MS: '200',
        ESIGN_REQUEST_TIMEOUT_MS: '1000',
        CONFIRM_LEASE_MS: '6000',
        CONCURRENCY_INITIATE: '8',
        CONCURRENCY_UPLOAD: '8',
        CONCURRENCY_CONFIRM: '8',
        CONCURRENCY_COMPLETE: '8',
        LOG_LEVEL: 'info',
      },
      sandbox: { faults: { holdRate: { confirm: { rate: 0.1, ms: HOLD_MS } }, seed: 20_260_601 } },
    });
  });
  afterAll(async () => {
    await stack.close();
  });

  it(`${String(REGISTRATIONS)} registrations: every outcome right, no submission confirmed twice`, async () => {
    // Drawing synthetic images takes ~100 ms each: every registration sends the same two.
    const { images } = registrationRequest(person());
    const enqueued: { registrationId: string; partnerUserId: string; scenario: ScenarioName }[] =
      [];
    // In batches: a burst of 200 would starve this process's event loop (sandbox included).
    for (let batch = 0; batch < REGISTRATIONS; batch += 10) {
      const added = await Promise.all(
        Array.from({ length: 10 }, async (_, offset) => {
          const scenario = scenarios[(batch + offset) % scenarios.length] as ScenarioName;
          const request = registrationRequest(person(scenario), { images });
          const { registrationId } = await stack.producer.enqueueRegistration(request);
          return { registrationId, partnerUserId: request.partnerUserId, scenario };
        }),
      );
      enqueued.push(...added);
    }

    const results = await Promise.all(
      enqueued.map(({ registrationId }) => stack.waitForResult(registrationId, 90_000)),
    );
    const snapshot = stack.sandbox.inspect();
    // The fault did happen: confirms were held, and the worker gave up on some of them.
    expect(snapshot.calls.confirm.held ?? 0).toBeGreaterThanOrEqual(10);
    const abandoned = stack.logLines.filter(
      (line) => line.includes('"esign request failed"') && line.includes('"endpoint":"confirm"'),
    );
    expect(abandoned.length).toBeGreaterThanOrEqual(10);

    // Per registration: the outcome its scenario gives, reached through one submission that
    // was confirmed exactly once. Any other submission of its user can only be an orphan of a
    // create-submission call that timed out (no idempotency key exists): never confirmed.
    const wrong: string[] = [];
    for (const [index, { registrationId, partnerUserId, scenario }] of enqueued.entries()) {
      const result = results[index];
      const submissions = snapshot.submissions.filter((s) => s.userId === partnerUserId);
      const used = submissions.filter((s) => s.submissionId === result?.submissionId);
      const others = submissions.filter((s) => s.submissionId !== result?.submissionId);
      const wanted = expected[scenario] ?? {};
      const actual = {
        registrationId: result?.registrationId,
        ...Object.fromEntries(
          Object.keys(wanted).map((key) => [key, result?.[key as keyof typeof result]]),
        ),
        confirmCounts: used.map((s) => s.confirmCount),
        orphans: others.map((s) => `${s.status}/${String(s.confirmCount)}`),
      };
      const orphans = others.map(() => 'INITIATED/0');
      const want = { registrationId, ...wanted, confirmCounts: [1], orphans };
      if (JSON.stringify(actual) !== JSON.stringify(want))
        wrong.push(`${scenario}: ${JSON.stringify(actual)}`);
    }
    expect(wrong).toEqual([]);
    const confirmedTwice = snapshot.submissions.filter((s) => s.confirmCount > 1);
    expect(confirmedTwice).toEqual([]);
    expect(stack.results).toHaveLength(REGISTRATIONS);
  }, 120_000);
});
