import { createHash } from 'node:crypto';
import type { RedisClient } from '../redis-topology.ts';

/**
 * With QUEUE_PARTITIONS > 1, registrations are spread over N key prefixes (`{esign-0}` …),
 * each a full set of queues and records, so a Redis Cluster can hold them on different
 * shards. A registration's partition follows from its partner user (a stable hash, so one
 * user's registrations, and the user's in-flight slot, always share one partition). The
 * directory, under the base prefix's own tag, says where a registrationId or a submissionId
 * lives, for the status command and the callback listener; it is written before the record
 * or the submission index it points to, so nothing is ever written that cannot be found.
 *
 * Keys (values are the partition number, a bare decimal; a new format takes a new key name):
 *   <base>:partition-of-registration:<id>
 *   <base>:partition-of-submission:<submissionId>
 */
export class PartitionDirectory {
  private readonly redis: RedisClient;
  private readonly basePrefix: string;
  readonly count: number;
  /** How long an entry lasts: past the retention of the record it points to. */
  private readonly ttlMs: number;

  constructor(redis: RedisClient, basePrefix: string, count: number, ttlMs: number) {
    this.redis = redis;
    this.basePrefix = basePrefix;
    this.count = count;
    this.ttlMs = ttlMs;
  }

  /** The partition a partner user's registrations go to. */
  partitionOfUser(partnerUserIdType: string, partnerUserId: string): number {
    const digest = createHash('sha256').update(`${partnerUserIdType}\0${partnerUserId}`).digest();
    return digest.readUInt32BE(0) % this.count;
  }

  /**
   * Claim `partition` for a registrationId, or learn the one it already has (a re-enqueue of
   * an existing id goes where its record is, whoever the user).
   */
  async placeRegistration(registrationId: string, partition: number): Promise<number> {
    const key = this.key('registration', registrationId);
    const set = await this.redis.set(key, String(partition), 'PX', this.ttlMs, 'NX');
    if (set === 'OK') return partition;
    return this.parse(await this.redis.get(key)) ?? partition;
  }

  async placeSubmission(submissionId: string, partition: number): Promise<void> {
    await this.redis.set(this.key('submission', submissionId), String(partition), 'PX', this.ttlMs);
  }

  async partitionOfRegistration(registrationId: string): Promise<number | undefined> {
    return this.parse(await this.redis.get(this.key('registration', registrationId)));
  }

  async partitionOfSubmission(submissionId: string): Promise<number | undefined> {
    return this.parse(await this.redis.get(this.key('submission', submissionId)));
  }

  private key(kind: 'registration' | 'submission', id: string): string {
    return `${this.basePrefix}:partition-of-${kind}:${id}`;
  }

  private parse(value: string | null): number | undefined {
    if (value === null) return undefined;
    const partition = Number(value);
    return Number.isInteger(partition) && partition >= 0 && partition < this.count
      ? partition
      : undefined;
  }
}
