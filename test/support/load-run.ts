import { setTimeout as sleep } from 'node:timers/promises';
import { waitUntil } from '../../demo/child-process.ts';
import { startLocalStack, type LocalStack } from '../../demo/local-stack.ts';
import { createUsers, scenarioFor, type DemoUser } from '../../demo/users.ts';
import { callbackSecret, sandboxCredentials } from './stack.ts';
import { uniquePrefix } from './redis.ts';

/**
 * Hundreds of registrations through two `esign-worker worker` child processes while the test
 * does something to Redis (a rolled-back AOF, a killed master): the stack, its users (one
 * scenario each, so each has a predicted outcome) and a steady enqueue that retries what
 * Redis refuses with the same registrationId, as the docs tell a producer to.
 */

/** Timings that let a run recover in seconds: lost callbacks polled, lost jobs re-driven. */
export const recoveryTimings: Record<string, string> = {
  ESIGN_PARTNER_USER_ID_TYPE: 'E2E_USER_ID',
  ESIGN_REQUEST_TIMEOUT_MS: '3000',
  // A lost callback (Redis down when Esign called) is made up by the poll, soon.
  CALLBACK_TIMEOUT_MS: '2000',
  POLL_INTERVAL_MS: '300',
  POLL_MAX_INTERVAL_MS: '1000',
  TIMER_INTERVAL_MS: '100',
  JOB_BACKOFF_MS: '100',
  JOB_ATTEMPTS: '20',
  CONFIRM_LEASE_MS: '4000',
  // A job whose worker lost it is retried within seconds.
  LOCK_DURATION_MS: '5000',
  STALLED_INTERVAL_MS: '1000',
  REDRIVE_INTERVAL_MS: '500',
  REDRIVE_AFTER_MS: '3000',
  CONCURRENCY_INITIATE: '8',
  CONCURRENCY_UPLOAD: '8',
  CONCURRENCY_CONFIRM: '8',
  CONCURRENCY_POLL: '8',
};

export interface LoadRun {
  stack: LocalStack;
  users: DemoUser[];
  /** When each registration's enqueue returned (was acknowledged), by registrationId. */
  ackedAt: Map<string, number>;
  /**
   * When the enqueue call that was acknowledged began: its writes reached Redis between this
   * and `ackedAt` (a loaded event loop can see the answer late, after a crash that followed it).
   */
  calledAt: Map<string, number>;
  /** Resolves once every user is enqueued. */
  enqueued: Promise<void>;
  workers: ReturnType<LocalStack['startProcess']>[];
}

export async function startLoadRun(options: {
  label: string;
  count: number;
  /** The Redis: a URL, or topology variables in `env`. */
  redisUrl?: string;
  env?: Record<string, string>;
  onStack?: (stack: LocalStack) => void;
}): Promise<LoadRun> {
  const stack = await startLocalStack({
    ...(options.redisUrl === undefined ? {} : { redisUrl: options.redisUrl }),
    prefix: uniquePrefix(options.label),
    credentials: sandboxCredentials,
    callbackSecret,
    worker: 'none',
    env: { ...recoveryTimings, ...options.env },
    sandbox: { processingMs: 300, callbackRetry: { attempts: 5, baseDelayMs: 100 } },
  });
  options.onStack?.(stack);
  const workers = [1, 2].map(() => stack.startProcess('worker', { LOG_LEVEL: 'info' }));
  await Promise.all(workers.map((w) => w.waitForLog('worker ready', 60_000)));

  const scenarios = Array.from({ length: options.count }, (_, i) => scenarioFor(i)).map((s) =>
    s === 'stuck' ? 'completed' : s,
  );
  const users = await createUsers(scenarios, stack.imageRoot);
  const ackedAt = new Map<string, number>();
  const calledAt = new Map<string, number>();
  const enqueued = (async () => {
    for (const user of users) {
      for (;;) {
        const called = Date.now();
        try {
          await stack.producer.enqueueRegistration(user.request);
          ackedAt.set(user.request.registrationId, Date.now());
          calledAt.set(user.request.registrationId, called);
          break;
        } catch {
          await sleep(100);
        }
      }
      await sleep(15);
    }
  })();
  return { stack, users, ackedAt, calledAt, enqueued, workers };
}

/** Once `fraction` of the users are acknowledged. */
export function untilAcknowledged(run: LoadRun, fraction: number): Promise<void> {
  return waitUntil(() => run.ackedAt.size >= run.users.length * fraction, {
    timeoutMs: 60_000,
    what: `${Math.round(fraction * 100)}% of the registrations enqueued`,
  });
}
