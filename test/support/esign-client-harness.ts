import { randomBytes } from 'node:crypto';
import { createPiiCipher } from '../../src/lib/pii-cipher.ts';
import type { Redis } from 'ioredis';
import type { EsignConfig } from '../../src/lib/config.ts';
import { isWorkerError, type WorkerError } from '../../src/lib/errors.ts';
import { createEsignClient } from '../../src/lib/esign/client.ts';
import type { EsignClient, PartnerUser } from '../../src/lib/esign/types.ts';
import { createLogger } from '../../src/lib/logger.ts';
import { Metrics } from '../../src/lib/metrics.ts';
import type { RequestRecord, Sandbox, SandboxEndpoint } from '../../sandbox/index.ts';
import { cleanPrefix, connect, uniquePrefix } from './redis.ts';
import { credentials, startTestSandbox } from './sandbox-kit.ts';

/**
 * The Esign client against the sandbox over real HTTP, on real Redis (the shared token), with
 * a metrics registry and a logger whose lines are kept. What the client sends is read from the
 * sandbox's request log and inspection; what it gets back is shaped with the sandbox's faults.
 */
export interface ClientHarness {
  sandbox: Sandbox;
  /** The first client; newClient() makes more (all closed by close()). */
  client: EsignClient;
  metrics: Metrics;
  /** Every log line of every client, at trace level. */
  logged: string[];
  newClient(
    overrides?: Partial<EsignConfig>,
    extra?: { redis?: Redis; now?: () => number },
  ): EsignClient;
  /** Close the current client and make `client` a new one with these config overrides. */
  replaceClient(overrides?: Partial<EsignConfig>): Promise<EsignClient>;
  /** The calls the sandbox received, of one endpoint or all. */
  requests(endpoint?: SandboxEndpoint): RequestRecord[];
  /** esign_worker_esign_requests_total for one endpoint and status class. */
  counted(endpoint: string, statusClass: string): Promise<number>;
  close(): Promise<void>;
}

export const user: PartnerUser = { userId: 'user-12345', userIdType: 'CLIENT_X_USER_ID' };

export async function startClientHarness(): Promise<ClientHarness> {
  const sandbox = await startTestSandbox();
  const prefix = uniquePrefix('client');
  const redis = connect();
  const logged: string[] = [];
  const logger = createLogger({
    level: 'trace',
    destination: { write: (line: string) => logged.push(line) },
  });
  const metrics = new Metrics({ defaultMetrics: false });
  const clients: EsignClient[] = [];
  // One key for the harness, so every client of it opens the token the others cached.
  const testCipher = createPiiCipher({ key: randomBytes(32) });

  const newClient: ClientHarness['newClient'] = (overrides = {}, extra = {}) => {
    const client = createEsignClient({
      config: {
        ESIGN_TOKEN_URL: sandbox.url,
        ESIGN_API_URL: sandbox.url,
        ESIGN_CLIENT_ID: credentials.clientId,
        ESIGN_PASS_KEY: credentials.passKey,
        ESIGN_ONBOARDING_PARTNER: credentials.onboardingPartner,
        ESIGN_PARTNER_USER_ID_TYPE: user.userIdType,
        ESIGN_NIK_JSON_TYPE: 'number',
        ESIGN_CONNECT_TIMEOUT_MS: 1_000,
        ESIGN_REQUEST_TIMEOUT_MS: 5_000,
        UPLOAD_TIMEOUT_MS: 5_000,
        TOKEN_REFRESH_MARGIN_SECONDS: 300,
        ...overrides,
      },
      redis: extra.redis ?? redis,
      keyPrefix: prefix,
      cipher: testCipher,
      logger,
      metrics,
      now: extra.now,
    });
    clients.push(client);
    return client;
  };

  const harness: ClientHarness = {
    sandbox,
    client: newClient(),
    metrics,
    logged,
    newClient,
    async replaceClient(overrides) {
      const replaced = harness.client;
      clients.splice(clients.indexOf(replaced), 1);
      await replaced.close();
      harness.client = newClient(overrides);
      return harness.client;
    },
    requests: (endpoint) =>
      sandbox.inspect().requests.filter((r) => endpoint === undefined || r.endpoint === endpoint),
    async counted(endpoint, statusClass) {
      const values = (await metrics.esignRequests.get()).values;
      const found = values.find(
        (v) => v.labels.endpoint === endpoint && v.labels.status_class === statusClass,
      );
      return found?.value ?? 0;
    },
    async close() {
      await Promise.all(clients.map((client) => client.close()));
      await sandbox.close();
      await cleanPrefix(redis, prefix);
      redis.disconnect();
    },
  };
  return harness;
}

/** The WorkerError a promise rejects with; fails the test if it resolves or throws else. */
export async function failure(promise: Promise<unknown>): Promise<WorkerError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!isWorkerError(error)) throw new Error(`expected a WorkerError, got ${String(error)}`);
  return error;
}
