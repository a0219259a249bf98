import type { RedisClient } from '../redis-topology.ts';
import type { StoreKeys } from './store-keys.ts';
import { DELETE_IF_EQUAL } from './store-scripts.ts';

/**
 * Which registration made an Esign submission: `<p>:registration-by-submission:<id>` → the
 * registration id, bare (its format is its key name, docs/design.md "Stored formats"). Written
 * when a submission is created or adopted, and inside the record's scripts when a write
 * attaches one; read by the callback listener (inside its add script, by this key) and by
 * adoption. Kept twice the record retention, so a late callback still finds its registration.
 */
export class SubmissionIndex {
  private readonly redis: RedisClient;
  private readonly keys: StoreKeys;
  /** How long an entry lives (also when a record's script writes it). */
  readonly ttlMs: number;
  private readonly beforeAdd: ((submissionId: string) => Promise<void>) | undefined;

  constructor(
    redis: RedisClient,
    keys: StoreKeys,
    ttlMs: number,
    beforeAdd: ((submissionId: string) => Promise<void>) | undefined,
  ) {
    this.redis = redis;
    this.keys = keys;
    this.ttlMs = ttlMs;
    this.beforeAdd = beforeAdd;
  }

  /** The entry's key (the callback sink looks it up inside its add script). */
  key(submissionId: string): string {
    return this.keys.submission(submissionId);
  }

  /**
   * What must happen before an entry is written, here or inside a record's script
   * (partitions record where the submission lives first).
   */
  async beforeWrite(submissionId: string): Promise<void> {
    await this.beforeAdd?.(submissionId);
  }

  async add(submissionId: string, registrationId: string): Promise<void> {
    await this.beforeWrite(submissionId);
    await this.redis.set(this.key(submissionId), registrationId, 'PX', this.ttlMs);
  }

  async find(submissionId: string): Promise<string | undefined> {
    return (await this.redis.get(this.key(submissionId))) ?? undefined;
  }

  /** Drop entries, each only if it still names this registration. */
  async drop(submissionIds: readonly string[], registrationId: string): Promise<void> {
    for (const submissionId of submissionIds)
      await DELETE_IF_EQUAL.run(this.redis, [this.key(submissionId)], [registrationId]);
  }
}
