import { closeRedis } from '../lib/redis-close.ts';
import { PartitionDirectory } from '../lib/registration/partition-directory.ts';
import { openSharedServices, type SharedServices, type SharedServicesOptions } from './shared.ts';

/**
 * The registrations' partitions (QUEUE_PARTITIONS): one set of store and queues per partition
 * prefix, on one connection, and the directory that says which partition holds a registration
 * or a submission. With one partition (the default) there is no directory and no extra Redis
 * call: everything is in the one prefix, as before partitions existed.
 */
export interface PartitionSet {
  /** One per partition, in partition order. */
  all: SharedServices[];
  /** Where a new registration goes: where its id already lives, else its user's partition. */
  place(
    registrationId: string,
    partnerUserIdType: string,
    partnerUserId: string,
  ): Promise<SharedServices>;
  /** The partition holding a registration; undefined when no partition knows it. */
  ofRegistration(registrationId: string): Promise<SharedServices | undefined>;
  /** The partition holding a submission; undefined when no partition knows it. */
  ofSubmission(submissionId: string): Promise<SharedServices | undefined>;
  /** Closes every partition's queues, then the connection when it was handed over (bounded). */
  close(): Promise<void>;
}

export interface PartitionSetOptions extends Omit<SharedServicesOptions, 'prefix' | 'ownsRedis'> {
  /** The base prefix: the directory and the one results queue live under it. */
  basePrefix: string;
  /** One per partition (see partitionPrefixes); a single one is the base prefix itself. */
  prefixes: string[];
  ownsRedis?: boolean;
}

export function openPartitionSet(options: PartitionSetOptions): PartitionSet {
  const { prefixes, basePrefix, redis } = options;
  const directory =
    prefixes.length > 1
      ? new PartitionDirectory(redis, basePrefix, prefixes.length, options.retentionMs * 2)
      : undefined;
  const all = prefixes.map((prefix, index) =>
    openSharedServices({
      ...options,
      prefix,
      ownsRedis: false,
      resultsPrefix: basePrefix,
      beforeIndexSubmission: directory
        ? (submissionId) => directory.placeSubmission(submissionId, index)
        : undefined,
    }),
  );
  const only = all[0]!;
  const at = (index: number | undefined) => (index === undefined ? undefined : all[index]);
  return {
    all,
    async place(registrationId, partnerUserIdType, partnerUserId) {
      if (!directory) return only;
      const wanted = directory.partitionOfUser(partnerUserIdType, partnerUserId);
      return all[await directory.placeRegistration(registrationId, wanted)]!;
    },
    async ofRegistration(registrationId) {
      return directory ? at(await directory.partitionOfRegistration(registrationId)) : only;
    },
    async ofSubmission(submissionId) {
      return directory ? at(await directory.partitionOfSubmission(submissionId)) : only;
    },
    async close() {
      await Promise.all(all.map((partition) => partition.close()));
      if (options.ownsRedis) await closeRedis(redis);
    },
  };
}
