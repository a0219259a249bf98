import { z } from 'zod';
import { ValidationError } from './errors.ts';
import { redisCrossCheck } from './redis-topology.ts';

import {
  commonSchema,
  esignSchema,
  listenerSchema,
  opsSchema,
  piiSchema,
  pipelineSchema,
  producerSchema,
  tracingSchema,
  uiSchema,
  type EsignConfig,
  type PiiConfig,
  type PipelineConfig,
} from './config-sections.ts';

export * from './config-sections.ts';

/**
 * The environment, loaded: the sections (config-sections.ts) a command needs, and the rules
 * between variables. `main.ts` is the only caller of `loadConfig`; everything else receives
 * the parsed, typed values. A missing or wrong variable fails at start with a message naming
 * it (values are never echoed: some are secrets).
 */

const sections = {
  common: commonSchema,
  esign: esignSchema,
  pipeline: pipelineSchema,
  producer: producerSchema,
  pii: piiSchema,
  listener: listenerSchema,
  ops: opsSchema,
  ui: uiSchema,
  tracing: tracingSchema,
} as const;
type Section = keyof typeof sections;
export type Config<S extends Section> = { [K in S]: z.infer<(typeof sections)[K]> };

/**
 * Parse the sections a command needs. Throws a ValidationError listing every bad variable
 * by name ("ESIGN_API_URL: must be an http(s) URL"), never its value.
 */
export function loadConfig<S extends Section>(
  env: Record<string, string | undefined>,
  wanted: readonly S[],
): Config<S> {
  const problems: string[] = [];
  const result: Partial<Record<Section, unknown>> = {};
  for (const name of wanted) {
    const parsed = parseSection(sections[name], env);
    if (parsed.ok) result[name] = parsed.data;
    else problems.push(...parsed.problems);
  }
  problems.push(...crossCheck(emptyToUndefined(env), wanted));
  if (problems.length > 0) throw new ValidationError('The environment', problems);
  return result as Config<S>;
}

/**
 * One schema against the environment: the data, or one line per bad variable naming it and
 * never echoing its value. Tools outside src/ (sandbox, demo) parse their own sections with it.
 */
export function parseSection<T extends z.ZodType>(
  schema: T,
  env: Record<string, string | undefined>,
): { ok: true; data: z.infer<T> } | { ok: false; problems: string[] } {
  const values = emptyToUndefined(env);
  const parsed = schema.safeParse(values);
  if (parsed.success) return { ok: true, data: parsed.data };
  return {
    ok: false,
    problems: parsed.error.issues.map((issue) => {
      const variable = issue.path.map(String).join('.');
      // zod does not report the input (it may be a secret): look at the variable instead.
      const missing = issue.code === 'invalid_type' && values[variable] === undefined;
      return `${variable}: ${missing ? 'is required' : issue.message}`;
    }),
  };
}

function emptyToUndefined(
  env: Record<string, string | undefined>,
): Record<string, string | undefined> {
  return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, v === '' ? undefined : v]));
}

/**
 * Rules between variables. They read the raw values, not the parsed sections, so they are
 * listed together with every other problem even when a section has errors of its own.
 */
function crossCheck(env: Record<string, string | undefined>, wanted: readonly Section[]): string[] {
  const problems: string[] = wanted.includes('common') ? redisCrossCheck(env) : [];
  const truthy = (value: string | undefined) => ['true', '1', 'yes'].includes(value ?? '');
  if (wanted.includes('listener')) {
    const auth = env.CALLBACK_AUTH;
    if (auth === 'none' && !truthy(env.CALLBACK_ALLOW_INSECURE))
      problems.push(
        'CALLBACK_AUTH: none accepts forged results from anyone; it needs CALLBACK_ALLOW_INSECURE=true too',
      );
    if (auth !== undefined && auth !== 'none' && !env.CALLBACK_AUTH_SECRET)
      problems.push(`CALLBACK_AUTH_SECRET: is required when CALLBACK_AUTH=${auth}`);
    for (const name of ['CALLBACK_AUTH_SECRET', 'CALLBACK_AUTH_PREVIOUS_SECRET'] as const)
      if (auth === 'basic' && env[name] && !env[name].includes(':'))
        problems.push(`${name}: must be user:password when CALLBACK_AUTH=basic`);
  }
  if (wanted.includes('pipeline'))
    for (const axis of ['WIDTH', 'HEIGHT'] as const) {
      const min = Number(env[`IMAGE_MIN_${axis}`] ?? Number.NaN);
      const max = Number(env[`IMAGE_MAX_${axis}`] ?? Number.NaN);
      if (min > max) problems.push(`IMAGE_MIN_${axis}: must not be above IMAGE_MAX_${axis}`);
    }
  if (wanted.includes('pipeline')) {
    const timeout = Number(env.REGISTRATION_TIMEOUT_MS ?? 48 * 60 * 60_000);
    const giveUp = Number(env.POLL_GIVE_UP_MS ?? 24 * 60 * 60_000);
    if (timeout <= giveUp) problems.push('REGISTRATION_TIMEOUT_MS: must be above POLL_GIVE_UP_MS');
  }
  if (wanted.includes('pii')) problems.push(...piiProblems(env));
  return problems;
}

function piiProblems(env: Record<string, string | undefined>): string[] {
  const problems: string[] = [];
  const key = env.PII_ENCRYPTION_KEY;
  if (key === undefined && !['true', '1', 'yes'].includes(env.PII_PLAINTEXT_ALLOWED ?? ''))
    problems.push(
      'PII_ENCRYPTION_KEY: is required (32 bytes, hex or base64): PII is stored encrypted; ' +
        'set PII_PLAINTEXT_ALLOWED=true to store it in plaintext instead',
    );
  if (key !== undefined && decodeKey(key) === undefined)
    problems.push('PII_ENCRYPTION_KEY: must be 32 bytes, as 64 hex characters or base64');
  const previous = (env.PII_PREVIOUS_KEYS ?? '').split(',').map((part) => part.trim());
  if (previous.some((part) => part !== '' && decodeKey(part) === undefined))
    problems.push('PII_PREVIOUS_KEYS: each key must be 32 bytes, as 64 hex characters or base64');
  return problems;
}

/** The cipher's keys from a parsed `pii` section (validated by loadConfig). */
export function piiKeys(pii: PiiConfig): {
  key: Buffer | undefined;
  previousKeys: Buffer[];
  plaintextAllowed: boolean;
} {
  const decode = (text: string) => {
    const key = decodeKey(text);
    if (!key) throw new Error('a PII key is not 32 bytes');
    return key;
  };
  return {
    key: pii.PII_ENCRYPTION_KEY === undefined ? undefined : decode(pii.PII_ENCRYPTION_KEY),
    previousKeys: pii.PII_PREVIOUS_KEYS.map(decode),
    plaintextAllowed: pii.PII_PLAINTEXT_ALLOWED,
  };
}

/** A 32-byte key from hex or base64, or undefined when it is neither. */
export function decodeKey(text: string): Buffer | undefined {
  const key = /^[0-9a-f]{64}$/i.test(text) ? Buffer.from(text, 'hex') : Buffer.from(text, 'base64');
  return key.length === 32 ? key : undefined;
}

/**
 * The confirm's two clocks, both counted from the claim. The call (a token renewal included)
 * is abandoned after `callMs` = connect + request timeout: a native timer, exact, unlike
 * undici's own headers timeout, which fires up to a second late. The lease lasts that plus
 * one more request timeout, a margin for a request Esign (or a proxy on the way) still holds
 * and applies after we gave up on it. Until the lease ends, no run sends the confirm again.
 */
export function confirmTimings(
  esign: Pick<EsignConfig, 'ESIGN_CONNECT_TIMEOUT_MS' | 'ESIGN_REQUEST_TIMEOUT_MS'>,
  pipeline: Pick<PipelineConfig, 'CONFIRM_LEASE_MS'>,
): { confirmCallMs: number; confirmLeaseMs: number } {
  const confirmCallMs = esign.ESIGN_CONNECT_TIMEOUT_MS + esign.ESIGN_REQUEST_TIMEOUT_MS;
  return {
    confirmCallMs,
    confirmLeaseMs: pipeline.CONFIRM_LEASE_MS ?? confirmCallMs + esign.ESIGN_REQUEST_TIMEOUT_MS,
  };
}
