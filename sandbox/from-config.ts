import type { SandboxConfig } from './config.ts';
import { ValidationError } from '../src/lib/errors.ts';
import { sandboxFaultsSchema } from './faults.ts';
import type { SandboxFaults, SandboxOptions } from './types.ts';

/**
 * The SANDBOX_* environment section → startSandbox options. SANDBOX_FAULTS is JSON checked
 * against the same schema as `PUT /__sandbox/faults`; a bad field is named, never echoed.
 */
export function sandboxOptionsFromConfig(config: SandboxConfig): SandboxOptions {
  const options: SandboxOptions = {
    host: config.SANDBOX_HOST,
    port: config.SANDBOX_PORT,
    clientId: config.SANDBOX_CLIENT_ID,
    passKey: config.SANDBOX_PASS_KEY,
    onboardingPartner: config.SANDBOX_ONBOARDING_PARTNER,
    tokenTtlSeconds: config.SANDBOX_TOKEN_TTL_SECONDS,
    urlTtlSeconds: config.SANDBOX_URL_TTL_SECONDS,
    processingMs: config.SANDBOX_PROCESSING_MS,
    faults: parseFaults(config.SANDBOX_FAULTS),
  };
  if (config.SANDBOX_PUBLIC_URL) options.publicUrl = config.SANDBOX_PUBLIC_URL;
  if (config.SANDBOX_CALLBACK_URL) {
    options.callback = {
      url: config.SANDBOX_CALLBACK_URL,
      method: config.SANDBOX_CALLBACK_METHOD,
      auth: {
        mode: config.SANDBOX_CALLBACK_AUTH,
        apiKeyHeader: config.SANDBOX_CALLBACK_API_KEY_HEADER,
        ...(config.SANDBOX_CALLBACK_SECRET ? { secret: config.SANDBOX_CALLBACK_SECRET } : {}),
      },
    };
  }
  return options;
}

export function parseFaults(text: string): Partial<SandboxFaults> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new ValidationError('SANDBOX_FAULTS', ['SANDBOX_FAULTS: must be a JSON object']);
  }
  const parsed = sandboxFaultsSchema.safeParse(json);
  if (!parsed.success)
    throw new ValidationError(
      'SANDBOX_FAULTS',
      parsed.error.issues.map((issue) =>
        [['SANDBOX_FAULTS', ...issue.path.map(String)].join('.'), issue.message].join(': '),
      ),
    );
  return parsed.data;
}
