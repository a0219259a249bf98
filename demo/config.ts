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
