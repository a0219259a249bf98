import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics.ts';
import { handleOps, isOpsPath } from './health.ts';
import { createHttpApp, type HttpApp, type HttpAppOptions } from './http-app.ts';
import { sendJson } from './respond.ts';

/**
 * The small server of a worker process that takes no callbacks: `/metrics`, `/healthz`
 * and `/readyz` only (METRICS_PORT), so Prometheus and the orchestrator can see it.
 */
export interface MetricsServerDeps {
  metrics: Metrics;
  ready: () => Promise<boolean>;
  logger: Logger;
  timeouts?: Omit<HttpAppOptions, 'logger'> | undefined;
}

export function createMetricsServer(deps: MetricsServerDeps): HttpApp {
  const ops = { metrics: deps.metrics, ready: deps.ready, logger: deps.logger };
  return createHttpApp(
    async (req, res) => {
      const path = (req.url ?? '/').split('?', 1)[0] ?? '/';
      if (isOpsPath(path)) await handleOps(ops, path, req, res);
      else sendJson(res, 404, { ok: false, error: 'not found' });
    },
    { logger: deps.logger, ...deps.timeouts },
  );
}
