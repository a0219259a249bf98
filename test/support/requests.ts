import { randomUUID } from 'node:crypto';
import { syntheticJpeg, syntheticPng } from '../../sandbox/synthetic-images.ts';
import type { ConfirmMetadata } from '../../src/lib/esign/schemas.ts';
import type { RegistrationRequestInput } from '../../src/lib/registration/request-schema.ts';
import { nikForScenario, type ScenarioName } from '../../sandbox/index.ts';

let serial = 1;

/** PII values used by tests, so tests can assert that none of them ever leaks. */
export interface TestPerson {
  name: string;
  nik: string;
  dateOfBirth: string;
  email: string;
  phoneNumber: string;
  userIp: string;
  deviceId: string;
}

export function person(scenario: ScenarioName = 'completed', nik?: string): TestPerson {
  const n = serial++;
  return {
    name: `Siti Rahmawati ${n}`,
    nik: nik ?? nikForScenario(scenario, n),
    dateOfBirth: '17-08-1991',
    email: `siti.${n}.${randomUUID().slice(0, 6)}@example.co.id`,
    phoneNumber: `6281234${String(100000 + n)}`,
    userIp: `10.20.${n % 250}.${(n * 7) % 250}`,
    deviceId: `device-${randomUUID()}`,
  };
}

/**
 * A valid registration request for `who`, images inline as real JPEG/PNG. Drawing them takes
 * a while (~100 ms each), so they are drawn only when `overrides` brings none.
 */
export function registrationRequest(
  who: TestPerson,
  overrides: Partial<RegistrationRequestInput> = {},
): RegistrationRequestInput {
  const seed = Number(who.nik.slice(-6));
  return {
    partnerUserId: `user-${randomUUID()}`,
    images: overrides.images ?? {
      ktp: { base64: syntheticJpeg(seed).toString('base64') },
      selfie: { base64: syntheticPng(seed).toString('base64') },
    },
    userDetails: {
      name: who.name,
      nik: who.nik,
      dateOfBirth: who.dateOfBirth,
      email: who.email,
      phoneNumber: who.phoneNumber,
      dataVerification: {
        email: { isVerified: true, verificationReferenceId: randomUUID() },
        phoneNumber: { isVerified: true, verificationReferenceId: randomUUID() },
      },
    },
    userLocale: 'id_ID',
    consentData: [
      {
        entity: 'Digi',
        consentType: 'termsAndConditions',
        consentGiven: true,
        details: {
          en_ID: { url: 'https://example.com/terms?version=v1.0.0', text: 'terms and conditions' },
          id_ID: { url: 'https://example.com/terms?version=v1.0.0', text: 'syarat dan ketentuan' },
        },
        timeStamp: 1_767_225_600,
        additionalDetails: {
          userAgent: 'esign-e2e/1.0',
          userIp: who.userIp,
          deviceDetails: { os: 'android', make: 'google', model: 'KB2001', uniqueId: who.deviceId },
        },
      },
    ],
    additionalData: {},
    ...overrides,
  };
}

/** Confirm metadata as the client sends it, and the sandbox accepts (verified email, consent). */
export function confirmMetadata(nik: string): ConfirmMetadata {
  return {
    userDetails: {
      name: 'Budi Santoso',
      nik,
      dateOfBirth: '07-03-1980',
      email: 'budi@example.com',
      dataVerification: { email: { isVerified: true, verificationReferenceId: 'ref-1' } },
    },
    userLocale: 'en_ID',
    consentData: [
      {
        entity: 'Digi',
        consentType: 'termsAndConditions',
        consentGiven: true,
        timeStamp: 1725603017,
        details: {},
        additionalDetails: { userAgent: 'test', userIp: '172.217.22.14', deviceDetails: {} },
      },
    ],
    additionalData: {},
  };
}
