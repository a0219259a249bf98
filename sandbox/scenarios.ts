import { knownReasonCodes } from '../src/lib/esign/schemas.ts';
import type { InvalidReason, ScenarioName } from './types.ts';

/**
 * Which outcome a confirmed submission gets, chosen by the NIK's last four digits (the
 * serial part of a real NIK), and the status steps each outcome walks through. The real
 * sandbox publishes no test data, so this table is ours; docs/sandbox.md repeats it.
 */

export const invalidReasons: readonly InvalidReason[] = knownReasonCodes.filter(
  (code): code is InvalidReason => code !== 'SYSTEM_ERROR',
);

/** A reason code the docs never list: the worker must survive it. */
export const undocumentedReasonCode = 'SANDBOX_UNDOCUMENTED_REASON';

/** Last four NIK digits → scenario. Anything else is `completed`. */
const serialTable: ReadonlyMap<string, ScenarioName> = new Map<string, ScenarioName>([
  ['9000', 'completed-direct'],
  ...invalidReasons.map((reason, index): [string, ScenarioName] => [
    `91${String(index + 1).padStart(2, '0')}`,
    `invalid-${reason}`,
  ]),
  ['9199', 'invalid-undocumented'],
  ['9500', 'error'],
  ['9900', 'stuck'],
]);

export const scenarioNames: readonly ScenarioName[] = [
  'completed',
  ...new Set(serialTable.values()),
];

/** The serial (last four digits) selecting a scenario; `completed` uses 0001. */
export function serialForScenario(scenario: ScenarioName): string {
  for (const [serial, name] of serialTable) if (name === scenario) return serial;
  return '0001';
}

export function scenarioForNik(nik: string): ScenarioName {
  return serialTable.get(nik.slice(-4)) ?? 'completed';
}

/**
 * A well-formed 16-digit NIK selecting `scenario`: a Jakarta region code (317101), a
 * birth date DDMMYY that varies with `serial` (so tests can have many distinct users),
 * and the scenario's serial.
 */
export function nikForScenario(scenario: ScenarioName, serial = 0): string {
  if (!scenarioNames.includes(scenario)) throw new Error(`unknown sandbox scenario: ${scenario}`);
  const n = Math.abs(Math.trunc(serial)) % (28 * 12 * 100);
  const day = (n % 28) + 1;
  const month = (Math.trunc(n / 28) % 12) + 1;
  const year = Math.trunc(n / (28 * 12)) % 100;
  const two = (value: number) => String(value).padStart(2, '0');
  return `317101${two(day)}${two(month)}${two(year)}${serialForScenario(scenario)}`;
}

export type Check = 'PASS' | 'FAIL';
export interface VerificationResult {
  nik: Check;
  name: Check;
  dateOfBirth: Check;
  selfie: Check;
}

/** One state a submission reaches after confirm; `callback` says whether Esign reports it. */
export interface ScenarioStep {
  status: 'IN_PROGRESS' | 'PARTIALLY_COMPLETED' | 'COMPLETED' | 'ERROR';
  result: 'VALID' | 'INVALID' | null;
  reasonCode: string | null;
  verificationResult: VerificationResult | null;
  withRegistrationId: boolean;
  callback: boolean;
}

const allPass: VerificationResult = {
  nik: 'PASS',
  name: 'PASS',
  dateOfBirth: 'PASS',
  selfie: 'PASS',
};

/** Which check a rejection plausibly fails. Email/phone reuse is not one of the four checks. */
function checksFor(reason: string): VerificationResult {
  switch (reason) {
    case 'DUKCAPIL_REJECTED':
      return { ...allPass, name: 'FAIL', dateOfBirth: 'FAIL' };
    case 'DUKCAPIL_SYSTEM_ERROR':
    case 'DUKCAPIL_IRRETRIEVABLE_ERROR':
    case 'NOT_EKTP':
      return { ...allPass, nik: 'FAIL' };
    case 'EMAIL_HAS_BEEN_USED':
    case 'PHONE_HAS_BEEN_USED':
      return allPass;
    default:
      return { ...allPass, selfie: 'FAIL' };
  }
}

const inProgress: ScenarioStep = {
  status: 'IN_PROGRESS',
  result: null,
  reasonCode: null,
  verificationResult: null,
  withRegistrationId: false,
  callback: false,
};

function finalStep(partial: Partial<ScenarioStep>): ScenarioStep {
  return { ...inProgress, callback: true, ...partial };
}

/** The steps after confirm. The first (IN_PROGRESS) applies at once, each next one after processingMs. */
export function stepsFor(scenario: ScenarioName): ScenarioStep[] {
  const valid = { result: 'VALID' as const, verificationResult: allPass };
  if (scenario === 'completed')
    return [
      inProgress,
      finalStep({ status: 'PARTIALLY_COMPLETED', ...valid }),
      finalStep({ status: 'COMPLETED', ...valid, withRegistrationId: true }),
    ];
  if (scenario === 'completed-direct')
    return [inProgress, finalStep({ status: 'COMPLETED', ...valid, withRegistrationId: true })];
  if (scenario === 'error')
    return [inProgress, finalStep({ status: 'ERROR', reasonCode: 'SYSTEM_ERROR' })];
  if (scenario === 'stuck') return [inProgress];
  if (scenario === 'invalid-undocumented') return [inProgress, rejected(undocumentedReasonCode)];
  return [inProgress, rejected(scenario.slice('invalid-'.length))];
}

function rejected(reason: string): ScenarioStep {
  return finalStep({
    status: 'COMPLETED',
    result: 'INVALID',
    reasonCode: reason,
    verificationResult: checksFor(reason),
  });
}
