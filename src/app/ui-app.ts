import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { HonoAdapter } from '@bull-board/hono';
import { getRequestListener } from '@hono/node-server';
import { serveStatic } from '@hono/node-server/serve-static';
import type http from 'node:http';
import type { Config } from '../lib/config.ts';
import { createCallbackAuth } from '../lib/http/auth.ts';
import { createHttpApp, type HttpApp } from '../lib/http/http-app.ts';
import { within } from '../lib/deadline.ts';
import { sendJson } from '../lib/http/respond.ts';
import type { Logger } from '../lib/logger.ts';
import { closeRedis } from '../lib/redis-close.ts';
import { openAllQueues } from '../queues/queues.ts';
import { RESULTS_QUEUE, stepNames } from '../lib/registration/jobs.ts';
import { connectRedis } from './redis.ts';

export type UiAppConfig = Config<'common' | 'ui'>;

export interface UiApp {
  http: HttpApp;
  /** The queue names on the board, in flow order. */
  queueNames: string[];
  close(): Promise<void>;
}

/**
 * The queue UI: bull-board (its page at `/`, its JSON API under `/api`) for every queue under
 * QUEUE_PREFIX, behind HTTP Basic auth, read-only unless UI_READ_ONLY=false. Served by the same
 * node:http app as the listener (timeouts, bounded close), with bull-board's Hono adapter
 * behind it. `/healthz` alone answers without credentials (the image's HEALTHCHECK).
 */
export function createUiApp(config: UiAppConfig, logger: Logger): UiApp {
  const { common, ui } = config;
  // Fail fast: a page asking while Redis is down gets an error, not a hung request.
  const redis = connectRedis(common.redis, { failFast: true, name: 'esign-ui', logger });
  // Each partition's five step queues (named `p<N>:<step>` when there are several), then the
  // one results queue.
  const partitioned = common.partitionPrefixes.length > 1;
  const boards = common.partitionPrefixes.flatMap((prefix, index) =>
    openAllQueues(redis, prefix, logger, stepNames).map((queue) => ({
      queue,
      label: partitioned ? `p${index}:` : '',
    })),
  );
  boards.push(
    ...openAllQueues(redis, common.keyPrefix, logger, [RESULTS_QUEUE]).map((queue) => ({
      queue,
      label: '',
    })),
  );
  const queues = boards.map((board) => board.queue);

  const board = new HonoAdapter(serveStatic);
  createBullBoard({
    queues: boards.map(
      ({ queue, label }) =>
        new BullMQAdapter(queue, { readOnlyMode: ui.UI_READ_ONLY, prefix: label }),
    ),
    serverAdapter: board,
    options: {
      uiConfig: {
        boardTitle: `esign-worker${ui.UI_READ_ONLY ? ' (read-only)' : ''}`,
        hideDocsLink: true,
      },
    },
  });
  const forward = getRequestListener(board.registerPlugin().fetch, {
    // Leave the process's own Request/Response alone (undici, the rest of the service).
    overrideGlobalObjects: false,
  });

  // Compared as SHA-256 digests with timingSafeEqual, like the callback's basic auth.
  const auth = createCallbackAuth({
    mode: 'basic',
    secret: `${ui.UI_USERNAME}:${ui.UI_PASSWORD}`,
    apiKeyHeader: 'authorization',
  });
  const challenge = 'Basic realm="esign-worker queue UI", charset="UTF-8"';

  const http = createHttpApp(
    async (req, res) => {
      const path = (req.url ?? '/').split('?', 1)[0];
      if (path === '/healthz' && (req.method === 'GET' || req.method === 'HEAD')) {
        sendJson(res, 200, { ok: true });
        return;
      }
      if (!auth.check(req.headers)) {
        sendJson(res, 401, { ok: false, error: 'unauthorized' }, { 'WWW-Authenticate': challenge });
        return;
      }
      if (isCrossSiteWrite(req)) {
        // A browser keeps sending Basic credentials: a form on another site must not retry,
        // clean or pause anything through it (matters when UI_READ_ONLY=false).
        sendJson(res, 403, { ok: false, error: 'cross-site request' });
        return;
      }
      for (const [name, value] of Object.entries(securityHeaders)) res.setHeader(name, value);
      await forward(req, res);
    },
    { logger, closeTimeoutMs: Math.min(common.SHUTDOWN_TIMEOUT_MS, 10_000) },
  );

  return {
    http,
    queueNames: boards.map(({ queue, label }) => `${label}${queue.name}`),
    async close() {
      await http.close();
      // Bounded: a queue or QUIT waiting on a Redis that is away must not hold the shutdown.
      await within(
        Promise.all(queues.map((queue) => queue.close())),
        300,
        'closing the queues',
      ).catch(() => undefined);
      await closeRedis(redis);
    },
  };
}

/**
 * Everything comes from this server: bull-board's page links a web font from a third party,
 * which an operator's browser then need not fetch (the page falls back to local fonts).
 */
const securityHeaders = {
  'Content-Security-Policy':
    "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
    "font-src 'self' data:; frame-ancestors 'none'; base-uri 'self'; form-action 'self'",
  'X-Frame-Options': 'DENY',
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
};

/** A state-changing request whose Origin is another site (browsers send Origin on those). */
function isCrossSiteWrite(req: http.IncomingMessage): boolean {
  if (req.method === 'GET' || req.method === 'HEAD') return false;
  const origin = req.headers.origin;
  if (origin === undefined) return false;
  try {
    return new URL(origin).host !== req.headers.host;
  } catch {
    return true;
  }
}
