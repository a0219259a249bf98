import { once } from 'node:events';
import {
  createServer,
  type IncomingHttpHeaders,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Redis } from 'ioredis';
import type { EsignConfig } from '../../src/lib/config.ts';
import { isWorkerError, type WorkerError } from '../../src/lib/errors.ts';
import { createEsignClient } from '../../src/lib/esign/client.ts';
import type { EsignClient, PartnerUser } from '../../src/lib/esign/types.ts';
import { createLogger } from '../../src/lib/logger.ts';
import { Metrics } from '../../src/lib/metrics.ts';
import { cleanPrefix, connect, uniquePrefix } from './redis.ts';

/**
 * A tiny node:http server standing in for Esign (token host under `/tokenhost`, everything
 * else answered by a handler the test sets), plus an Esign client wired to it, real Redis,
 * a metrics registry and a logger whose lines are kept. For the client's HTTP-level tests,
 * where the test must control every status, header and byte.
 */

export interface Seen {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  raw: Buffer;
}
export type Handler = (seen: Seen, res: ServerResponse) => void;

export const user: PartnerUser = { userId: 'user-12345', userIdType: 'CLIENT_X_USER_ID' };
/** Prefix of every token the fake issues: `${secretToken}-1`, `-2`, … */
export const secretToken = 'eyJ-secret-token-value';

export function json(res: ServerResponse, status: number, body: unknown, headers = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

export const submissionBody = {
  success: true,
  data: {
    submissionId: 'sub-1',
    status: 'INITIATED',
    extraField: 'ignored',
    documents: {
      KTP: {
        documentUrl: 'http://storage/ktp?sig=x',
        documentReference: 'a_KTP',
        expiryInSeconds: '432000',
      },
      SELFIE: {
        documentUrl: 'http://storage/s?sig=y',
        documentReference: 'b_SELFIE',
        expiryInSeconds: 432000,
      },
    },
  },
};

export interface FakePartner {
  base: string;
  /** Every request received, token calls included. */
  seen: Seen[];
  /** Answers every non-token request; default 500. */
  handler: Handler;
  tokensIssued: number;
  metrics: Metrics;
  logged: string[];
  client: EsignClient;
  /** Close the current client and make a new one with these config overrides. */
  replaceClient(overrides?: Partial<EsignConfig>): Promise<EsignClient>;
  /** Requests other than token calls. */
  api(): Seen[];
  /** esign_worker_esign_requests_total for one endpoint and status class. */
  counted(endpoint: string, statusClass: string): Promise<number>;
  close(): Promise<void>;
}

export async function startFakePartner(): Promise<FakePartner> {
  const prefix = uniquePrefix('client-http');
  const redis: Redis = connect();
  const logged: string[] = [];
  const logger = createLogger({
    level: 'trace',
    destination: { write: (line: string) => logged.push(line) },
  });
  const metrics = new Metrics({ defaultMetrics: false });

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const entry = {
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        body: raw.toString('utf8'),
        raw,
      };
      fake.seen.push(entry);
      if (!entry.path.startsWith('/tokenhost/')) return fake.handler(entry, res);
      fake.tokensIssued += 1;
      json(res, 200, {
        success: true,
        data: {
          token: `${secretToken}-${fake.tokensIssued}`,
          expiry_seconds: '1800',
          expires_at: String(Math.floor(Date.now() / 1000) + 1800),
        },
      });
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const newClient = (overrides: Partial<EsignConfig> = {}): EsignClient =>
    createEsignClient({
      config: {
        ESIGN_TOKEN_URL: `${base}/tokenhost`,
        ESIGN_API_URL: base,
        ESIGN_CLIENT_ID: 'client-id-value',
        ESIGN_PASS_KEY: 'pass-key-value',
        ESIGN_ONBOARDING_PARTNER: 'CLIENT_X-BE-CERT_REG',
        ESIGN_PARTNER_USER_ID_TYPE: 'CLIENT_X_USER_ID',
        ESIGN_NIK_JSON_TYPE: 'number',
        ESIGN_CONNECT_TIMEOUT_MS: 1_000,
        ESIGN_REQUEST_TIMEOUT_MS: 2_000,
        UPLOAD_TIMEOUT_MS: 2_000,
        TOKEN_REFRESH_MARGIN_SECONDS: 300,
        ...overrides,
      },
      redis,
      keyPrefix: prefix,
      logger,
      metrics,
    });

  const fake: FakePartner = {
    base,
    seen: [],
    handler: (_seen, res) => json(res, 500, {}),
    tokensIssued: 0,
    metrics,
    logged,
    client: newClient(),
    async replaceClient(overrides) {
      await fake.client.close();
      fake.client = newClient(overrides);
      return fake.client;
    },
    api: () => fake.seen.filter((s) => !s.path.startsWith('/tokenhost/')),
    async counted(endpoint, statusClass) {
      const values = (await metrics.esignRequests.get()).values;
      const found = values.find(
        (v) => v.labels.endpoint === endpoint && v.labels.status_class === statusClass,
      );
      return found?.value ?? 0;
    },
    async close() {
      await fake.client.close();
      server.closeAllConnections();
      server.close();
      await cleanPrefix(redis, prefix);
      redis.disconnect();
    },
  };
  return fake;
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
