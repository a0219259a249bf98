import { z } from 'zod';
import type {
  EndpointCounters,
  HoldNext,
  HoldRate,
  SandboxEndpoint,
  SandboxFaults,
  SandboxJsonEndpoint,
} from './types.ts';
import { mulberry32 as prng } from './prng.ts';

/**
 * Fault injection: the settings, their validation (shared by the start options, the
 * SANDBOX_FAULTS variable and `PUT /__sandbox/faults`), and the decisions taken per call.
 * Rates draw from a seeded PRNG so a run can be reproduced; one-shot counters are exact.
 */

const rate = z.number().min(0).max(1);
const count = z.number().int().min(0);
const jsonCounters = z
  .object({ token: count, create_submission: count, confirm: count, get_submission: count })
  .partial()
  .strict();
const counters = jsonCounters.extend({ upload: count }).partial().strict();
function perEndpoint<T extends z.ZodType>(entry: T) {
  return z
    .object({
      token: entry,
      create_submission: entry,
      upload: entry,
      confirm: entry,
      get_submission: entry,
    })
    .partial()
    .strict();
}
const holdNext = perEndpoint(z.object({ count, ms: count }).strict());
const holdRate = perEndpoint(z.object({ rate, ms: count }).strict());

/** A partial SandboxFaults, as JSON; unknown keys are refused so a typo cannot pass silently. */
export const sandboxFaultsSchema = z
  .object({
    latencyMs: count,
    errorRate: rate,
    failStatus: z.number().int().min(400).max(599),
    failBodyBytes: count.max(16 * 1024 * 1024),
    rateLimitRate: rate,
    retryAfterSeconds: count,
    hangRate: rate,
    failNext: counters,
    rateLimitNext: counters,
    hangNext: counters,
    loseAnswerNext: counters,
    malformNext: jsonCounters,
    truncateNext: jsonCounters,
    extraFields: z.boolean(),
    uploadStatus: z.union([z.literal(200), z.literal(204)]),
    holdNext,
    holdRate,
    expireUrlsNext: count,
    tokenTtlSeconds: count.nullable(),
    callbackDropRate: rate,
    callbackDuplicateRate: rate,
    callbackDelayMs: count,
    callbackReorder: z.boolean(),
    dropCallbacksNext: count,
    duplicateCallbacksNext: count,
    seed: z.number().int(),
  })
  .partial()
  .strict() satisfies z.ZodType<Partial<SandboxFaults>>;

export function defaultFaults(): SandboxFaults {
  return {
    latencyMs: 0,
    errorRate: 0,
    failStatus: 500,
    failBodyBytes: 0,
    rateLimitRate: 0,
    retryAfterSeconds: 1,
    hangRate: 0,
    failNext: {},
    rateLimitNext: {},
    hangNext: {},
    loseAnswerNext: {},
    malformNext: {},
    truncateNext: {},
    extraFields: false,
    uploadStatus: 200,
    holdNext: {},
    holdRate: {},
    expireUrlsNext: 0,
    tokenTtlSeconds: null,
    callbackDropRate: 0,
    callbackDuplicateRate: 0,
    callbackDelayMs: 0,
    callbackReorder: false,
    dropCallbacksNext: 0,
    duplicateCallbacksNext: 0,
    seed: 1,
  };
}

/** What to do with one incoming call before it reaches its handler. */
export type CallFault =
  { kind: 'none' } | { kind: 'fail' } | { kind: 'rate-limit' } | { kind: 'hang' };

/** What happens to the answer of a call its handler carried out. */
export type AnswerFault = 'none' | 'lose' | 'malform' | 'truncate';

/** The one-shot counter maps: merged per endpoint, copied in snapshots. */
const counterKeys = [
  'failNext',
  'rateLimitNext',
  'hangNext',
  'loseAnswerNext',
  'malformNext',
  'truncateNext',
] as const;
type CounterKey = (typeof counterKeys)[number];
const isCounterKey = (key: string): key is CounterKey =>
  (counterKeys as readonly string[]).includes(key);

export interface CallbackPlan {
  /** No callback at all for this submission. */
  dropAll: boolean;
  /** Every callback of this submission twice. */
  duplicateAll: boolean;
}

export class FaultState {
  private faults: SandboxFaults = defaultFaults();
  private random: () => number = prng(1);

  constructor(initial: Partial<SandboxFaults> = {}) {
    this.merge(initial);
  }

  /** JSON-merge: scalars replace, per-endpoint maps merge per endpoint. */
  merge(patch: Partial<SandboxFaults>): void {
    const next: SandboxFaults = { ...this.faults };
    for (const [key, value] of Object.entries(patch) as [keyof SandboxFaults, unknown][]) {
      if (value === undefined) continue;
      if (isCounterKey(key)) next[key] = { ...next[key], ...(value as EndpointCounters) };
      else if (key === 'holdNext')
        next.holdNext = { ...next.holdNext, ...(value as SandboxFaults['holdNext']) };
      else if (key === 'holdRate')
        next.holdRate = { ...next.holdRate, ...(value as SandboxFaults['holdRate']) };
      else (next as unknown as Record<string, unknown>)[key] = value;
    }
    this.faults = next;
    if (patch.seed !== undefined) this.random = prng(patch.seed);
  }

  current(): SandboxFaults {
    const copy = { ...this.faults };
    for (const key of counterKeys) copy[key] = { ...copy[key] };
    copy.holdNext = copyEntries(copy.holdNext);
    copy.holdRate = copyEntries(copy.holdRate);
    return copy;
  }

  get latencyMs(): number {
    return this.faults.latencyMs;
  }

  get retryAfterSeconds(): number {
    return this.faults.retryAfterSeconds;
  }

  get failStatus(): number {
    return this.faults.failStatus;
  }

  get failBodyBytes(): number {
    return this.faults.failBodyBytes;
  }

  get extraFields(): boolean {
    return this.faults.extraFields;
  }

  get uploadStatus(): 200 | 204 {
    return this.faults.uploadStatus;
  }

  get tokenTtlOverride(): number | null {
    return this.faults.tokenTtlSeconds;
  }

  get callbackDelayMs(): number {
    return this.faults.callbackDelayMs;
  }

  get callbackReorder(): boolean {
    return this.faults.callbackReorder;
  }

  /** One-shot counters first (tests rely on them exactly), then the rates. */
  forCall(endpoint: SandboxEndpoint): CallFault {
    if (this.take(this.faults.hangNext, endpoint)) return { kind: 'hang' };
    if (this.take(this.faults.rateLimitNext, endpoint)) return { kind: 'rate-limit' };
    if (this.take(this.faults.failNext, endpoint)) return { kind: 'fail' };
    if (this.chance(this.faults.hangRate)) return { kind: 'hang' };
    if (this.chance(this.faults.rateLimitRate)) return { kind: 'rate-limit' };
    if (this.chance(this.faults.errorRate)) return { kind: 'fail' };
    return { kind: 'none' };
  }

  /** For a call that passed forCall: its answer is withheld, malformed, cut, or sent as is. */
  forAnswer(endpoint: SandboxEndpoint): AnswerFault {
    if (this.take(this.faults.loseAnswerNext, endpoint)) return 'lose';
    if (endpoint === 'upload') return 'none';
    if (this.take(this.faults.malformNext, endpoint)) return 'malform';
    if (this.take(this.faults.truncateNext, endpoint)) return 'truncate';
    return 'none';
  }

  /**
   * For a call that got no other fault: how long to hold it before applying it (0 = not at
   * all). The one-shot `holdNext` first, then `holdRate`.
   */
  holdFor(endpoint: SandboxEndpoint): number {
    const next: HoldNext | undefined = this.faults.holdNext[endpoint];
    if (next && next.count > 0) {
      this.faults.holdNext = {
        ...this.faults.holdNext,
        [endpoint]: { ...next, count: next.count - 1 },
      };
      return next.ms;
    }
    const byRate: HoldRate | undefined = this.faults.holdRate[endpoint];
    if (byRate && this.chance(byRate.rate)) return byRate.ms;
    return 0;
  }

  /** Whether the submission being created gets already-expired upload URLs. */
  takeExpiredUrls(): boolean {
    if (this.faults.expireUrlsNext <= 0) return false;
    this.faults.expireUrlsNext -= 1;
    return true;
  }

  /** Decided once per confirmed submission. */
  callbackPlan(): CallbackPlan {
    const dropAll = this.faults.dropCallbacksNext > 0;
    if (dropAll) this.faults.dropCallbacksNext -= 1;
    const duplicateAll = !dropAll && this.faults.duplicateCallbacksNext > 0;
    if (duplicateAll) this.faults.duplicateCallbacksNext -= 1;
    return { dropAll, duplicateAll };
  }

  dropThisCallback(): boolean {
    return this.chance(this.faults.callbackDropRate);
  }

  duplicateThisCallback(): boolean {
    return this.chance(this.faults.callbackDuplicateRate);
  }

  private take(
    counters: EndpointCounters,
    endpoint: SandboxEndpoint | SandboxJsonEndpoint,
  ): boolean {
    const left = counters[endpoint] ?? 0;
    if (left <= 0) return false;
    counters[endpoint] = left - 1;
    return true;
  }

  private chance(probability: number): boolean {
    return probability > 0 && this.random() < probability;
  }
}

function copyEntries<T extends object>(
  map: Partial<Record<SandboxEndpoint, T>>,
): Partial<Record<SandboxEndpoint, T>> {
  return Object.fromEntries(Object.entries(map).map(([key, entry]) => [key, { ...entry }]));
}
