import { randomBytes } from 'node:crypto';
import { createPiiCipher } from '../src/lib/pii-cipher.ts';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createEsignClient } from '../src/lib/esign/client.ts';
import type { EsignClient, PartnerUser } from '../src/lib/esign/types.ts';
import { isWorkerError } from '../src/lib/errors.ts';
import { loadConfig } from '../src/lib/config.ts';
import { silentLogger } from '../src/lib/logger.ts';
import type { RedisClient } from '../src/lib/redis-topology.ts';
import { confirmMetadata } from '../src/processors/confirm.ts';
import type { RegistrationRequest } from '../src/lib/registration/request-schema.ts';
import type { DemoUser } from '../demo/users.ts';
import { memoryTokenStore } from './memory-token-store.ts';
import { StagePool } from './stage-pool.ts';

/**
 * Baseline P1 (issue 11): the Esign calls the pipeline makes — the token, the look-up before
 * create, create, both uploads, confirm — with the same client code, in a staged promise pool
 * with the pipeline's concurrency per stage, then a wait for the result callback on a plain
 * in-process node:http listener. No queues and no Redis state: what the work costs without
 * the durability around it.
 */

export interface BaselineListener {
  /** Where the baseline's sandbox sends callbacks. */
  url: string;
  /** The secret the sandbox presents (set once the stack has made one). */
  secret: string;
  close(): Promise<void>;
  /** Resolves when a terminal callback for `submissionId` arrives. */
  waitFor(submissionId: string): Promise<void>;
}

const terminal = new Set(['COMPLETED', 'ERROR']);

export async function startBaselineListener(): Promise<BaselineListener> {
  const waiting = new Map<string, () => void>();
  const arrived = new Set<string>();
  const state = { secret: '' };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      if (req.headers.authorization !== `Bearer ${state.secret}`) {
        res.writeHead(401).end();
        return;
      }
      try {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
          submissionId?: string;
          status?: string;
        };
        if (body.submissionId && body.status && terminal.has(body.status)) {
          arrived.add(body.submissionId);
          waiting.get(body.submissionId)?.();
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"success":true}');
      } catch {
        res.writeHead(400).end();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/callbacks/esign`,
    get secret() {
      return state.secret;
    },
    set secret(value: string) {
      state.secret = value;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
    waitFor(submissionId) {
      if (arrived.delete(submissionId)) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          waiting.delete(submissionId);
          reject(new Error('baseline: no terminal callback within 30 s'));
        }, 30_000);
        waiting.set(submissionId, () => {
          clearTimeout(timer);
          waiting.delete(submissionId);
          arrived.delete(submissionId);
          resolve();
        });
      });
    },
  };
}

export interface BaselineClient {
  esign: EsignClient;
  close(): Promise<void>;
}

/** The production Esign client pointed at the baseline's sandbox; its token kept in memory. */
export function baselineClient(env: Record<string, string>, sandboxUrl: string): BaselineClient {
  const config = loadConfig({ ...env, ESIGN_TOKEN_URL: sandboxUrl, ESIGN_API_URL: sandboxUrl }, [
    'esign',
  ]).esign;
  const esign = createEsignClient({
    config,
    redis: memoryTokenStore() as unknown as RedisClient,
    keyPrefix: 'baseline',
    // The token sits in this process's memory only: a key of the run's own seals it.
    cipher: createPiiCipher({ key: randomBytes(32) }),
    logger: silentLogger(),
  });
  return { esign, close: () => esign.close() };
}

interface Item {
  request: RegistrationRequest;
  user: PartnerUser;
  submissionId?: string;
  urls?: { KTP: string; SELFIE: string };
}

/** Every user through the stages; resolves when each has its terminal callback. */
export async function runBaseline(options: {
  esign: EsignClient;
  listener: BaselineListener;
  users: DemoUser[];
  imageRoot: string;
  concurrency: number;
  userIdType: string;
}): Promise<void> {
  const { esign, listener, imageRoot, concurrency } = options;
  const waits: Promise<void>[] = [];
  const confirm = new StagePool<Item>(concurrency, async (item) => {
    const submissionId = item.submissionId as string;
    // Listening before confirming: the callback can beat the confirm's answer.
    const callback = listener.waitFor(submissionId);
    callback.catch(() => undefined); // reported by the Promise.all below, not as unhandled
    waits.push(callback);
    await esign.confirmUpload(item.user, submissionId, confirmMetadata(item.request));
  });
  const upload = new StagePool<Item>(concurrency, async (item) => {
    for (const [type, source] of [
      ['KTP', item.request.images.ktp],
      ['SELFIE', item.request.images.selfie],
    ] as const) {
      if (!('path' in source)) throw new Error('baseline: images are by path');
      const body = await readFile(join(imageRoot, source.path));
      const contentType = type === 'KTP' ? 'image/jpeg' : 'image/png';
      await esign.uploadDocument((item.urls as Item['urls'] & object)[type], {
        body,
        contentType,
        contentLength: body.length,
      });
    }
    confirm.push(item);
  });
  const initiate = new StagePool<Item>(concurrency, async (item) => {
    try {
      await esign.getSubmission(item.user);
    } catch (error) {
      if (!(isWorkerError(error) && error.httpStatus === 404)) throw error;
    }
    const created = await esign.createSubmission(item.user);
    item.submissionId = created.submissionId;
    item.urls = { KTP: created.documents.KTP.url, SELFIE: created.documents.SELFIE.url };
    upload.push(item);
  });
  for (const user of options.users) {
    const request = user.request as unknown as RegistrationRequest;
    initiate.push({
      request,
      user: { userId: request.partnerUserId, userIdType: options.userIdType },
    });
  }
  await initiate.drained();
  await upload.drained();
  await confirm.drained();
  await Promise.all(waits);
}
