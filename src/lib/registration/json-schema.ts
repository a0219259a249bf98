import { z } from 'zod';
import { registrationRequestSchema } from './request-schema.ts';

/** The registration request as JSON Schema (draft 2020-12), for producers not in TypeScript. */
export function registrationRequestJsonSchema(): Record<string, unknown> {
  return {
    ...z.toJSONSchema(registrationRequestSchema, { io: 'input', unrepresentable: 'any' }),
    $id: 'https://esign-worker/schema/registration-request.schema.json',
    title: 'esign-worker registration request',
    description:
      'Enqueue with enqueueRegistration() or `esign-worker enqueue`. NIK is a string of 16 digits. ' +
      'Some rules (real dates, at least one contact, image checks) are enforced only by the service.',
  };
}
