/**
 * The records this process read or wrote a moment ago, as stored (JSON text), so the store's
 * compare-and-set can start from the record a step has just read instead of reading it again:
 * one round trip per transition instead of two. Only ever a first guess: the script checks
 * the version and answers a stale guess with the record as it is, so a wrong entry costs a
 * retry, never a lost write. Kept as text (a private copy no caller can change), for at most
 * `maxAgeMs` (a record deleted and made again under the same id, at the same version, in that
 * time is the one case a guess could pass for current: nothing does that), and at most
 * `maxEntries` (≈ 2 KB each), the oldest dropped first.
 */
export class RecentRecords {
  private readonly entries = new Map<string, { text: string; at: number }>();
  private readonly maxEntries: number;
  private readonly maxAgeMs: number;
  private readonly now: () => number;

  constructor(
    maxEntries = 1024,
    maxAgeMs = 60_000,
    now: () => number = performance.now.bind(performance),
  ) {
    this.maxEntries = maxEntries;
    this.maxAgeMs = maxAgeMs;
    this.now = now;
  }

  remember(id: string, text: string): void {
    this.entries.delete(id); // re-inserted last: the Map's order is the age order
    this.entries.set(id, { text, at: this.now() });
    if (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
  }

  recall(id: string): string | undefined {
    const entry = this.entries.get(id);
    if (!entry) return undefined;
    if (this.now() - entry.at <= this.maxAgeMs) return entry.text;
    this.entries.delete(id);
    return undefined;
  }

  forget(id: string): void {
    this.entries.delete(id);
  }
}
