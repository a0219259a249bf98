import type {
  CallbackRecord,
  LeakRecord,
  RequestRecord,
  SandboxEndpoint,
  SandboxFaults,
  SandboxSnapshot,
} from './types.ts';
import type { SubmissionStore } from './submissions.ts';

/** How many calls the request log keeps (a long-running sandbox must not grow without end). */
const requestLogSize = 1_000;

/**
 * What the sandbox saw, for tests and the demo to assert on: calls per endpoint by HTTP
 * status, the last calls (header names, never secret values), session ids, storage leaks,
 * bytes. Snapshots are copies: a caller cannot change the sandbox through them.
 */
export class Recorder {
  private readonly calls: Record<SandboxEndpoint, Record<string, number>> = {
    token: {},
    create_submission: {},
    upload: {},
    confirm: {},
    get_submission: {},
  };
  private readonly sessionIds: string[] = [];
  private readonly requests: RequestRecord[] = [];
  private readonly leaks: LeakRecord[] = [];
  private uploadBytes = 0;

  /** A call as received; its `status` is filled in by `call` once it is answered (or not). */
  request(entry: Omit<RequestRecord, 'status'>): RequestRecord {
    const record: RequestRecord = { ...entry, status: null };
    this.requests.push(record);
    if (this.requests.length > requestLogSize) this.requests.shift();
    return record;
  }

  /**
   * `status` is the HTTP status answered, "hang" (never answered), "lost" (withheld) or
   * "held" (a hold fault kept the call before applying it).
   */
  call(
    endpoint: SandboxEndpoint,
    status: number | 'hang' | 'lost' | 'held',
    record?: RequestRecord,
  ): void {
    if (record && status !== 'held') record.status = status;
    const byStatus = this.calls[endpoint];
    const key = String(status);
    byStatus[key] = (byStatus[key] ?? 0) + 1;
  }

  sessionId(id: string): void {
    this.sessionIds.push(id);
  }

  leak(leak: LeakRecord): void {
    this.leaks.push(leak);
  }

  bytes(count: number): void {
    this.uploadBytes += count;
  }

  snapshot(parts: {
    tokensIssued: number;
    store: SubmissionStore;
    callbacks: readonly CallbackRecord[];
    faults: SandboxFaults;
  }): SandboxSnapshot {
    return {
      calls: Object.fromEntries(
        Object.entries(this.calls).map(([endpoint, counts]) => [endpoint, { ...counts }]),
      ) as SandboxSnapshot['calls'],
      tokensIssued: parts.tokensIssued,
      submissions: parts.store.snapshot(),
      sessionIds: [...this.sessionIds],
      leaks: this.leaks.map((leak) => ({ ...leak })),
      callbacks: parts.callbacks.map((record) => ({ ...record })),
      uploadBytes: this.uploadBytes,
      requests: this.requests.map((record) => ({ ...record, headers: [...record.headers] })),
      faults: parts.faults,
    };
  }
}
