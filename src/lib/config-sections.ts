import { z } from 'zod';
import { keyPrefixFor, partitionPrefixes, redisFields, redisTopology } from './redis-topology.ts';

/**
 * What the environment may hold: one zod schema per section of the configuration, with the
 * field helpers they share. Loading and the rules between variables are config.ts's.
 */

export const ms = (fallback: number) => z.coerce.number().int().min(0).default(fallback);
export const positive = (fallback: number) => z.coerce.number().int().min(1).default(fallback);
export const csv = z
  .string()
  .default('')
  .transform((value) =>
    value
      .split(',')
      .map((part) => part.trim())
      .filter(Boolean),
  );
export const httpUrl = z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' });
export const flag = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .default('false')
  .transform((value) => ['true', '1', 'yes'].includes(value));

export const callbackAuthModes = ['none', 'basic', 'bearer', 'api-key'] as const;
export type CallbackAuthMode = (typeof callbackAuthModes)[number];
export const tracesSamplers = [
  'always_on',
  'always_off',
  'traceidratio',
  'parentbased_always_on',
  'parentbased_always_off',
  'parentbased_traceidratio',
] as const;

export const commonSchema = z
  .object({
    ...redisFields,
    /**
     * Every key and queue lives under it. A plain name (`esign`); on Redis Cluster the project
     * wraps it in a hash tag itself (`{esign}`, see keyPrefixFor).
     */
    QUEUE_PREFIX: z
      .string()
      .min(1)
      .regex(/^[^:\s]+$/, 'must not contain ":" or spaces')
      .default('esign'),
    /** Spread registrations over this many key prefixes (shards of a Cluster); 1 = one prefix. */
    QUEUE_PARTITIONS: z.coerce.number().int().min(1).max(256).default(1),
    LOG_LEVEL: z
      .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
      .default('info'),
    SHUTDOWN_TIMEOUT_MS: ms(30_000),
  })
  .transform((common) => {
    const redis = redisTopology(common);
    const keyPrefix = keyPrefixFor(common.QUEUE_PREFIX, redis);
    return {
      ...common,
      redis,
      keyPrefix,
      partitionPrefixes: partitionPrefixes(common.QUEUE_PREFIX, keyPrefix, common.QUEUE_PARTITIONS),
    };
  });

export const esignSchema = z.object({
  ESIGN_TOKEN_URL: httpUrl,
  ESIGN_API_URL: httpUrl,
  ESIGN_CLIENT_ID: z.string().min(1),
  ESIGN_PASS_KEY: z.string().min(1),
  ESIGN_ONBOARDING_PARTNER: z.string().min(1),
  ESIGN_PARTNER_USER_ID_TYPE: z.string().min(1),
  /** How the confirm body writes the NIK: `number` (digits verbatim, as the docs' example) or `string`. */
  ESIGN_NIK_JSON_TYPE: z.enum(['number', 'string']).default('number'),
  ESIGN_CONNECT_TIMEOUT_MS: positive(5_000),
  ESIGN_REQUEST_TIMEOUT_MS: positive(15_000),
  UPLOAD_TIMEOUT_MS: positive(120_000),
  /** Renew the shared partner token once fewer than this many seconds remain (docs: 5 min). */
  TOKEN_REFRESH_MARGIN_SECONDS: z.coerce.number().int().min(0).default(300),
});

export const pipelineSchema = z.object({
  IMAGE_ROOT: z.string().min(1).default(process.cwd()),
  IMAGE_URL_ALLOWED_HOSTS: csv,
  MAX_IMAGE_BYTES: positive(10 * 1024 * 1024),
  /** Allow `http:` image URLs; https only by default (an image is PII in transit). */
  IMAGE_URL_ALLOW_HTTP: flag,
  /**
   * Allow image downloads from loopback, private (RFC 1918), CGNAT and IPv6 ULA addresses:
   * tests and on-premises image servers. Off by default: an allowed name resolving there is SSRF.
   */
  IMAGE_URL_ALLOW_PRIVATE_NETWORKS: flag,
  /** Bound on each read of an image source (file read, URL headers, URL body idle), in ms. */
  IMAGE_READ_TIMEOUT_MS: positive(30_000),
  /** Pixel limits of accepted images: readable documents, no decompression bombs. */
  IMAGE_MIN_WIDTH: positive(100),
  IMAGE_MIN_HEIGHT: positive(100),
  IMAGE_MAX_WIDTH: positive(10_000),
  IMAGE_MAX_HEIGHT: positive(10_000),
  MAX_REINITIATIONS: z.coerce.number().int().min(0).default(2),
  CALLBACK_TIMEOUT_MS: ms(10 * 60_000),
  POLL_INTERVAL_MS: positive(60_000),
  POLL_MAX_INTERVAL_MS: positive(15 * 60_000),
  POLL_GIVE_UP_MS: positive(24 * 60 * 60_000),
  JOB_ATTEMPTS: positive(8),
  JOB_BACKOFF_MS: positive(2_000),
  CONCURRENCY_INITIATE: positive(4),
  CONCURRENCY_UPLOAD: positive(4),
  CONCURRENCY_CONFIRM: positive(4),
  CONCURRENCY_POLL: positive(2),
  CONCURRENCY_COMPLETE: positive(8),
  /**
   * How long a worker's job lock lasts (renewed at half of it). A worker that dies holding a
   * job gives it up this long after its last renewal; the stalled check then retries it.
   */
  LOCK_DURATION_MS: positive(30_000),
  /**
   * How long after a confirm is claimed it may still reach Esign; until then no other run
   * re-checks or re-sends it. Default (see confirmTimings): ESIGN_CONNECT_TIMEOUT_MS +
   * 2 × ESIGN_REQUEST_TIMEOUT_MS.
   */
  CONFIRM_LEASE_MS: z.coerce.number().int().min(0).optional(),
  /**
   * How often each worker looks for unfinished registrations whose step has no live job (Redis
   * lost recent writes) and gives them one (queues/redrive.ts); also once at start. 0 = never.
   */
  REDRIVE_INTERVAL_MS: ms(60_000),
  /**
   * How often each worker wakes the registration timers that are due (fallback polls and
   * deadlines, queues/timers.ts): a poll or deadline starts at most about this late.
   */
  TIMER_INTERVAL_MS: positive(1_000),
  /** A registration is re-driven only once its record has not changed for this long. */
  REDRIVE_AFTER_MS: positive(60_000),
  /** How often each worker looks for jobs whose lock expired (stalled) and requeues them. */
  STALLED_INTERVAL_MS: positive(30_000),
  /** Optional cap on Esign API jobs per second across all workers (0 = no limit). */
  ESIGN_RATE_LIMIT_PER_SECOND: z.coerce.number().int().min(0).default(0),
  /**
   * How long after enqueue a registration ends TIMED_OUT at the latest, whatever its step; its
   * keys in Redis expire some hours after that (docs/data-protection.md). Above POLL_GIVE_UP_MS.
   */
  REGISTRATION_TIMEOUT_MS: positive(48 * 60 * 60_000),
  /** How long a finished registration record is kept (status, idempotent re-enqueue). */
  RECORD_RETENTION_DAYS: z.coerce.number().min(1).default(30),
});

/**
 * Sealing PII at rest (lib/pii-cipher.ts): wanted by every command that stores or opens it
 * (worker, start, enqueue, retry), not by those that only read progress. A key is required
 * unless PII_PLAINTEXT_ALLOWED=true says, explicitly, that plaintext in Redis is acceptable.
 */
export const piiSchema = z.object({
  /** 32 bytes (64 hex characters or base64): the key that seals. */
  PII_ENCRYPTION_KEY: z.string().optional(),
  /** Keys that only open (rotation): comma-separated, each 32 bytes as hex or base64. */
  PII_PREVIOUS_KEYS: csv,
  /** Store PII in plaintext when no key is set; off by default. */
  PII_PLAINTEXT_ALLOWED: flag,
});

/** What a process that only enqueues (or reads status) needs. */
export const producerSchema = z.object({
  ESIGN_PARTNER_USER_ID_TYPE: z.string().min(1),
  /** An enqueue returns only once this many replicas have its writes (WAIT); 0 = none. */
  REDIS_WAIT_REPLICAS: z.coerce.number().int().min(0).default(0),
  /**
   * How long an enqueue waits for WAIT / WAITAOF. At most 3 s: the producer's connection fails
   * a command after 5 s, and the reply must arrive within that.
   */
  REDIS_WAIT_TIMEOUT_MS: z.coerce.number().int().min(1).max(3_000).default(1_000),
});

export const listenerSchema = z.object({
  CALLBACK_HOST: z.string().default('0.0.0.0'),
  CALLBACK_PORT: z.coerce.number().int().min(0).max(65_535).default(8080),
  CALLBACK_PATH: z.string().startsWith('/').default('/callbacks/esign'),
  CALLBACK_METHODS: csv
    .pipe(z.array(z.enum(['POST', 'PUT', 'PATCH'], { error: 'each must be POST, PUT or PATCH' })))
    .transform((methods) => (methods.length > 0 ? methods : ['POST' as const])),
  /** Required: an unauthenticated listener needs CALLBACK_AUTH=none and CALLBACK_ALLOW_INSECURE=true. */
  CALLBACK_AUTH: z.enum(callbackAuthModes, {
    error: (issue) =>
      issue.input === undefined ? 'is required' : `must be one of ${callbackAuthModes.join(', ')}`,
  }),
  CALLBACK_ALLOW_INSECURE: flag,
  CALLBACK_AUTH_SECRET: z.string().optional(),
  /** The secret being rotated out: accepted too while set, so rotation needs no downtime. */
  CALLBACK_AUTH_PREVIOUS_SECRET: z.string().optional(),
  CALLBACK_API_KEY_HEADER: z.string().min(1).default('x-api-key'),
  CALLBACK_ALLOWED_IPS: csv,
  /** Proxies (CIDRs) whose X-Forwarded-For is believed when checking CALLBACK_ALLOWED_IPS. */
  CALLBACK_TRUSTED_PROXIES: csv,
  /** Removed: it believed X-Forwarded-For from anyone. Named, so an old setting fails loudly. */
  CALLBACK_TRUST_PROXY: z
    .undefined({ error: 'is no longer supported: list your proxies in CALLBACK_TRUSTED_PROXIES' })
    .optional(),
  CALLBACK_HEADERS_TIMEOUT_MS: positive(10_000),
  CALLBACK_REQUEST_TIMEOUT_MS: positive(15_000),
  CALLBACK_KEEP_ALIVE_TIMEOUT_MS: positive(5_000),
  CALLBACK_MAX_REQUESTS_PER_SOCKET: positive(100),
  CALLBACK_MAX_CONNECTIONS: positive(1_000),
});

/**
 * The ops endpoints (/metrics, /healthz, /readyz) of every long-running command, on their own
 * port, never the public callback port. Loopback unless told otherwise; the port's default
 * depends on the command (worker and start 9464, listener 9465) so they can share a host.
 */
export const opsSchema = z.object({
  METRICS_HOST: z.string().min(1).default('127.0.0.1'),
  METRICS_PORT: z.coerce.number().int().min(0).max(65_535).optional(),
});

/**
 * The queue UI (`esign-worker ui`): bull-board behind HTTP Basic auth. Loopback by default;
 * credentials are required (no default), and it is read-only unless told otherwise. It needs
 * neither the PII key nor any Esign setting: job data holds no PII.
 */
export const uiSchema = z.object({
  UI_HOST: z.string().min(1).default('127.0.0.1'),
  UI_PORT: z.coerce.number().int().min(0).max(65_535).default(3030),
  UI_USERNAME: z.string().regex(/^[^:]+$/, 'must not contain ":" (HTTP Basic auth)'),
  UI_PASSWORD: z.string().min(1),
  UI_READ_ONLY: flag.default(true),
});

/** Traces: the standard OTEL_* variables; off unless an exporter or endpoint is named. */
const otlpProtocol = z.literal('http/json', { error: 'must be http/json' }).optional();
export const tracingSchema = z.object({
  OTEL_SDK_DISABLED: flag,
  OTEL_TRACES_EXPORTER: z.enum(['otlp', 'console', 'none']).optional(),
  OTEL_EXPORTER_OTLP_ENDPOINT: httpUrl.optional(),
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: httpUrl.optional(),
  OTEL_EXPORTER_OTLP_PROTOCOL: otlpProtocol,
  OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: otlpProtocol,
  /** `key=value,…`; may hold a credential, so never logged. */
  OTEL_EXPORTER_OTLP_HEADERS: z.string().optional(),
  OTEL_EXPORTER_OTLP_TRACES_HEADERS: z.string().optional(),
  OTEL_EXPORTER_OTLP_TIMEOUT: positive(10_000),
  OTEL_SERVICE_NAME: z.string().min(1).optional(),
  OTEL_RESOURCE_ATTRIBUTES: z.string().optional(),
  OTEL_TRACES_SAMPLER: z.enum(tracesSamplers).default('parentbased_always_on'),
  OTEL_TRACES_SAMPLER_ARG: z.coerce.number().min(0).max(1).default(1),
});

export type CommonConfig = z.infer<typeof commonSchema>;
export type EsignConfig = z.infer<typeof esignSchema>;
export type PipelineConfig = z.infer<typeof pipelineSchema>;
export type ProducerConfig = z.infer<typeof producerSchema>;
export type PiiConfig = z.infer<typeof piiSchema>;
export type ListenerConfig = z.infer<typeof listenerSchema>;
export type OpsConfig = z.infer<typeof opsSchema>;
export type UiConfig = z.infer<typeof uiSchema>;
export type TracingConfig = z.infer<typeof tracingSchema>;
