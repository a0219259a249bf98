import { createHash } from 'node:crypto';
import type { RedisClient } from '../redis-topology.ts';
import { permanent } from '../errors.ts';
import { scanKeys } from '../redis-scan.ts';
import { readRecord, writeRecord } from './format.ts';
import { isTerminal, type RegistrationRecord } from './record.ts';
import { statusIndexKey } from './status-index.ts';
import { COMPARE_AND_SET, CREATE, DELETE_IF_EQUAL, RETRY } from './store-scripts.ts';

/**
 * Registration records in Redis, one JSON value per registration, written with a
 * compare-and-set on `version` (a Lua script), so concurrent steps and callbacks never
 * overwrite each other's progress. Safe on one shared connection (no WATCH).
 *
 * Keys (all under the queue prefix, so a hash-tagged prefix keeps them in one slot):
 *   <p>:registration:<id>            the record
 *   <p>:registration-by-submission:<submissionId>   → id
 *   <p>:registration-in-flight:<sha256(type, user)> → id of the user's unfinished registration
 *   <p>:registrations-by-status:<STATUS>            ids by last write (status-index.ts)
 *
 * The record carries its format (`formatVersion`, format.ts): read in this release's formats,
 * always written in the current one. An in-flight record (and the user's slot) expires
 * KEY_GRACE_MS after the registration's deadline, by which the deadline job has ended it; an
 * ended record lives for the retention. The two indexes hold a bare registration id, which the
 * scripts below and the previous release compare and look up as is: their format is their key
 * name, and a new one would take a new key (docs/design.md, "Stored formats"). The scripts read
 * the record's `version` and `result`, which every record format keeps.
 */

/**
 * How long an in-flight registration's keys outlive its deadline: the time the deadline job
 * has to end it (TIMED_OUT, published) before anything of it can expire.
 */
export const KEY_GRACE_MS = 6 * 3600 * 1000;

export type CreateOutcome =
  { kind: 'created' } | { kind: 'exists' } | { kind: 'in-flight'; registrationId: string };
export type RetryOutcome =
  | { kind: 'retried'; record: RegistrationRecord }
  | { kind: 'refused'; record: RegistrationRecord }
  | { kind: 'in-flight'; registrationId: string };

export interface RegistrationStoreOptions {
  redis: RedisClient;
  prefix: string;
  /** How long a finished record is kept (ms); it answers status and idempotent re-enqueues. */
  retentionMs: number;
  now?: () => number;
  /** Run before a submission is indexed: partitions record where it lives first. */
  beforeIndexSubmission?: ((submissionId: string) => Promise<void>) | undefined;
}

export class RegistrationStore {
  private readonly redis: RedisClient;
  private readonly prefix: string;
  private readonly retentionMs: number;
  private readonly now: () => number;
  private readonly beforeIndexSubmission: RegistrationStoreOptions['beforeIndexSubmission'];

  constructor(options: RegistrationStoreOptions) {
    this.beforeIndexSubmission = options.beforeIndexSubmission;
    this.redis = options.redis;
    this.prefix = options.prefix;
    this.retentionMs = options.retentionMs;
    this.now = options.now ?? Date.now;
  }

  private recordKey(id: string): string {
    return `${this.prefix}:registration:${id}`;
  }

  /** The submission index's key (the callback sink looks it up inside its add script). */
  submissionKey(submissionId: string): string {
    return `${this.prefix}:registration-by-submission:${submissionId}`;
  }

  /** Hashed so a partner user id never appears in a key name. */
  inFlightKey(partnerUserIdType: string, partnerUserId: string): string {
    const digest = createHash('sha256')
      .update(`${partnerUserIdType}\0${partnerUserId}`)
      .digest('hex');
    return `${this.prefix}:registration-in-flight:${digest}`;
  }

  /** Atomically: create the record and claim the user's in-flight slot, or say why not. */
  async create(record: RegistrationRecord): Promise<CreateOutcome> {
    const [kind, holder] = (await this.redis.eval(
      CREATE,
      3,
      this.recordKey(record.registrationId),
      this.inFlightKey(record.partnerUserIdType, record.partnerUserId),
      statusIndexKey(this.prefix, record.status),
      writeRecord(record),
      record.registrationId,
      this.recordKey(''),
      String(record.updatedAt),
      String(this.ttlOf(record)),
    )) as [string, string];
    if (kind === 'in-flight') return { kind, registrationId: holder };
    return { kind: kind === 'exists' ? 'exists' : 'created' };
  }

  async get(id: string): Promise<RegistrationRecord | undefined> {
    const text = await this.redis.get(this.recordKey(id));
    return text === null ? undefined : readRecord(text);
  }

  async require(id: string): Promise<RegistrationRecord> {
    const record = await this.get(id);
    if (!record) throw permanent('REGISTRATION_NOT_FOUND', `registration ${id} does not exist`);
    return record;
  }

  /**
   * Read, change, write with compare-and-set; re-run `change` on a concurrent write.
   * `change` returns the new record, or undefined to leave it as it is. Terminal records get
   * the retention TTL.
   */
  async update(
    id: string,
    change: (record: RegistrationRecord) => RegistrationRecord | undefined,
  ): Promise<RegistrationRecord> {
    for (let attempt = 0; attempt < 50; attempt += 1) {
      const current = await this.require(id);
      const next = change(structuredClone(current));
      if (!next) return current;
      const written = { ...next, version: current.version + 1, updatedAt: this.now() };
      const ttl = this.ttlOf(written);
      const outcome = (await this.redis.eval(
        COMPARE_AND_SET,
        3,
        this.recordKey(id),
        statusIndexKey(this.prefix, current.status),
        statusIndexKey(this.prefix, written.status),
        String(current.version),
        writeRecord(written),
        String(ttl),
        ...this.indexArgs(written),
      )) as number;
      if (outcome === 1) return written;
      if (outcome === -1)
        throw permanent('REGISTRATION_NOT_FOUND', `registration ${id} does not exist`);
    }
    throw new Error(`registration ${id}: too many concurrent updates`);
  }

  /** The user's slot lives as long as its in-flight record (after the deadline moved out). */
  async expireSlot(record: RegistrationRecord): Promise<void> {
    const ttl = this.ttlOf(record);
    if (ttl > 0)
      await this.redis.pexpire(
        this.inFlightKey(record.partnerUserIdType, record.partnerUserId),
        ttl,
      );
  }

  /** ms the record's keys live from now: retention once ended, else until deadline + grace. */
  ttlOf(record: RegistrationRecord): number {
    if (record.result) return this.retentionMs;
    if (record.deadlineAt === undefined) return 0;
    return Math.max(1, record.deadlineAt + KEY_GRACE_MS - this.now());
  }

  /**
   * Start another attempt of an ended registration: `change` (the `retryRegistration`
   * transition) by compare-and-set, and the user's slot claimed again in the same script, as
   * `create` claims it. The record loses its retention TTL: it is in flight again.
   */
  async retry(
    id: string,
    change: (record: RegistrationRecord) => RegistrationRecord,
  ): Promise<RetryOutcome> {
    for (let attempt = 0; attempt < 50; attempt += 1) {
      const current = await this.require(id);
      const read = structuredClone(current);
      const next = change(read);
      if (next === read) return { kind: 'refused', record: current };
      const written = { ...next, version: current.version + 1, updatedAt: this.now() };
      const [kind, holder] = (await this.redis.eval(
        RETRY,
        4,
        this.recordKey(id),
        statusIndexKey(this.prefix, current.status),
        statusIndexKey(this.prefix, written.status),
        this.inFlightKey(written.partnerUserIdType, written.partnerUserId),
        String(current.version),
        writeRecord(written),
        '0',
        ...this.indexArgs(written),
        this.recordKey(''),
      )) as [string, string];
      if (kind === 'retried') return { kind, record: written };
      if (kind === 'in-flight') return { kind, registrationId: holder };
      if (kind === 'missing')
        throw permanent('REGISTRATION_NOT_FOUND', `registration ${id} does not exist`);
    }
    throw new Error(`registration ${id}: too many concurrent updates`);
  }

  /**
   * ARGV[4..6] of the index move: the id, its score (the write's time) and, for an ended
   * record, the score below which that status's index is trimmed (its records have expired).
   */
  private indexArgs(written: RegistrationRecord): [string, string, string] {
    const trimBelow = isTerminal(written.status) ? written.updatedAt - this.retentionMs : 0;
    return [written.registrationId, String(written.updatedAt), String(trimBelow)];
  }

  async indexSubmission(submissionId: string, registrationId: string): Promise<void> {
    await this.beforeIndexSubmission?.(submissionId);
    await this.redis.set(
      this.submissionKey(submissionId),
      registrationId,
      'PX',
      this.retentionMs * 2,
    );
  }

  /** Drop submission index entries, each only if it still names this registration. */
  async dropSubmissionIndex(submissionIds: readonly string[], registrationId: string) {
    for (const submissionId of submissionIds)
      await this.redis.eval(DELETE_IF_EQUAL, 1, this.submissionKey(submissionId), registrationId);
  }

  async findBySubmission(submissionId: string): Promise<string | undefined> {
    return (await this.redis.get(this.submissionKey(submissionId))) ?? undefined;
  }

  /** Free the user's slot, only if this registration still holds it. */
  async releaseInFlight(record: RegistrationRecord): Promise<void> {
    await this.redis.eval(
      DELETE_IF_EQUAL,
      1,
      this.inFlightKey(record.partnerUserIdType, record.partnerUserId),
      record.registrationId,
    );
  }

  /**
   * The registrations that hold a user's slot, in batches: every unfinished one (and, briefly,
   * one that ended and has not freed it yet).
   */
  async *inFlightIds(): AsyncGenerator<string[]> {
    for await (const keys of scanKeys(this.redis, `${this.prefix}:registration-in-flight:*`, 200)) {
      const ids = await this.redis.mget(...keys);
      yield ids.filter((id): id is string => id !== null);
    }
  }
}
