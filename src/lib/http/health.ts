import type http from 'node:http';
import { within } from '../deadline.ts';
import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics.ts';
import { sendJson } from './respond.ts';

/**
 * The operational endpoints every process exposes: `/healthz` (the process answers: a
 * liveness probe must not restart a worker because Redis blinked), `/readyz` (Redis
 * reachable: take it out of rotation meanwhile) and `/metrics` (Prometheus text).
 */
export interface OpsDeps {
  metrics: Metrics;
  ready: () => Promise<boolean>;
  logger: Logger;
}

export const opsPaths = ['/healthz', '/readyz', '/metrics'] as const;

/** /readyz answers "not ready" after this, whatever the check does: health in ≤ 2 s. */
export const READY_ANSWER_MS = 1_500;

export function isOpsPath(path: string): boolean {
  return (opsPaths as readonly string[]).includes(path);
}

/** Answer an ops path (the caller checked isOpsPath). Only GET and HEAD are allowed. */
export async function handleOps(
  deps: OpsDeps,
  path: string,
  req: http.IncomingMessage,
  res: http.ServerResponse,
): Promise<void> {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    sendJson(res, 405, { ok: false, error: 'method not allowed' }, { Allow: 'GET, HEAD' });
    return;
  }
  if (path === '/healthz') {
    sendJson(res, 200, { ok: true });
    return;
  }
  if (path === '/readyz') {
    const ready = await within(deps.ready(), READY_ANSWER_MS, 'the readiness check').catch(
      (error: unknown) => {
        deps.logger.warn({ err: error }, 'readiness check failed');
        return false;
      },
    );
    sendJson(res, ready ? 200 : 503, { ok: ready });
    return;
  }
  const text = await deps.metrics.text();
  res.writeHead(200, {
    'Content-Type': deps.metrics.contentType,
    'Content-Length': Buffer.byteLength(text),
  });
  res.end(text);
}
