import { randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { syntheticJpeg, syntheticPng } from '../sandbox/synthetic-images.ts';
import type { RegistrationRequestInput } from '../src/lib/registration/request-schema.ts';
import { nikForScenario, scenarioNames, type ScenarioName } from '../sandbox/index.ts';

/**
 * The demo's synthetic users: one per scenario first (so even a small run shows every outcome),
 * then mostly happy paths with the other outcomes mixed in, as real traffic would look. Each
 * gets a real JPEG KTP and PNG selfie written to `imageDir`, referenced as `{ path }` sources.
 */

export interface Outcome {
  status: string;
  result: string | null;
  reasonCode: string | null;
}

export interface DemoUser {
  scenario: ScenarioName;
  /** What this user's registration should end as. */
  expected: Outcome;
  request: RegistrationRequestInput & { registrationId: string };
}

/**
 * `stuck` goes last among the first round: it never gets a callback, so the demo's one
 * "drop every callback of the next submission" fault lands on a submission that has some.
 */
export const coverageOrder: readonly ScenarioName[] = [
  ...scenarioNames.filter((name) => name !== 'stuck'),
  'stuck',
];

/** After the first round: two happy paths to each other outcome; `stuck` only once. */
const laterRounds: readonly ScenarioName[] = scenarioNames
  .filter((name) => name !== 'stuck' && name !== 'completed')
  .flatMap((name): ScenarioName[] => ['completed', 'completed', name]);

export function scenarioFor(index: number): ScenarioName {
  if (index < coverageOrder.length) return coverageOrder[index] as ScenarioName;
  return laterRounds[(index - coverageOrder.length) % laterRounds.length] as ScenarioName;
}

/** What the sandbox's scenario table predicts the worker reports (docs/sandbox.md repeats it). */
export function expectedOutcome(scenario: ScenarioName): Outcome {
  if (scenario === 'completed' || scenario === 'completed-direct')
    return { status: 'COMPLETED', result: 'VALID', reasonCode: null };
  if (scenario === 'error') return { status: 'ERROR', result: null, reasonCode: 'SYSTEM_ERROR' };
  if (scenario === 'stuck') return { status: 'TIMED_OUT', result: null, reasonCode: null };
  if (scenario === 'invalid-undocumented')
    return { status: 'COMPLETED', result: 'INVALID', reasonCode: 'SANDBOX_UNDOCUMENTED_REASON' };
  return { status: 'COMPLETED', result: 'INVALID', reasonCode: scenario.slice('invalid-'.length) };
}

export async function createDemoUsers(count: number, imageDir: string): Promise<DemoUser[]> {
  return createUsers(
    Array.from({ length: count }, (_, index) => scenarioFor(index)),
    imageDir,
  );
}

/** One user per scenario given, with real image files in `imageDir`. */
export async function createUsers(
  scenarios: readonly ScenarioName[],
  imageDir: string,
): Promise<DemoUser[]> {
  const run = randomUUID().slice(0, 8);
  const users: DemoUser[] = [];
  for (const [index, scenario] of scenarios.entries()) {
    const n = index + 1;
    const ktp = `ktp-${n}.jpg`;
    const selfie = `selfie-${n}.png`;
    await writeFile(join(imageDir, ktp), syntheticJpeg(n));
    await writeFile(join(imageDir, selfie), syntheticPng(n + 100_000));
    users.push({
      scenario,
      expected: expectedOutcome(scenario),
      request: requestFor(n, run, scenario, ktp, selfie),
    });
  }
  return users;
}

function requestFor(
  n: number,
  run: string,
  scenario: ScenarioName,
  ktp: string,
  selfie: string,
): DemoUser['request'] {
  const contact = randomUUID();
  return {
    registrationId: randomUUID(),
    partnerUserId: `demo-${run}-${n}`,
    images: { ktp: { path: ktp }, selfie: { path: selfie } },
    userDetails: {
      name: `Demo User ${n}`,
      nik: nikForScenario(scenario, n),
      dateOfBirth: '17-08-1991',
      email: `demo.${n}.${contact.slice(0, 6)}@example.com`,
      phoneNumber: `62812000${String(10_000 + n)}`,
      dataVerification: {
        email: { isVerified: true, verificationReferenceId: randomUUID() },
        phoneNumber: { isVerified: true, verificationReferenceId: randomUUID() },
      },
    },
    userLocale: 'en_ID',
    consentData: [
      {
        entity: 'Digi',
        consentType: 'termsAndConditions',
        consentGiven: true,
        details: {
          en_ID: { url: 'https://example.com/terms?version=v1.0.0', text: 'terms and conditions' },
          id_ID: { url: 'https://example.com/terms?version=v1.0.0', text: 'syarat dan ketentuan' },
        },
        timeStamp: Math.floor(Date.now() / 1000),
        additionalDetails: {
          userAgent: 'esign-worker-demo/1.0',
          userIp: `192.0.2.${n % 250}`,
          deviceDetails: { os: 'android', make: 'demo', model: 'demo', uniqueId: contact },
        },
      },
    ],
    additionalData: {},
  };
}
