import { randomUUID } from 'node:crypto';
import type { RedisClient } from '../lib/redis-topology.ts';
import { describeIssues, permanent, ValidationError } from '../lib/errors.ts';
import { checkImageSources, sourceKind, type ImagePolicy } from '../lib/images/index.ts';
import type { PiiCipher } from '../lib/pii-cipher.ts';
import type { RegistrationRecord } from '../lib/registration/record.ts';
import { jobIds } from '../lib/registration/jobs.ts';
import { RECORD_FORMAT_VERSION, writeJobData } from '../lib/registration/format.ts';
import type { RetrySettings } from './queues.ts';
import { openSharedServices, type ServiceTracing, type SharedServices } from './shared.ts';
import { registrationRequestSchema } from '../lib/registration/request-schema.ts';
import { toView, type RegistrationView } from '../lib/registration/view.ts';

export interface ProducerOptions {
  redis: RedisClient;
  /** QUEUE_PREFIX: must match the workers'. */
  prefix: string;
  cipher: PiiCipher;
  images: ImagePolicy;
  /** ESIGN_PARTNER_USER_ID_TYPE, used when a request names none. */
  defaultPartnerUserIdType: string;
  retry: RetrySettings;
  /** How long finished records are kept (default 30 days). */
  retentionMs?: number;
  now?: () => number;
}

export interface EnqueueOutcome {
  registrationId: string;
  /** false when this registrationId already existed: nothing new was started. */
  created: boolean;
  status: RegistrationRecord['status'];
}

export interface Producer {
  /**
   * Validate and enqueue a registration. Invalid input → ValidationError listing every
   * problem, and nothing is written. An existing registrationId returns that registration.
   * A partner user with an unfinished registration → REGISTRATION_IN_FLIGHT.
   */
  enqueueRegistration(request: unknown): Promise<EnqueueOutcome>;
  /** The record with PII left out, or undefined. */
  getRegistration(registrationId: string): Promise<RegistrationView | undefined>;
  close(): Promise<void>;
}

export const DEFAULT_RETENTION_MS = 30 * 24 * 3600 * 1000;

/** A producer on its own store and queues over the caller's connection (the public API). */
export function createProducer(options: ProducerOptions): Producer {
  const services = openSharedServices({
    redis: options.redis,
    prefix: options.prefix,
    retry: options.retry,
    retentionMs: options.retentionMs ?? DEFAULT_RETENTION_MS,
    cipher: options.cipher,
    images: options.images,
    now: options.now,
  });
  return producerOn(services, options.defaultPartnerUserIdType);
}

/** A producer on services already built (the runtime's); close() closes them. */
export function producerOn(services: SharedServices, defaultPartnerUserIdType: string): Producer {
  const { store, now } = services;
  const addInitiate = (registrationId: string) =>
    services.queues.steps.initiate.add('initiate', writeJobData({ registrationId }), {
      jobId: jobIds.step('initiate', registrationId, 0),
    });

  const producer: Producer = {
    async enqueueRegistration(input) {
      const parsed = registrationRequestSchema.safeParse(input);
      if (!parsed.success)
        throw new ValidationError('The registration request', describeIssues(parsed.error.issues));
      const request = parsed.data;
      const imageProblems = await checkImageSources(request.images, services.images);
      if (imageProblems.length > 0)
        throw new ValidationError('The registration request', imageProblems);

      const registrationId = request.registrationId ?? randomUUID();
      const at = now();
      const record: RegistrationRecord = {
        formatVersion: RECORD_FORMAT_VERSION,
        registrationId,
        partnerUserId: request.partnerUserId,
        partnerUserIdType: request.partnerUserIdType ?? defaultPartnerUserIdType,
        status: 'QUEUED',
        version: 0,
        enqueuedAt: at,
        updatedAt: at,
        generation: 0,
        previousSubmissionIds: [],
        pollAttempts: 0,
        history: [{ status: 'QUEUED', at, source: 'worker' }],
        sealedRequest: services.cipher.seal(JSON.stringify({ ...request, registrationId })),
        imageKinds: {
          ktp: sourceKind(request.images.ktp),
          selfie: sourceKind(request.images.selfie),
        },
      };
      const outcome = await store.create(record);
      if (outcome.kind === 'in-flight') {
        // If the holder never got its first job (a crash between create and add), give it
        // one now, so the slot it holds is one that will be freed.
        const holder = await store.get(outcome.registrationId);
        if (holder?.status === 'QUEUED') await addInitiate(holder.registrationId);
        throw permanent(
          'REGISTRATION_IN_FLIGHT',
          `partner user already has registration ${outcome.registrationId} in flight; ` +
            'Esign answers polls per user, so one registration per user runs at a time',
        );
      }
      const current = outcome.kind === 'created' ? record : await store.require(registrationId);
      // Also for an existing one: a crash between create and add must not strand it.
      if (current.status === 'QUEUED') await addInitiate(registrationId);
      return { registrationId, created: outcome.kind === 'created', status: current.status };
    },

    async getRegistration(registrationId) {
      const record = await store.get(registrationId);
      return record ? toView(record) : undefined;
    },

    close: () => services.close(),
  };
  return traceEnqueues(producer, services.tracing);
}

/**
 * With tracing on, each registration is a trace of its own (one registration = one trace),
 * started at its enqueue; a caller's active span, if any, is linked, not made its parent. The
 * trace is kept beside the record, so the callback can join it (registration/trace-context.ts).
 */
function traceEnqueues(producer: Producer, tracing: ServiceTracing): Producer {
  if (!tracing.tracer) return producer;
  const tracer = tracing.tracer;
  return {
    ...producer,
    enqueueRegistration: (input) =>
      tracer.inSpan(
        'esign.registration.enqueue',
        { kind: 'producer', root: true },
        async (span) => {
          const outcome = await producer.enqueueRegistration(input);
          span.setAttributes({
            'esign.registration.id': outcome.registrationId,
            'esign.registration.created': outcome.created,
          });
          const traceparent = span.traceparent();
          // A hint, not state: the registration stands even if this write fails.
          if (outcome.created && traceparent)
            await tracing.contexts.save(outcome.registrationId, traceparent).catch(() => undefined);
          return outcome;
        },
      ),
  };
}
