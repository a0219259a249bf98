import type { Logger } from '../src/lib/logger.ts';
import type { EsignEndpoint } from '../src/lib/esign/types.ts';
import type { CallbackAuthMode } from '../src/lib/config.ts';
import type { KnownReasonCode } from '../src/lib/esign/schemas.ts';

/**
 * The sandbox's public shapes, in one place so every sandbox module (and the callers in
 * tests, the demo and the CLI) agree on them. `index.ts` re-exports them.
 */

/** The endpoint names the sandbox counts calls for and keys its one-shot faults by. */
export type SandboxEndpoint = EsignEndpoint;
export const sandboxEndpoints: readonly SandboxEndpoint[] = [
  'token',
  'create_submission',
  'upload',
  'confirm',
  'get_submission',
];

/** The documented reason codes of an INVALID result (SYSTEM_ERROR belongs to ERROR). */
export type InvalidReason = Exclude<KnownReasonCode, 'SYSTEM_ERROR'>;

/** How a confirmed submission ends; chosen by the NIK's last four digits (scenarios.ts). */
export type ScenarioName =
  | 'completed'
  | 'completed-direct'
  | `invalid-${InvalidReason}`
  | 'invalid-undocumented'
  | 'error'
  | 'stuck';

export type EndpointCounters = Partial<Record<SandboxEndpoint, number>>;

/** The endpoints whose answers are JSON (the ones an answer can be malformed or cut on). */
export type SandboxJsonEndpoint = Exclude<SandboxEndpoint, 'upload'>;
export type JsonEndpointCounters = Partial<Record<SandboxJsonEndpoint, number>>;
/** A hold: the call is taken, kept `ms`, then applied and answered (if the client still listens). */
export interface HoldNext {
  count: number;
  ms: number;
}
export interface HoldRate {
  rate: number;
  ms: number;
}

export interface SandboxFaults {
  /** Added before every API and storage answer. */
  latencyMs: number;
  /** Fraction (0..1) of calls answered `failStatus` `900` GENERIC_SERVICE_ERROR. */
  errorRate: number;
  /** The HTTP status of injected failures (errorRate, failNext); default 500. */
  failStatus: number;
  /** Injected failures answer a text/html gateway page of this many bytes (0: Esign's JSON). */
  failBodyBytes: number;
  /** Fraction (0..1) of calls answered 429 with `Retry-After: retryAfterSeconds`. */
  rateLimitRate: number;
  retryAfterSeconds: number;
  /** Fraction (0..1) of calls never answered (until the client gives up or the sandbox closes). */
  hangRate: number;
  /** Deterministic one-shots: the next n calls of an endpoint fail (`failStatus`). */
  failNext: EndpointCounters;
  /** The next n calls of an endpoint answer 429 with Retry-After. */
  rateLimitNext: EndpointCounters;
  /** The next n calls of an endpoint are never answered. */
  hangNext: EndpointCounters;
  /**
   * The next n calls of an endpoint are carried out, but their answer is never sent (the
   * connection stays open): Esign did the work and the caller never heard.
   */
  loseAnswerNext: EndpointCounters;
  /** The next n answers of an endpoint arrive with every string wrapped in an array. */
  malformNext: JsonEndpointCounters;
  /** The next n answers of an endpoint arrive cut to half their length: not JSON. */
  truncateNext: JsonEndpointCounters;
  /** Every JSON answer carries an undocumented field, top level and in `data` (APIs grow). */
  extraFields: boolean;
  /** What storage answers a good upload: 200 or 204 (both documented). */
  uploadStatus: 200 | 204;
  /**
   * Esign processing a request after the client gave up: the next `count` calls of an
   * endpoint are held `ms` before they are applied, whether or not the client still waits.
   */
  holdNext: Partial<Record<SandboxEndpoint, HoldNext>>;
  /** The same, for a fraction (0..1) of the calls of an endpoint. */
  holdRate: Partial<Record<SandboxEndpoint, HoldRate>>;
  /** The next n created submissions get upload URLs that have already expired. */
  expireUrlsNext: number;
  /** Overrides `tokenTtlSeconds` for tokens issued from now on (0 = born expired); null = no override. */
  tokenTtlSeconds: number | null;
  /** Fraction (0..1) of callbacks never sent. */
  callbackDropRate: number;
  /** Fraction (0..1) of callbacks sent twice. */
  callbackDuplicateRate: number;
  /** Wait before each callback delivery. */
  callbackDelayMs: number;
  /** Deliver COMPLETED before PARTIALLY_COMPLETED. */
  callbackReorder: boolean;
  /** The next n confirmed submissions get no callback at all. */
  dropCallbacksNext: number;
  /** Every callback of the next n confirmed submissions is sent twice. */
  duplicateCallbacksNext: number;
  /** Seed of the PRNG behind the rates; setting it restarts the sequence. */
  seed: number;
}

export interface CallbackTarget {
  url: string;
  method: 'POST' | 'PUT' | 'PATCH';
  auth: { mode: CallbackAuthMode; secret?: string; apiKeyHeader?: string };
}

export interface SandboxOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** 0 = a free port (tests). */
  port?: number;
  /** Base URL put into presigned URLs; default http://host:port. */
  publicUrl?: string;
  clientId: string;
  passKey: string;
  onboardingPartner: string;
  callback?: CallbackTarget;
  /** Default 1800; returned as strings like the real API. */
  tokenTtlSeconds?: number;
  /** Default 432000 (5 days). */
  urlTtlSeconds?: number;
  /** Delay between the steps of asynchronous processing; default 200. */
  processingMs?: number;
  /** Default 6 attempts, 200 ms doubling. */
  callbackRetry?: { attempts: number; baseDelayMs: number };
  faults?: Partial<SandboxFaults>;
  /** Never given PII: the sandbox logs ids, statuses and codes only. */
  logger?: Logger;
}

export interface SubmissionSnapshot {
  submissionId: string;
  userId: string;
  userIdType: string;
  status: string;
  result: string | null;
  reasonCode: string | null;
  scenario: ScenarioName | null;
  uploaded: { KTP: boolean; SELFIE: boolean };
  /** Each document's object key and the SHA-256 (hex) of the bytes stored, null before upload. */
  documents: Record<'KTP' | 'SELFIE', { reference: string; sha256: string | null }>;
  /** Image bytes received for this submission, re-uploads included. */
  bytes: number;
  /**
   * Confirm calls that reached this submission: the accepted one and every later one (refused
   * with 1654 SUBMISSION_ALREADY_CONFIRMED). Above 1, it was confirmed more than once.
   */
  confirmCount: number;
  /** The NIK's digits exactly as they appeared in the confirm body (never logged). */
  nikRaw: string | null;
  /** Whether the confirm body carried the NIK as a JSON number or a string. */
  nikJsonType: 'number' | 'string' | null;
  /** Every x-partner-session-id seen on calls about this submission, in order. */
  sessionIds: string[];
}

export interface CallbackRecord {
  submissionId: string;
  status: string;
  result: string | null;
  attempts: number;
  lastHttpStatus: number | null;
  delivered: boolean;
  /** True when a fault suppressed this callback (never sent). */
  dropped: boolean;
  /** True for the second copy sent by a duplicate fault. */
  duplicate: boolean;
}

export interface LeakRecord {
  /** Header name only; values are never kept. */
  header: string;
  documentReference: string;
}

/** One call as the sandbox received it: names, never secret values. */
export interface RequestRecord {
  endpoint: SandboxEndpoint;
  method: string;
  /** Path and query, as sent. */
  path: string;
  /** Header names, sorted. */
  headers: string[];
  contentType: string | null;
  contentLength: string | null;
  /** Which issued token it presented (1 = the first issued), null for none or an unknown one. */
  token: number | null;
  sessionId: string | null;
  /** The HTTP status answered, "hang" (never answered) or "lost" (done, answer withheld). */
  status: number | 'hang' | 'lost' | null;
}

export interface SandboxSnapshot {
  /**
   * Per endpoint: answers counted by HTTP status; "hang" counts calls never answered, "lost"
   * calls whose answer was withheld, "held" calls a hold fault kept (each also counted by its
   * status once answered, unless its client had gone by then).
   */
  calls: Record<SandboxEndpoint, Record<string, number>>;
  tokensIssued: number;
  submissions: SubmissionSnapshot[];
  /** Every x-partner-session-id received, in arrival order (to check uniqueness). */
  sessionIds: string[];
  leaks: LeakRecord[];
  callbacks: CallbackRecord[];
  /** Storage bytes received in total. */
  uploadBytes: number;
  /** The last 1,000 calls, oldest first. */
  requests: RequestRecord[];
  /** The faults in force now, one-shot counters as remaining. */
  faults: SandboxFaults;
}
