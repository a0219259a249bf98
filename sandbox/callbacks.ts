import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, request } from 'undici';
import type { Logger } from '../src/lib/logger.ts';
import type { FaultState } from './faults.ts';
import type { SubmissionStateBody } from './submissions.ts';
import type { CallbackRecord, CallbackTarget } from './types.ts';

/**
 * Delivery of result callbacks to the partner: the configured method and auth, exactly 200
 * counts as delivered (esign-api.md §7: "any non-200 counts as an error"), anything else is
 * retried with exponential backoff. A submission's callbacks leave in order, one at a time,
 * unless a fault reorders or duplicates them.
 */

const attemptTimeoutMs = 5_000;

export interface CallbackRetry {
  attempts: number;
  baseDelayMs: number;
}

export function authHeaders(auth: CallbackTarget['auth']): Record<string, string> {
  switch (auth.mode) {
    case 'none':
      return {};
    case 'basic':
      return { authorization: `Basic ${Buffer.from(auth.secret ?? '').toString('base64')}` };
    case 'bearer':
      return { authorization: `Bearer ${auth.secret ?? ''}` };
    case 'api-key':
      return { [(auth.apiKeyHeader ?? 'x-api-key').toLowerCase()]: auth.secret ?? '' };
  }
}

export class CallbackSender {
  readonly records: CallbackRecord[] = [];
  private readonly chains = new Map<string, Promise<void>>();
  private readonly abort = new AbortController();
  private readonly agent = new Agent({ keepAliveTimeout: 1_000 });
  private readonly target: CallbackTarget | undefined;
  private readonly retry: CallbackRetry;
  private readonly faults: FaultState;
  private readonly logger: Logger;

  constructor(
    target: CallbackTarget | undefined,
    retry: CallbackRetry,
    faults: FaultState,
    logger: Logger,
  ) {
    this.target = target;
    this.retry = retry;
    this.faults = faults;
    this.logger = logger;
  }

  get enabled(): boolean {
    return this.target !== undefined;
  }

  /**
   * Queue one callback (or, with `duplicate`, two copies). `dropped` records it as never
   * sent, so tests can see what a fault suppressed.
   */
  enqueue(body: SubmissionStateBody, options: { dropped: boolean; duplicate: boolean }): void {
    if (!this.target || this.abort.signal.aborted) return;
    const dropped = options.dropped || this.faults.dropThisCallback();
    const copies = !dropped && (options.duplicate || this.faults.duplicateThisCallback()) ? 2 : 1;
    for (let copy = 0; copy < copies; copy += 1) {
      const record: CallbackRecord = {
        submissionId: body.submissionId,
        status: body.status,
        result: body.result ?? null,
        attempts: 0,
        lastHttpStatus: null,
        delivered: false,
        dropped,
        duplicate: copy > 0,
      };
      this.records.push(record);
      if (dropped) continue;
      const previous = this.chains.get(body.submissionId) ?? Promise.resolve();
      const next = previous.then(() => this.deliver(body, record));
      this.chains.set(body.submissionId, next);
    }
  }

  /** Stops every pending delivery and backoff at once. */
  async close(): Promise<void> {
    this.abort.abort();
    await Promise.allSettled(this.chains.values());
    await this.agent.destroy();
  }

  private async deliver(body: SubmissionStateBody, record: CallbackRecord): Promise<void> {
    const target = this.target;
    if (!target) return;
    const signal = this.abort.signal;
    try {
      if (this.faults.callbackDelayMs > 0)
        await sleep(this.faults.callbackDelayMs, undefined, { signal });
      const payload = JSON.stringify(body);
      for (let attempt = 1; attempt <= this.retry.attempts; attempt += 1) {
        record.attempts = attempt;
        const status = await this.attempt(target, payload, signal);
        record.lastHttpStatus = status;
        if (status === 200) {
          record.delivered = true;
          this.logger.debug(
            { submissionId: body.submissionId, status: body.status, attempt },
            'sandbox callback delivered',
          );
          return;
        }
        this.logger.debug(
          { submissionId: body.submissionId, status: body.status, attempt, httpStatus: status },
          'sandbox callback not accepted',
        );
        if (attempt < this.retry.attempts)
          await sleep(this.retry.baseDelayMs * 2 ** (attempt - 1), undefined, { signal });
      }
      this.logger.warn(
        { submissionId: body.submissionId, status: body.status, attempts: record.attempts },
        'sandbox callback gave up',
      );
    } catch (error) {
      if (!signal.aborted) throw error;
    }
  }

  /** One delivery attempt: the HTTP status, or null for a network error or timeout. */
  private async attempt(
    target: CallbackTarget,
    payload: string,
    signal: AbortSignal,
  ): Promise<number | null> {
    try {
      const response = await request(target.url, {
        method: target.method,
        dispatcher: this.agent,
        headers: { 'content-type': 'application/json', ...authHeaders(target.auth) },
        body: payload,
        signal,
        headersTimeout: attemptTimeoutMs,
        bodyTimeout: attemptTimeoutMs,
      });
      await response.body.dump();
      return response.statusCode;
    } catch (error) {
      if (signal.aborted) throw error;
      return null;
    }
  }
}
