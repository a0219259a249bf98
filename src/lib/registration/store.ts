import type { RedisClient } from '../redis-topology.ts';
import { permanent } from '../errors.ts';
import { readRecord, writeRecord } from './format.ts';
import { isTerminal, type RegistrationRecord } from './record.ts';
import { InFlightSlots } from './in-flight-slots.ts';
import { RecentRecords } from './recent-records.ts';
import { StoreKeys } from './store-keys.ts';
import { SubmissionIndex } from './submission-index.ts';
import { COMPARE_AND_SET, CREATE, RECORD_OF_SUBMISSION, RETRY } from './store-scripts.ts';
import { RegistrationTimers, timerArg, wakeAt } from './timers.ts';
import { writeEffects } from './write-effects.ts';

/**
 * Registration records in Redis, one JSON value per registration, written with a
 * compare-and-set on `version` (a Lua script), so concurrent steps and callbacks never
 * overwrite each other's progress. Safe on one shared connection (no WATCH). A transition is
 * one round trip: from the record this process last read or wrote (recent-records.ts), with
 * what the write implies in the same script (write-effects.ts, store-scripts.ts). Keys:
 * store-keys.ts. The record carries its format (`formatVersion`, format.ts): read in this
 * release's formats, written in the current one. An in-flight record (and the user's slot)
 * expires KEY_GRACE_MS after the registration's deadline, by which the deadline job has ended
 * it; an ended record lives for the retention. The indexes hold a bare registration id, which
 * the scripts and the previous release compare and look up as is: their format is their key
 * name (docs/design.md, "Stored formats"). The scripts read the record's `version` and
 * `result`, which every record format keeps.
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
  private readonly retentionMs: number;
  private readonly now: () => number;
  /** Which registration made each Esign submission (submission-index.ts). */
  readonly submissions: SubmissionIndex;
  /** When registrations next need a poll or their deadline (timers.ts). */
  readonly timers: RegistrationTimers;
  /** The users' in-flight slots (in-flight-slots.ts). */
  readonly slots: InFlightSlots;
  private readonly recent = new RecentRecords();
  private readonly keys: StoreKeys;

  constructor(options: RegistrationStoreOptions) {
    this.redis = options.redis;
    this.keys = new StoreKeys(options.prefix);
    this.retentionMs = options.retentionMs;
    this.submissions = new SubmissionIndex(
      this.redis,
      this.keys,
      this.retentionMs * 2,
      options.beforeIndexSubmission,
    );
    this.now = options.now ?? Date.now;
    this.timers = new RegistrationTimers(this.redis, this.keys.timers());
    this.slots = new InFlightSlots(this.redis, this.keys);
  }

  /** Atomically: create the record and claim the user's in-flight slot, or say why not. */
  async create(record: RegistrationRecord): Promise<CreateOutcome> {
    const [kind, holder] = (await CREATE.run(
      this.redis,
      [
        this.keys.record(record.registrationId),
        this.slots.key(record),
        this.keys.status(record.status),
        this.keys.timers(),
      ],
      [
        writeRecord(record),
        record.registrationId,
        this.keys.record(''),
        String(record.updatedAt),
        String(this.ttlOf(record)),
        timerArg(undefined, wakeAt(record)),
      ],
    )) as [string, string];
    if (kind === 'in-flight') return { kind, registrationId: holder };
    // Not remembered: its first step reads it again anyway (a job starts from Redis).
    return { kind: kind === 'exists' ? 'exists' : 'created' };
  }

  async get(id: string): Promise<RegistrationRecord | undefined> {
    const text = await this.redis.get(this.keys.record(id));
    if (text === null) {
      this.recent.forget(id);
      return undefined;
    }
    const record = readRecord(text);
    this.recent.remember(id, text);
    return record;
  }

  /** The registration that made a submission, and its record: one round trip (callbacks). */
  async getBySubmission(
    submissionId: string,
  ): Promise<{ registrationId: string; record: RegistrationRecord | undefined } | undefined> {
    const found = (await RECORD_OF_SUBMISSION.run(
      this.redis,
      [this.keys.submission(submissionId)],
      [this.keys.record('')],
    )) as [string, string | null] | null;
    if (!found) return undefined;
    const [registrationId, text] = found;
    if (text === null) return { registrationId, record: undefined };
    this.recent.remember(registrationId, text);
    return { registrationId, record: readRecord(text) };
  }

  /** As `get`, in one MGET; not remembered (a sweep would push out the steps' records). */
  async getMany(ids: readonly string[]): Promise<(RegistrationRecord | undefined)[]> {
    if (ids.length === 0) return [];
    const texts = await this.redis.mget(ids.map((id) => this.keys.record(id)));
    return texts.map((text) => (text === null ? undefined : readRecord(text)));
  }

  async require(id: string): Promise<RegistrationRecord> {
    const record = await this.get(id);
    if (!record) throw this.missing(id);
    return record;
  }

  /**
   * Read, change, write with compare-and-set; re-run `change` on a concurrent write.
   * `change` returns the new record, or undefined to leave it as it is. Terminal records get
   * the retention TTL. The first try starts from the record this process has just read or
   * written, if any; a verdict of "no change" is only trusted on a record read from Redis.
   */
  async update(
    id: string,
    change: (record: RegistrationRecord) => RegistrationRecord | undefined,
  ): Promise<RegistrationRecord> {
    let text = this.recent.recall(id);
    let fresh = text === undefined;
    for (let attempt = 0; attempt < 50; attempt += 1) {
      if (text === undefined) {
        text = await this.readText(id);
        fresh = true;
      }
      const current = readRecord(text);
      const next = change(structuredClone(current));
      if (!next && fresh) return current;
      if (!next) {
        text = undefined;
        continue;
      }
      const written = { ...next, version: current.version + 1, updatedAt: this.now() };
      const writtenText = writeRecord(written);
      const outcome = await this.compareAndSet(current, written, writtenText);
      if (outcome === 1) {
        this.recent.remember(id, writtenText);
        return written;
      }
      if (outcome === -1) throw this.missing(id);
      // Stale: the script answered with the record as it is.
      text = String(outcome);
      fresh = true;
      this.recent.remember(id, text);
    }
    throw new Error(`registration ${id}: too many concurrent updates`);
  }

  private async readText(id: string): Promise<string> {
    const text = await this.redis.get(this.keys.record(id));
    if (text === null) throw this.missing(id);
    return text;
  }

  private missing(id: string): Error {
    this.recent.forget(id);
    return permanent('REGISTRATION_NOT_FOUND', `registration ${id} does not exist`);
  }

  /** 1 written, -1 no record, or the record's text when `current` was stale (store-scripts.ts). */
  private async compareAndSet(
    current: RegistrationRecord,
    written: RegistrationRecord,
    writtenText: string,
  ): Promise<unknown> {
    const id = written.registrationId;
    const { dropImages, ends, newSubmissionId, timer } = writeEffects(current, written);
    // The partition directory (QUEUE_PARTITIONS > 1) learns a new submission before its index.
    if (newSubmissionId !== undefined) await this.submissions.beforeWrite(newSubmissionId);
    return COMPARE_AND_SET.run(
      this.redis,
      [
        this.keys.record(id),
        this.keys.status(current.status),
        this.keys.status(written.status),
        this.slots.key(written),
        this.keys.image(id, 'ktp'),
        this.keys.image(id, 'selfie'),
        this.keys.submission(newSubmissionId ?? ''),
        this.keys.timers(),
      ],
      [
        String(current.version),
        writtenText,
        String(this.ttlOf(written)),
        ...this.indexArgs(written),
        dropImages ? '1' : '',
        ends ? '1' : '',
        String(newSubmissionId === undefined ? 0 : this.submissions.ttlMs),
        timer,
      ],
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
      const writtenText = writeRecord(written);
      const [kind, holder] = (await RETRY.run(
        this.redis,
        [
          this.keys.record(id),
          this.keys.status(current.status),
          this.keys.status(written.status),
          this.slots.key(written),
          this.keys.timers(),
        ],
        [
          String(current.version),
          writtenText,
          '0',
          ...this.indexArgs(written),
          this.keys.record(''),
          timerArg(wakeAt(current), wakeAt(written)),
        ],
      )) as [string, string];
      if (kind === 'retried') {
        this.recent.remember(id, writtenText);
        return { kind, record: written };
      }
      if (kind === 'in-flight') return { kind, registrationId: holder };
      if (kind === 'missing') throw this.missing(id);
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
}
