import { randomUUID } from 'node:crypto';
import { permanent } from '../lib/errors.ts';
import { sourceKind, type ImagePolicy } from '../lib/images/index.ts';
import type { Logger } from '../lib/logger.ts';
import type { PiiCipher } from '../lib/pii-cipher.ts';
import type { RegistrationRecord } from '../lib/registration/record.ts';
import { jobIds } from '../lib/registration/jobs.ts';
import { RECORD_FORMAT_VERSION, writeJobData } from '../lib/registration/format.ts';
import type { PipelineQueues, RetrySettings } from './queues.ts';
import { partitionPrefixes, type RedisClient } from '../lib/redis-topology.ts';
import { createDurableAck, noReplicaWait, type DurabilitySettings } from './durable-ack.ts';
import { openPartitionSet, type PartitionSet } from './partitions.ts';
import { admitRequest } from './admit.ts';
import { retryOn, type RetryOutcome } from './retry.ts';
import { eraseRegistration, type EraseOutcome } from './erase.ts';
import { addDeadline, sealIntake, storeImages } from './intake.ts';
import { toView, type RegistrationView } from '../lib/registration/view.ts';

export interface ProducerOptions {
  redis: RedisClient;
  /** The workers' key prefix: QUEUE_PREFIX, hash-tagged on Redis Cluster (`{esign}`). */
  prefix: string;
  /** QUEUE_PARTITIONS of the workers (default 1). */
  partitions?: number;
  cipher: PiiCipher;
  images: ImagePolicy;
  /** ESIGN_PARTNER_USER_ID_TYPE, used when a request names none. */
  defaultPartnerUserIdType: string;
  retry: RetrySettings;
  /** How long finished records are kept (default 30 days). */
  retentionMs?: number;
  /** How long after enqueue a registration ends TIMED_OUT at the latest (default 48 h). */
  registrationTimeoutMs?: number;
  /**
   * WAIT for this many replicas before an enqueue returns (REDIS_WAIT_REPLICAS; default none).
   * On Redis ≥ 7.2 with AOF on, the local fsync is awaited as well (WAITAOF).
   */
  durability?: DurabilitySettings;
  now?: () => number;
}

export interface EnqueueOutcome {
  registrationId: string;
  /**
   * false when this registrationId already existed: nothing new was started. Either way the
   * record and its first job are as durable as the server can promise (see durable-ack.ts).
   */
  created: boolean;
  status: RegistrationRecord['status'];
}

export interface Producer {
  /**
   * Validate and enqueue a registration. Invalid input → ValidationError listing every
   * problem, and nothing is written. An existing registrationId returns that registration.
   * A partner user with an unfinished registration → REGISTRATION_IN_FLIGHT. Writes that the
   * server could not make durable as configured → REDIS_NOT_DURABLE (retry the same id).
   */
  enqueueRegistration(request: unknown): Promise<EnqueueOutcome>;
  /**
   * Start another attempt of a FAILED or TIMED_OUT registration (see retry.ts). `request` is
   * needed once the request was deleted (when it ended); it must be the same user's.
   */
  retryRegistration(registrationId: string, request?: unknown): Promise<RetryOutcome>;
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
  const services = openPartitionSet({
    redis: options.redis,
    basePrefix: options.prefix,
    prefixes: partitionPrefixes(
      options.prefix.replace(/^\{(.*)\}$/, '$1'), // the plain QUEUE_PREFIX
      options.prefix,
      options.partitions ?? 1,
    ),
    retry: options.retry,
    retentionMs: options.retentionMs ?? DEFAULT_RETENTION_MS,
    deadlineMs: options.registrationTimeoutMs ?? DEFAULT_REGISTRATION_TIMEOUT_MS,
    cipher: options.cipher,
    images: options.images,
    now: options.now,
  });
  return producerOn(services, options.defaultPartnerUserIdType, options.durability);
}

/** A producer on partitions already built (the runtime's); close() closes them. */
export function producerOn(
  partitions: PartitionSet,
  defaultPartnerUserIdType: string,
  durability: DurabilitySettings = noReplicaWait,
  logger?: Logger,
): Producer {
  // Validation needs no partition: the first one's cipher and image policy are everyone's.
  const { images, now, redis } = partitions.all[0]!;
  const ack = createDurableAck(redis, durability, logger);
  // What the server can promise is found at start; a failure here is retried by the first enqueue.
  ack.detect().catch(() => undefined);

  const producer: Producer = {
    async enqueueRegistration(input) {
      const { request, decoded } = await admitRequest(input, images);

      const registrationId = request.registrationId ?? randomUUID();
      const partnerUserIdType = request.partnerUserIdType ?? defaultPartnerUserIdType;
      const partition = await partitions.place(
        registrationId,
        partnerUserIdType,
        request.partnerUserId,
      );
      const { store, queues } = partition;
      const addInitiate = initiateOn(queues);
      const at = now();
      const intake = sealIntake(partition, request, registrationId, decoded);
      const record: RegistrationRecord = {
        formatVersion: RECORD_FORMAT_VERSION,
        registrationId,
        partnerUserId: request.partnerUserId,
        partnerUserIdType,
        status: 'QUEUED',
        version: 0,
        enqueuedAt: at,
        updatedAt: at,
        generation: 0,
        previousSubmissionIds: [],
        pollAttempts: 0,
        history: [{ status: 'QUEUED', at, source: 'worker' }],
        deadlineAt: at + partition.deadlineMs,
        deadlineInTimers: true,
        sealedRequest: intake.sealedRequest,
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
        if (holder?.status === 'QUEUED') {
          await addDeadline(partition, holder);
          await addInitiate(holder.registrationId, holder.generation);
        }
        throw permanent(
          'REGISTRATION_IN_FLIGHT',
          `partner user already has registration ${outcome.registrationId} in flight; ` +
            'Esign answers polls per user, so one registration per user runs at a time',
        );
      }
      // Inline images after the record: an existing registration keeps its own.
      if (outcome.kind === 'created') await storeImages(partition, record, intake.inline);
      const current = outcome.kind === 'created' ? record : await store.require(registrationId);
      // Also for an existing one: a crash between create and add must not strand it.
      if (current.status === 'QUEUED') {
        await addDeadline(partition, current);
        await addInitiate(registrationId, current.generation);
      }
      await ack.confirm(registrationId);
      return { registrationId, created: outcome.kind === 'created', status: current.status };
    },

    async retryRegistration(registrationId, request) {
      const partition = await partitions.ofRegistration(registrationId);
      const known = partition && (await partition.store.get(registrationId));
      if (!partition || !known)
        throw permanent('REGISTRATION_NOT_FOUND', `registration ${registrationId} does not exist`);
      const addInitiate = initiateOn(partition.queues);
      const outcome = await retryOn(
        partition,
        defaultPartnerUserIdType,
        registrationId,
        request,
        addInitiate,
      );
      await ack.confirm(registrationId);
      return outcome;
    },

    async getRegistration(registrationId) {
      const partition = await partitions.ofRegistration(registrationId);
      const record = await partition?.store.get(registrationId);
      return record ? toView(record) : undefined;
    },

    async eraseRegistration(registrationId) {
      const partition = await partitions.ofRegistration(registrationId);
      return partition ? eraseRegistration(partition, registrationId) : 'unknown';
    },

    close: () => partitions.close(),
  };
  return traceEnqueues(producer, partitions);
}

/**
 * With tracing on, each registration is a trace of its own (one registration = one trace),
 * started at its enqueue, and each retried attempt one more, started at the retry; a caller's
 * active span, if any, is linked, not made its parent. The trace is kept beside the record, so
 * the callback can join it (registration/trace-context.ts).
 */
function traceEnqueues(producer: Producer, partitions: PartitionSet): Producer {
  const tracer = partitions.all[0]!.tracing.tracer;
  if (!tracer) return producer;
  const traced = <T extends { registrationId: string }>(
    name: string,
    run: () => Promise<T>,
    started: (outcome: T) => boolean,
  ): Promise<T> =>
    tracer.inSpan(name, { kind: 'producer', root: true }, async (span) => {
      const outcome = await run();
      const { registrationId } = outcome;
      span.setAttributes({
        'esign.registration.id': registrationId,
        'esign.registration.created': started(outcome),
      });
      const traceparent = span.traceparent();
      // A hint, not state: the registration stands even if this write fails.
      if (started(outcome) && traceparent)
        await partitions
          .ofRegistration(registrationId)
          .then((partition) => partition?.tracing.contexts.save(registrationId, traceparent))
          .catch(() => undefined);
      return outcome;
    });
  return {
    ...producer,
    enqueueRegistration: (input) =>
      traced(
        'esign.registration.enqueue',
        () => producer.enqueueRegistration(input),
        (outcome) => outcome.created,
      ),
    retryRegistration: (registrationId, request) =>
      traced(
        'esign.registration.retry',
        () => producer.retryRegistration(registrationId, request),
        (outcome) => outcome.started,
      ),
  };
}

/** Adds a registration's first step job; its id names the generation, so a retry gets its own. */
function initiateOn(queues: PipelineQueues) {
  return (registrationId: string, generation = 0) =>
    queues.steps.initiate.add('initiate', writeJobData({ registrationId }), {
      jobId: jobIds.step('initiate', registrationId, generation),
    });
}
