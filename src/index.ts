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
export {
  registrationRequestSchema,
  type RegistrationRequest,
  type RegistrationRequestInput,
} from './queues/request-schema.ts';
export { registrationRequestJsonSchema } from './queues/json-schema.ts';
export type { RegistrationView } from './queues/view.ts';
export type { RegistrationResult, RegistrationStatus } from './lib/registration/record.ts';
export { RESULTS_QUEUE } from './queues/jobs.ts';
export { createPiiCipher, type PiiCipher } from './lib/pii-cipher.ts';
export { ValidationError, WorkerError, type ErrorCode } from './lib/errors.ts';
export { startSandbox, nikForScenario, scenarioNames, type Sandbox } from './sandbox/index.ts';
