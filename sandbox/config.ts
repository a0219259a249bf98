import { z } from 'zod';
import { callbackAuthModes, httpUrl, ms, parseSection, positive } from '../src/lib/config.ts';
import { ValidationError } from '../src/lib/errors.ts';

/** `esign-worker sandbox`: the simulator's own SANDBOX_* variables (not part of the product). */
export const sandboxSchema = z.object({
  SANDBOX_HOST: z.string().default('127.0.0.1'),
  SANDBOX_PORT: z.coerce.number().int().min(0).max(65_535).default(8090),
  SANDBOX_PUBLIC_URL: httpUrl.optional(),
  SANDBOX_CLIENT_ID: z.string().min(1).default('sandbox-client'),
  SANDBOX_PASS_KEY: z.string().min(1).default('sandbox-pass-key'),
  SANDBOX_ONBOARDING_PARTNER: z.string().min(1).default('SANDBOX-BE-CERT_REG'),
  SANDBOX_CALLBACK_URL: httpUrl.optional(),
  SANDBOX_CALLBACK_METHOD: z.enum(['POST', 'PUT', 'PATCH']).default('POST'),
  SANDBOX_CALLBACK_AUTH: z.enum(callbackAuthModes).default('none'),
  SANDBOX_CALLBACK_SECRET: z.string().optional(),
  SANDBOX_CALLBACK_API_KEY_HEADER: z.string().min(1).default('x-api-key'),
  SANDBOX_TOKEN_TTL_SECONDS: positive(1800),
  SANDBOX_URL_TTL_SECONDS: positive(432_000),
  SANDBOX_PROCESSING_MS: ms(200),
  /** Fault injection at start, as JSON (see docs/sandbox.md). */
  SANDBOX_FAULTS: z.string().default('{}'),
});
export type SandboxConfig = z.infer<typeof sandboxSchema>;

/** Parse SANDBOX_*; throws a ValidationError naming every bad variable. */
export function loadSandboxConfig(env: Record<string, string | undefined>): SandboxConfig {
  const parsed = parseSection(sandboxSchema, env);
  const problems = parsed.ok ? [] : parsed.problems;
  if (
    parsed.ok &&
    parsed.data.SANDBOX_CALLBACK_AUTH !== 'none' &&
    !parsed.data.SANDBOX_CALLBACK_SECRET
  )
    problems.push(
      `SANDBOX_CALLBACK_SECRET: is required when SANDBOX_CALLBACK_AUTH=${parsed.data.SANDBOX_CALLBACK_AUTH}`,
    );
  if (!parsed.ok || problems.length > 0) throw new ValidationError('The environment', problems);
  return parsed.data;
}
