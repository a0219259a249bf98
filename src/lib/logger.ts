import { pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino';

export type { Logger } from 'pino';

/**
 * Keys whose values are PII or secrets, compared case-insensitively with `-` and `_`
 * removed. They are replaced by "[redacted]" at any depth of a logged object, not only at
 * the paths we thought of: a partner response or an error cause logged whole stays safe.
 */
const sensitiveKeys = new Set(
  [
    'token',
    'x-onekyc-token',
    'client-id',
    'clientId',
    'pass-key',
    'passKey',
    'authorization',
    'password',
    'secret',
    'nik',
    'name',
    'fullName',
    'dateOfBirth',
    'dob',
    'email',
    'phone',
    'phoneNumber',
    'ip',
    'userIp',
    'remoteAddress',
    'x-forwarded-for',
    'userAgent',
    'user-agent',
    'deviceDetails',
    'uniqueId',
    'verificationReferenceId',
    'base64',
    'documentUrl',
    'cookie',
  ].map(normalise),
);

function normalise(key: string): string {
  return key.toLowerCase().replace(/[-_]/g, '');
}

/**
 * Every logged key is checked, on every line: the verdicts are remembered (the keys are the
 * code's own field names, and a partner's or an error's; bounded all the same).
 */
const verdicts = new Map<string, boolean>();
const MAX_VERDICTS = 10_000;

export function isSensitiveKey(key: string): boolean {
  let sensitive = verdicts.get(key);
  if (sensitive === undefined) {
    sensitive = sensitiveKeys.has(normalise(key));
    if (verdicts.size < MAX_VERDICTS) verdicts.set(key, sensitive);
  }
  return sensitive;
}

/** A deep copy of `value` with every sensitive key's value replaced. Cycles are cut. */
export function redactDeep(value: unknown, seen = new WeakSet<object>()): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (seen.has(value)) return '[circular]';
  seen.add(value);
  if (Array.isArray(value)) return value.map((item) => redactDeep(item, seen));
  if (value instanceof Error) return redactDeep(serialiseError(value), seen);
  const out: Record<string, unknown> = {};
  for (const [key, inner] of Object.entries(value)) {
    out[key] = isSensitiveKey(key) ? '[redacted]' : redactDeep(inner, seen);
  }
  return out;
}

function serialiseError(error: Error): Record<string, unknown> {
  const json = (error as { toJSON?: () => Record<string, unknown> }).toJSON?.();
  return { type: error.name, message: error.message, stack: error.stack, ...json };
}

export interface LoggerSettings {
  level: string;
  /** Where lines go; stdout when absent. Tests pass a stream to read what was logged. */
  destination?: DestinationStream;
  base?: Record<string, unknown>;
}

export function createLogger(settings: LoggerSettings): Logger {
  const options: LoggerOptions = {
    level: settings.level,
    base: settings.base ?? { service: 'esign-worker' },
    timestamp: pino.stdTimeFunctions.isoTime,
    serializers: { err: (error: unknown) => redactDeep(error) },
    formatters: { log: (object) => redactDeep(object) as Record<string, unknown> },
  };
  return settings.destination ? pino(options, settings.destination) : pino(options);
}

/** A logger that drops everything, for library callers that pass none. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
