/**
 * The package's public API, for services that enqueue registrations and consume results.
 * Running the service itself is the CLI's job (`esign-worker start`).
 */
export {
  createProducer,
  type Producer,
  type ProducerOptions,
  type EnqueueOutcome,
} from './queues/producer.ts';
export type { RetryOutcome } from './queues/retry.ts';
export {
  registrationRequestSchema,
  type RegistrationRequest,
  type RegistrationRequestInput,
} from './lib/registration/request-schema.ts';
export { registrationRequestJsonSchema } from './lib/registration/json-schema.ts';
export type { RegistrationView } from './lib/registration/view.ts';
export {
  attemptOf,
  type RegistrationResult,
  type RegistrationStatus,
} from './lib/registration/record.ts';
export { RESULTS_QUEUE } from './lib/registration/jobs.ts';
export { RESULT_FORMAT_VERSION } from './lib/registration/format.ts';
export { createPiiCipher, type PiiCipher } from './lib/pii-cipher.ts';
export { ValidationError, WorkerError, type ErrorCode } from './lib/errors.ts';
