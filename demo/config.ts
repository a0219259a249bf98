import { z } from 'zod';
import { parseSection, positive } from '../src/lib/config.ts';
import { ValidationError } from '../src/lib/errors.ts';

/** `esign-worker demo`: how many synthetic users, how long the run may take, callback drops. */
export const demoSchema = z.object({
  DEMO_COUNT: positive(60),
  DEMO_TIMEOUT_MS: positive(120_000),
  DEMO_CALLBACK_DROP_RATE: z.coerce.number().min(0).max(1).default(0.15),
});
export type DemoConfig = z.infer<typeof demoSchema>;

export function loadDemoConfig(env: Record<string, string | undefined>): DemoConfig {
  const parsed = parseSection(demoSchema, env);
  if (!parsed.ok) throw new ValidationError('The environment', parsed.problems);
  return parsed.data;
}

/**
 * The service settings of a demo (and benchmark) run on the local stack: short, so a dropped
 * callback is found by polling within seconds and a `stuck` submission ends TIMED_OUT instead
 * of after a day.
 */
export const demoServiceEnv: Record<string, string> = {
  ESIGN_PARTNER_USER_ID_TYPE: 'DEMO_USER_ID',
  ESIGN_REQUEST_TIMEOUT_MS: '5000',
  CALLBACK_TIMEOUT_MS: '1500',
  POLL_INTERVAL_MS: '250',
  POLL_MAX_INTERVAL_MS: '1000',
  TIMER_INTERVAL_MS: '100',
  POLL_GIVE_UP_MS: '3000',
  JOB_BACKOFF_MS: '100',
  CONCURRENCY_INITIATE: '8',
  CONCURRENCY_UPLOAD: '8',
  CONCURRENCY_CONFIRM: '8',
  CONCURRENCY_POLL: '4',
};
