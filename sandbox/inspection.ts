import type {
  CallbackRecord,
  LeakRecord,
  SandboxEndpoint,
  SandboxFaults,
  SandboxSnapshot,
} from './types.ts';
import type { SubmissionStore } from './submissions.ts';

/**
 * What the sandbox saw, for tests and the demo to assert on: calls per endpoint by HTTP
 * status, session ids, storage leaks, bytes. Snapshots are copies: a caller cannot change
 * the sandbox through them.
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
  private readonly leaks: LeakRecord[] = [];
  private uploadBytes = 0;

  /** `status` is the HTTP status answered, "hang" for a call never answered, "held" for a hold. */
  call(endpoint: SandboxEndpoint, status: number | 'hang' | 'held'): void {
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
      faults: parts.faults,
    };
  }
}
