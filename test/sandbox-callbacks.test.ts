/* eslint-disable @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-assignment -- assertions read callback bodies and JSON answers */
import { afterEach, describe, expect, it } from 'vitest';
import { submissionStateSchema } from '../src/lib/esign/schemas.ts';
import {
  nikForScenario,
  scenarioNames,
  type Sandbox,
  type ScenarioName,
} from '../sandbox/index.ts';
import type { CallbackTarget } from '../sandbox/types.ts';
import {
  call,
  getToken,
  newUser,
  partnerHeaders,
  pollPath,
  register,
  startReceiver,
  startTestSandbox,
  waitFor,
  type Receiver,
} from './support/sandbox-kit.ts';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

async function setUp(
  options: {
    auth?: CallbackTarget['auth'];
    method?: CallbackTarget['method'];
    answer?: (n: number) => number;
  } = {},
): Promise<{ sandbox: Sandbox; receiver: Receiver }> {
  const receiver = await startReceiver(options.answer);
  cleanups.push(() => receiver.close());
  const sandbox = await startTestSandbox({
    processingMs: 10,
    callback: {
      url: receiver.url,
      method: options.method ?? 'POST',
      auth: options.auth ?? { mode: 'none' },
    },
    callbackRetry: { attempts: 4, baseDelayMs: 10 },
  });
  cleanups.push(() => sandbox.close());
  return { sandbox, receiver };
}

/** Status/result/reason of each callback received, in order. */
function sequence(receiver: Receiver): string[] {
  return receiver.received.map((r) =>
    [r.body.status, r.body.result, r.body.reasonCode].filter(Boolean).join(' '),
  );
}

const expected: Record<ScenarioName, string[]> = {
  completed: ['PARTIALLY_COMPLETED VALID', 'COMPLETED VALID'],
  'completed-direct': ['COMPLETED VALID'],
  'invalid-DUKCAPIL_REJECTED': ['COMPLETED INVALID DUKCAPIL_REJECTED'],
  'invalid-DUKCAPIL_SYSTEM_ERROR': ['COMPLETED INVALID DUKCAPIL_SYSTEM_ERROR'],
  'invalid-DUKCAPIL_IRRETRIEVABLE_ERROR': ['COMPLETED INVALID DUKCAPIL_IRRETRIEVABLE_ERROR'],
  'invalid-EMAIL_HAS_BEEN_USED': ['COMPLETED INVALID EMAIL_HAS_BEEN_USED'],
  'invalid-PHONE_HAS_BEEN_USED': ['COMPLETED INVALID PHONE_HAS_BEEN_USED'],
  'invalid-AETHER_VERIFICATION_FAILED': ['COMPLETED INVALID AETHER_VERIFICATION_FAILED'],
  'invalid-LIVENESS_CHECK_FAILED': ['COMPLETED INVALID LIVENESS_CHECK_FAILED'],
  'invalid-FRAUD_REJECT': ['COMPLETED INVALID FRAUD_REJECT'],
  'invalid-NOT_EKTP': ['COMPLETED INVALID NOT_EKTP'],
  'invalid-undocumented': ['COMPLETED INVALID SANDBOX_UNDOCUMENTED_REASON'],
  error: ['ERROR SYSTEM_ERROR'],
  stuck: [],
};

describe('sandbox scenarios and callbacks', () => {
  it('has a distinct 16-digit NIK for every scenario and serial', () => {
    expect([...scenarioNames].sort()).toEqual(Object.keys(expected).sort());
    const niks = scenarioNames.flatMap((name) => [nikForScenario(name), nikForScenario(name, 7)]);
    for (const nik of niks) expect(nik).toMatch(/^\d{16}$/);
    expect(new Set(niks).size).toBe(niks.length);
  });

  it.each(scenarioNames)('walks scenario %s and calls back its sequence', async (scenario) => {
    const { sandbox, receiver } = await setUp();
    const token = await getToken(sandbox);
    const user = newUser();
    const submissionId = await register(sandbox, token, user, nikForScenario(scenario));
    const want = expected[scenario];
    if (want.length > 0) await waitFor('callbacks', () => receiver.received.length >= want.length);
    else await new Promise((resolve) => setTimeout(resolve, 100));
    expect(sequence(receiver)).toEqual(want);
    for (const { body } of receiver.received) {
      expect(submissionStateSchema.safeParse(body).success).toBe(true);
      expect(body).toMatchObject({
        submissionId,
        userId: user.userId,
        userIdType: user.userIdType,
      });
      expect(body.processedAt).toEqual(expect.any(String));
    }
    const last = receiver.received.at(-1)?.body;
    if (scenario === 'completed' || scenario === 'completed-direct') {
      expect(last.submissionDetails).toEqual({
        verificationResult: { nik: 'PASS', name: 'PASS', dateOfBirth: 'PASS', selfie: 'PASS' },
        registrationId: expect.stringMatching(/^[0-9a-f-]{36}$/),
        eligibleToActivate: false,
        onboardingCode: 'NEW_USER',
        shouldSkipActivation: true,
      });
    }
    if (scenario === 'completed')
      expect(receiver.received[0]?.body.submissionDetails.registrationId).toBeUndefined();
    if (scenario.startsWith('invalid-') && !scenario.includes('_HAS_BEEN_USED'))
      expect(
        Object.values(last.submissionDetails.verificationResult as Record<string, string>),
      ).toContain('FAIL');
    // The poll reports the same final state the last callback did.
    const poll = await call(`${sandbox.url}${pollPath}`, { headers: partnerHeaders(token, user) });
    expect(poll.json.data.status).toBe(scenario === 'stuck' ? 'IN_PROGRESS' : last.status);
    expect(sandbox.inspect().callbacks.every((record) => record.delivered)).toBe(true);
  });

  it('sends the create call session id as partnerSessionId, as JSON, with the configured method', async () => {
    const { sandbox, receiver } = await setUp({ method: 'PATCH' });
    const token = await getToken(sandbox);
    await register(sandbox, token, newUser(), nikForScenario('completed-direct'));
    await waitFor('callback', () => receiver.received.length === 1);
    const [received] = receiver.received;
    expect(received?.method).toBe('PATCH');
    expect(received?.headers['content-type']).toBe('application/json');
    const createSession = sandbox.inspect().submissions[0]?.sessionIds[0];
    expect(received?.body.partnerSessionId).toBe(createSession);
  });

  const auths: [CallbackTarget['auth'], string, string][] = [
    [
      { mode: 'basic', secret: 'esign:s3cret' },
      'authorization',
      `Basic ${Buffer.from('esign:s3cret').toString('base64')}`,
    ],
    [{ mode: 'bearer', secret: 'tok-123' }, 'authorization', 'Bearer tok-123'],
    [
      { mode: 'api-key', secret: 'key-456', apiKeyHeader: 'X-Partner-Key' },
      'x-partner-key',
      'key-456',
    ],
  ];
  it.each(auths)('authenticates callbacks with %o', async (auth, headerName, value) => {
    const { sandbox, receiver } = await setUp({ auth });
    await register(sandbox, await getToken(sandbox), newUser(), nikForScenario('completed-direct'));
    await waitFor('callback', () => receiver.received.length === 1);
    expect(receiver.received[0]?.headers[headerName]).toBe(value);
  });

  it('sends no Authorization header in auth mode none', async () => {
    const { sandbox, receiver } = await setUp();
    await register(sandbox, await getToken(sandbox), newUser(), nikForScenario('completed-direct'));
    await waitFor('callback', () => receiver.received.length === 1);
    expect(receiver.received[0]?.headers.authorization).toBeUndefined();
  });

  it('retries a callback answered with non-200 until it gets 200', async () => {
    const { sandbox, receiver } = await setUp({ answer: (n) => (n < 2 ? 503 : 200) });
    await register(sandbox, await getToken(sandbox), newUser(), nikForScenario('completed-direct'));
    await waitFor('delivery', () => sandbox.inspect().callbacks[0]?.delivered === true);
    expect(receiver.received).toHaveLength(3);
    expect(sandbox.inspect().callbacks[0]).toMatchObject({
      attempts: 3,
      lastHttpStatus: 200,
      delivered: true,
    });
  });

  it('treats 204 as not delivered and gives up after the configured attempts', async () => {
    const { sandbox, receiver } = await setUp({ answer: () => 204 });
    await register(sandbox, await getToken(sandbox), newUser(), nikForScenario('completed-direct'));
    await waitFor('four attempts', () => receiver.received.length === 4);
    await waitFor('give-up', () => sandbox.inspect().callbacks[0]?.attempts === 4);
    expect(sandbox.inspect().callbacks[0]).toMatchObject({ delivered: false, lastHttpStatus: 204 });
  });

  it('retries when the receiver is unreachable, recording no HTTP status', async () => {
    const receiver = await startReceiver();
    await receiver.close();
    const sandbox = await startTestSandbox({
      processingMs: 10,
      callback: { url: receiver.url, method: 'POST', auth: { mode: 'none' } },
      callbackRetry: { attempts: 2, baseDelayMs: 10 },
    });
    cleanups.push(() => sandbox.close());
    await register(sandbox, await getToken(sandbox), newUser(), nikForScenario('completed-direct'));
    await waitFor('give-up', () => sandbox.inspect().callbacks[0]?.attempts === 2);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(sandbox.inspect().callbacks[0]).toMatchObject({
      delivered: false,
      lastHttpStatus: null,
    });
  });
});
