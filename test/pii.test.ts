import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tokenKey } from '../src/lib/esign/token-cache.ts';
import { createPiiCipher } from '../src/lib/pii-cipher.ts';
import type { ScenarioName } from '../sandbox/index.ts';
import { connect } from './support/redis.ts';
import { person, registrationRequest, type TestPerson } from './support/requests.ts';
import { sandboxCredentials, startStack, type Stack } from './support/stack.ts';

/**
 * Full registrations through every outcome, with debug logging on everywhere (worker,
 * listener, sandbox): no NIK, name, date of birth, email, phone, IP, device id, partner token,
 * client id or pass-key may appear in any log line, metric or result (error messages included).
 */
describe('PII and secrets never leave', () => {
  let stack: Stack;
  const people: TestPerson[] = [];
  const scenarios: ScenarioName[] = [
    'completed',
    'completed-direct',
    'invalid-DUKCAPIL_REJECTED',
    'invalid-EMAIL_HAS_BEEN_USED',
    'invalid-undocumented',
    'error',
  ];

  beforeAll(async () => {
    stack = await startStack({ env: { CALLBACK_TIMEOUT_MS: '300' } });
  });
  afterAll(async () => {
    await stack.close();
  });

  it('in logs, metrics and results of every outcome', async () => {
    const ids: string[] = [];
    for (const scenario of scenarios) {
      const who = person(scenario);
      people.push(who);
      ids.push((await stack.producer.enqueueRegistration(registrationRequest(who))).registrationId);
    }
    // A dropped callback (found by polling) and a step that fails for good (a rejected request).
    stack.sandbox.setFaults({ dropCallbacksNext: 1 });
    const polled = person('completed');
    people.push(polled);
    ids.push(
      (await stack.producer.enqueueRegistration(registrationRequest(polled))).registrationId,
    );
    const rejected = person('completed');
    people.push(rejected);
    // The partner token the workers share, to look for it too.
    const redis = connect();
    // Sealed in Redis: opened here with the stack's key.
    const cipher = createPiiCipher({ key: Buffer.from(stack.env.PII_ENCRYPTION_KEY ?? '', 'hex') });
    const sealed = (await redis.hget(tokenKey(stack.prefix), 'sealedToken')) ?? '';
    const token = cipher.open(sealed, 'esign:token');
    await redis.quit();
    expect(token.length).toBeGreaterThan(10);

    const results = await Promise.all(ids.map((id) => stack.waitForResult(id)));
    expect(results.map((r) => r.status).sort()).toEqual(
      [
        'COMPLETED',
        'COMPLETED',
        'COMPLETED',
        'COMPLETED',
        'COMPLETED',
        'COMPLETED',
        'ERROR',
      ].sort(),
    );
    expect(results.some((r) => r.source === 'poll')).toBe(true);

    // Esign failing every confirm: retries run out and the registration ends FAILED.
    const failing = registrationRequest(rejected);
    stack.sandbox.setFaults({ failNext: { confirm: 100 } });
    const failed = await stack.producer.enqueueRegistration({
      ...failing,
      registrationId: 'pii-failing-1',
    });
    const failedResult = await stack.waitForResult(failed.registrationId, 30_000);
    stack.sandbox.setFaults({ failNext: { confirm: 0 } });
    expect(failedResult.status).toBe('FAILED');

    const everything = [
      stack.logLines.join(''),
      await stack.metrics.text(),
      JSON.stringify(stack.results),
      JSON.stringify(
        await Promise.all(
          [...ids, failed.registrationId].map((id) => stack.producer.getRegistration(id)),
        ),
      ),
    ].join('\n');
    expect(stack.logLines.length).toBeGreaterThan(50);
    const secrets = [token, sandboxCredentials.passKey, sandboxCredentials.clientId];
    for (const who of people)
      secrets.push(
        who.nik,
        who.name,
        who.dateOfBirth,
        who.email,
        who.phoneNumber,
        who.userIp,
        who.deviceId,
      );
    for (const secret of secrets) expect(everything, 'a secret leaked').not.toContain(secret);
  });
});
