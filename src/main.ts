import { readFileSync } from 'node:fs';
import { describeFailure, exitCodes, parseCommandLine } from './app/cli.ts';
import { loadTool, type ToolName } from './app/tools.ts';
import type { ListenerConfig } from './lib/config.ts';
import type { Logger } from './lib/logger.ts';
import { enqueue, erase, status } from './app/producer-commands.ts';
import { startTracingIfAsked } from './app/start-tracing.ts';

/**
 * The CLI, and the only module that reads the environment, listens on ports and handles
 * signals. Everything it starts is a factory taking parsed config. The factories (and BullMQ,
 * ioredis, undici behind them) are imported only by the command that runs, so `--help`,
 * `--version` and usage errors answer at once.
 */

type Closer = () => Promise<void>;

async function main(argv: string[]): Promise<number> {
  const parsed = parseCommandLine(argv);
  switch (parsed.kind) {
    case 'help':
      console.log(parsed.text);
      return exitCodes.ok;
    case 'version':
      console.log(`esign-worker ${packageVersion()}`);
      return exitCodes.ok;
    case 'usage-error':
      console.error(parsed.message);
      return exitCodes.usage;
    case 'run':
      break;
  }
  const { command, args, options } = parsed;
  switch (command) {
    case 'worker':
    case 'listener':
    case 'start':
      return serve(command);
    case 'ui':
      return serveUi();
    case 'sandbox':
    case 'demo':
      return runTool(command, args);
    case 'enqueue':
      return enqueue(process.env, args[0] ?? '-', packageVersion());
    case 'status':
      return status(process.env, args[0] ?? '');
    case 'erase':
      return erase(process.env, args[0] ?? '');
    case 'list':
    case 'reindex':
    case 'inspect':
    case 'retry':
    case 'pause':
    case 'resume':
      return opsCommand(command, args, options);
  }
}

/** The package's version: package.json sits one level above both src/ and dist/. */
function packageVersion(): string {
  const text = readFileSync(new URL('../package.json', import.meta.url), 'utf8');
  return (JSON.parse(text) as { version: string }).version;
}

/** The ops port's default per command, so worker and listener can share a host. */
const defaultOpsPort = { worker: 9464, start: 9464, listener: 9465 } as const;

async function serve(command: 'worker' | 'listener' | 'start'): Promise<number> {
  const needsWorker = command !== 'listener';
  const needsListener = command !== 'worker';
  const [
    { loadConfig },
    { createLogger },
    { Metrics },
    { createMetricsServer },
    { createErrorLog },
  ] = await Promise.all([
    import('./lib/config.ts'),
    import('./lib/logger.ts'),
    import('./lib/metrics.ts'),
    import('./lib/http/metrics-server.ts'),
    import('./lib/error-log.ts'),
  ]);
  const config = loadConfig(process.env, [
    'common',
    'pipeline',
    'ops',
    'tracing',
    ...(needsWorker ? (['esign', 'pii'] as const) : []),
    ...(needsListener ? (['listener'] as const) : []),
  ]);
  const logger = createLogger({ level: config.common.LOG_LEVEL });
  // The signals are taken from here on, before anything is started: a SIGTERM while the start
  // is still under way (waiting for Redis, loading the pipeline) closes what was started so
  // far and exits 0, rather than the default death (143). Closed at once, side by side (each
  // bounded by SHUTDOWN_TIMEOUT_MS), then the ops endpoints: they answer until the end.
  const closers: Closer[] = [];
  const late: { ops?: Closer; health?: Closer; tracing?: Closer } = {};
  const stopped = untilSignal(logger, config.common.SHUTDOWN_TIMEOUT_MS, [
    () => Promise.all(closers.map((close) => close())).then(() => undefined),
    async () => late.ops?.(),
    async () => late.health?.(),
    // Last: what the others recorded while stopping is exported too (flush bounded to 1 s).
    async () => late.tracing?.(),
  ]);
  const starting = (async () => {
    await (await import('./app/partition-layout.ts')).checkPartitionLayout(config.common, logger);
    const metrics = new Metrics();
    const tracing = await startTracingIfAsked(config.tracing, {
      version: packageVersion(),
      logger,
    });
    late.tracing = async () => tracing?.shutdown();
    // One for the process: a Redis outage is one throttled line, not one per connection.
    const errors = createErrorLog(logger);
    const { createHealth } = await import('./app/health.ts');
    const health = createHealth(config, { logger, metrics, errors, name: `esign-${command}` });
    late.health = () => health.close();

    if (needsListener) {
      const { createListenerApp } = await import('./app/listener-app.ts');
      const listener = createListenerApp(config, logger, metrics, { errors, tracing });
      closers.push(() => listener.close());
      for (const warning of listenerWarnings(config.listener)) logger.warn(warning);
      const { url } = await listener.http.listen(
        config.listener.CALLBACK_PORT,
        config.listener.CALLBACK_HOST,
      );
      logger.info({ url, path: config.listener.CALLBACK_PATH }, 'listener ready');
    }
    if (needsWorker) {
      const { createWorkerApp } = await import('./app/worker-app.ts');
      const worker = createWorkerApp(config, logger, metrics, { errors, tracing });
      closers.push(() => worker.close());
      // Ready means Redis answered every step worker, not that the objects exist: until then
      // the process serves /readyz (503) and waits, and a SIGTERM still stops it.
      worker.untilReady().then(
        () => logger.info({ prefix: config.common.keyPrefix }, 'worker ready'),
        () => undefined, // closed before Redis ever answered
      );
    }
    const ops = createMetricsServer({
      metrics,
      logger,
      ready: () => health.ready(),
      timeouts: { closeTimeoutMs: OPS_CLOSE_MS },
    });
    late.ops = () => ops.close();
    const { url } = await ops.listen(
      config.ops.METRICS_PORT ?? defaultOpsPort[command],
      config.ops.METRICS_HOST,
    );
    logger.info({ url }, 'ops endpoints ready (/metrics /healthz /readyz)');
    return errors;
  })();
  // A start that fails (a refused layout, a port in use) ends the command; a signal during the
  // start ends it once what was started is closed.
  const errors = await Promise.race([stopped.then(() => undefined), starting]);
  await stopped;
  errors?.flush();
  return 0;
}

/** An ops request still running at the end of a shutdown gets this long (it is bounded too). */
const OPS_CLOSE_MS = 200;

/** The queue UI: no Esign settings, no PII key; SIGTERM closes it (bounded). */
async function serveUi(): Promise<number> {
  const [{ loadConfig }, { createLogger }] = await Promise.all([
    import('./lib/config.ts'),
    import('./lib/logger.ts'),
  ]);
  const config = loadConfig(process.env, ['common', 'ui']);
  const logger = createLogger({ level: config.common.LOG_LEVEL });
  // Loaded here, not at the top: bull-board and hono would slow every other command's start.
  const { createUiApp } = await import('./app/ui-app.ts');
  const ui = createUiApp(config, logger);
  const { url } = await ui.http.listen(config.ui.UI_PORT, config.ui.UI_HOST);
  logger.info({ url, readOnly: config.ui.UI_READ_ONLY }, 'queue UI ready');
  await untilSignal(logger, config.common.SHUTDOWN_TIMEOUT_MS, [() => ui.close()]);
  return 0;
}

/** Settings that are allowed but weaken the callback door: said at every start. */
function listenerWarnings(listener: ListenerConfig): string[] {
  const warnings: string[] = [];
  if (listener.CALLBACK_AUTH === 'none')
    warnings.push(
      'callback authentication is OFF (CALLBACK_AUTH=none, CALLBACK_ALLOW_INSECURE=true): ' +
        'anyone who can reach the listener can forge results',
    );
  if (listener.CALLBACK_ALLOWED_IPS.length === 0)
    warnings.push(
      "no CALLBACK_ALLOWED_IPS: callbacks are taken from any address (set Esign's callback IPs)",
    );
  return warnings;
}

/**
 * A development tool from the checkout (see app/tools.ts). The first SIGINT/SIGTERM asks it
 * to stop and clean up (keys, temp redis-server, files); a second forces exit.
 */
async function runTool(name: ToolName, args: string[]): Promise<number> {
  const tool = await loadTool(name);
  const interrupted = new AbortController();
  const stop = () => (interrupted.signal.aborted ? process.exit(130) : interrupted.abort());
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  return tool.runCommand({
    args,
    env: process.env,
    out: process.stdout,
    signal: interrupted.signal,
  });
}

/** The operator's commands (app/ops-commands.ts); only retry needs the producer's settings. */
async function opsCommand(
  command: 'list' | 'reindex' | 'inspect' | 'retry' | 'pause' | 'resume',
  args: string[],
  options: Record<string, string | boolean | undefined>,
): Promise<number> {
  const [{ loadConfig }, ops] = await Promise.all([
    import('./lib/config.ts'),
    import('./app/ops-commands.ts'),
  ]);
  const io = { out: console.log, err: console.error, stdin: process.stdin };
  if (command === 'retry')
    return ops.retry(loadConfig(process.env, ['common', 'pipeline', 'producer', 'pii']), args, io);
  const config = loadConfig(process.env, ['common', 'pipeline']);
  switch (command) {
    case 'list':
      return ops.list(config, options, io);
    case 'reindex':
      return ops.reindex(config, io);
    case 'inspect':
      return ops.inspect(config, args[0] ?? '', io);
    case 'pause':
    case 'resume':
      return ops.pauseOrResume(config, command, args, io);
  }
}

/**
 * Past SHUTDOWN_TIMEOUT_MS, how long the closers get before the process exits anyway. Every
 * closer is bounded on its own; this is the promise to the orchestrator, kept whatever is in
 * flight: the process is gone within SHUTDOWN_TIMEOUT_MS + 1 s of the signal.
 */
const SHUTDOWN_TAIL_MS = 600;

/**
 * SIGTERM/SIGINT: run the closers in order once, then exit; a second signal forces exit. A
 * closer that would outlast SHUTDOWN_TIMEOUT_MS + SHUTDOWN_TAIL_MS is left behind: a job
 * still locked is taken over by another worker once its lock lapses.
 */
function untilSignal(logger: Logger, shutdownTimeoutMs: number, closers: Closer[]): Promise<void> {
  return new Promise((resolve) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals) => {
      if (stopping) process.exit(130);
      stopping = true;
      logger.info({ signal }, 'shutting down');
      const limitMs = shutdownTimeoutMs + SHUTDOWN_TAIL_MS;
      const backstop = setTimeout(() => {
        logger.warn({ limitMs }, 'shutdown took too long: exiting with parts still closing');
        resolve();
      }, limitMs);
      void (async () => {
        for (const close of closers)
          await close().catch((error: unknown) =>
            logger.error({ err: error }, 'shutdown step failed'),
          );
        clearTimeout(backstop);
        logger.info('stopped');
        resolve();
      })();
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    const failure = describeFailure(error);
    console.error(failure.message);
    process.exit(failure.code);
  },
);
