import { randomUUID } from 'node:crypto';
import type { RedisClient } from '../lib/redis-topology.ts';
import { describeIssues, permanent, ValidationError } from '../lib/errors.ts';
import {
  base64ImageBytes,
  checkImageSources,
  sourceKind,
  type CheckDocument,
  type ImagePolicy,
  type ImageSource,
} from '../lib/images/index.ts';
import type { StoredImageSource } from '../lib/registration/image-store.ts';
import type { PiiCipher } from '../lib/pii-cipher.ts';
import type { RegistrationRecord } from '../lib/registration/record.ts';
import { jobIds } from '../lib/registration/jobs.ts';
import { RECORD_FORMAT_VERSION, writeJobData } from '../lib/registration/format.ts';
import type { RetrySettings } from './queues.ts';
import { eraseRegistration, type EraseOutcome } from './erase.ts';
import { openSharedServices, type SharedServices } from './shared.ts';
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
  /** How long after enqueue a registration ends TIMED_OUT at the latest (default 48 h). */
  registrationTimeoutMs?: number;
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
  /** Erase one registration's data on request, keeping a tombstone (erase.ts). */
  eraseRegistration(registrationId: string): Promise<EraseOutcome>;
  close(): Promise<void>;
}

export const DEFAULT_RETENTION_MS = 30 * 24 * 3600 * 1000;
export const DEFAULT_REGISTRATION_TIMEOUT_MS = 48 * 3600 * 1000;

/**
 * A producer on its own store and queues over the caller's connection (the public API). It
 * refuses a cipher without a key unless that cipher was made with `plaintextAllowed`: PII is
 * stored encrypted unless the caller explicitly says otherwise.
 */
export function createProducer(options: ProducerOptions): Producer {
  if (!options.cipher.encrypts) {
    try {
      options.cipher.seal('', 'probe');
    } catch (error) {
      throw new Error(`createProducer: ${(error as Error).message}`, { cause: error });
    }
  }
  const services = openSharedServices({
    redis: options.redis,
    prefix: options.prefix,
    retry: options.retry,
    retentionMs: options.retentionMs ?? DEFAULT_RETENTION_MS,
    deadlineMs: options.registrationTimeoutMs ?? DEFAULT_REGISTRATION_TIMEOUT_MS,
    cipher: options.cipher,
    images: options.images,
    now: options.now,
  });
  return producerOn(services, options.defaultPartnerUserIdType);
}

/** A producer on services already built (the runtime's); close() closes them. */
export function producerOn(services: SharedServices, defaultPartnerUserIdType: string): Producer {
  const { store, now } = services;
  // The first step, and the deadline that ends the registration TIMED_OUT if nothing else
  // has by then (a record without a deadline was enqueued by the previous release).
  const startJobs = async (record: RegistrationRecord) => {
    const { registrationId, deadlineAt } = record;
    if (deadlineAt !== undefined)
      await services.queues.steps.complete.add(
        'complete',
        writeJobData({ registrationId, source: 'worker' as const, timedOut: true }),
        { jobId: jobIds.deadline(registrationId), delay: Math.max(0, deadlineAt - now()) },
      );
    await services.queues.steps.initiate.add('initiate', writeJobData({ registrationId }), {
      jobId: jobIds.step('initiate', registrationId, 0),
    });
  };

  return {
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
      const deadlineAt = at + services.deadlineMs;
      // Inline images go to their own keys (after the record exists): the record keeps a mark.
      const inline: [CheckDocument, Buffer][] = [];
      const images = {
        ktp: keepInline('ktp', request.images.ktp),
        selfie: keepInline('selfie', request.images.selfie),
      };
      function keepInline(
        doc: CheckDocument,
        source: ImageSource,
      ): ImageSource | StoredImageSource {
        if (!('base64' in source)) return source;
        const type = doc === 'ktp' ? 'KTP' : 'SELFIE';
        inline.push([doc, base64ImageBytes(type, source.base64, services.images)]);
        return { stored: doc };
      }
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
        deadlineAt,
        sealedRequest: services.cipher.seal(
          JSON.stringify({ ...request, images, registrationId }),
          registrationId,
        ),
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
        if (holder?.status === 'QUEUED') await startJobs(holder);
        throw permanent(
          'REGISTRATION_IN_FLIGHT',
          `partner user already has registration ${outcome.registrationId} in flight; ` +
            'Esign answers polls per user, so one registration per user runs at a time',
        );
      }
      if (outcome.kind === 'created')
        for (const [doc, bytes] of inline)
          await services.imageStore.put(registrationId, doc, bytes, store.ttlOf(record));
      const current = outcome.kind === 'created' ? record : await store.require(registrationId);
      // Also for an existing one: a crash between create and add must not strand it.
      if (current.status === 'QUEUED') await startJobs(current);
      return { registrationId, created: outcome.kind === 'created', status: current.status };
    },

    async getRegistration(registrationId) {
      const record = await store.get(registrationId);
      return record ? toView(record) : undefined;
    },

    eraseRegistration: (registrationId) => eraseRegistration(services, registrationId),

    close: () => services.close(),
  };
}
