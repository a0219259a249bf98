import { Writable } from 'node:stream';
import { listenerSchema, type ListenerConfig } from '../../src/lib/config.ts';
import type { SubmissionState } from '../../src/lib/esign/schemas.ts';
import { createLogger, type Logger } from '../../src/lib/logger.ts';
import { Metrics } from '../../src/lib/metrics.ts';
import {
  createCallbackListener,
  type CallbackListenerTimeouts,
} from '../../src/lib/http/server.ts';
import type { HttpApp } from '../../src/lib/http/http-app.ts';
import type { CallbackSink, SinkOutcome } from '../../src/lib/http/sink.ts';

/**
 * A CallbackSink for listener tests (the interface is ours; the Redis-backed one is tested
 * end to end by the pipeline). It records what it was given and answers as told.
 */
export class RecordingSink implements CallbackSink {
  readonly calls: SubmissionState[] = [];
  /** What accept() does next: answer an outcome, throw (Redis down), or wait for release(). */
  mode: SinkOutcome | 'throw' | 'hold' = 'accepted';
  private held: (() => void)[] = [];

  async accept(state: SubmissionState): Promise<SinkOutcome> {
    this.calls.push(state);
    if (this.mode === 'throw') throw new Error('Connection is closed.');
    if (this.mode === 'hold') {
      await new Promise<void>((resolve) => this.held.push(resolve));
      return 'accepted';
    }
    return this.mode;
  }

  /** Let every held accept() answer. */
  release(): void {
    for (const resolve of this.held.splice(0)) resolve();
  }
}

/**
 * The listener's settings for a test. Without CALLBACK_AUTH the test opts out of
 * authentication explicitly, as a user must (the auth tests set their own).
 */
export function listenerConfig(env: Record<string, string> = {}): ListenerConfig {
  const insecure = env.CALLBACK_AUTH
    ? {}
    : { CALLBACK_AUTH: 'none', CALLBACK_ALLOW_INSECURE: 'true' };
  return listenerSchema.parse({ CALLBACK_PATH: '/callbacks/esign', ...insecure, ...env });
}

/** A logger whose lines the test can read. */
export function capturingLogger(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  return { logger: createLogger({ level: 'debug', destination }), lines };
}

export interface StartedListener {
  app: HttpApp;
  url: string;
  callbackUrl: string;
  sink: RecordingSink;
  metrics: Metrics;
  logLines: string[];
}

/** A callback listener on an ephemeral port. Close it with `app.close()`. */
export async function startListener(
  env: Record<string, string> = {},
  options: { host?: string; timeouts?: CallbackListenerTimeouts } = {},
): Promise<StartedListener> {
  const config = listenerConfig(env);
  const sink = new RecordingSink();
  const metrics = new Metrics({ defaultMetrics: false });
  const { logger, lines } = capturingLogger();
  const app = createCallbackListener({ config, sink, metrics, logger, timeouts: options.timeouts });
  const { url } = await app.listen(0, options.host ?? '127.0.0.1');
  return { app, url, callbackUrl: `${url}${config.CALLBACK_PATH}`, sink, metrics, logLines: lines };
}

/** The value of esign_worker_callbacks_total for one outcome (0 when never counted). */
export async function callbackCount(metrics: Metrics, outcome: string): Promise<number> {
  const text = await metrics.text();
  const line = text
    .split('\n')
    .find((l) => l.startsWith(`esign_worker_callbacks_total{outcome="${outcome}"}`));
  return line ? Number(line.split(' ').at(-1)) : 0;
}

/** A realistic CERT_REG callback body (docs §7, "Completed"). */
export function completedCallback(
  overrides: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    submissionId: '8a0aef3d-0e27-4a7e-a4ba-2e1b97bcb00c',
    userId: 'user-12345',
    userIdType: 'CLIENT_X_USER_ID',
    partnerSessionId: 'session-abc-001',
    status: 'COMPLETED',
    result: 'VALID',
    processedAt: '2026-05-08T10:30:00Z',
    submissionDetails: {
      verificationResult: { nik: 'PASS', name: 'PASS', dateOfBirth: 'PASS', selfie: 'PASS' },
      registrationId: '6dab7f08-0dcb-4852-8459-59cb7c25f4dc',
      eligibleToActivate: false,
      onboardingCode: 'NEW_USER',
      shouldSkipActivation: true,
    },
    ...overrides,
  };
}

/** POST (or another method) a JSON callback with extra headers. */
export function postJson(
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
  method = 'POST',
): Promise<Response> {
  return fetch(url, {
    method,
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
}
