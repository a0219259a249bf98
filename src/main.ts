import { readFile } from 'node:fs/promises';
import { text } from 'node:stream/consumers';
import { createListenerApp } from './app/listener-app.ts';
import { loadTool, ToolNotIncludedError, type ToolName } from './app/tools.ts';
import { createProducerFromConfig } from './app/producer-app.ts';
import { connectRedis } from './app/redis.ts';
import { createWorkerApp } from './app/worker-app.ts';
import { loadConfig, type ListenerConfig } from './lib/config.ts';
import { createMetricsServer } from './lib/http/metrics-server.ts';
import { ValidationError, isWorkerError } from './lib/errors.ts';
import { createLogger, type Logger } from './lib/logger.ts';
import { Metrics } from './lib/metrics.ts';

/**
 * The CLI, and the only module that reads the environment, listens on ports and handles
 * signals. Everything it starts is a factory taking parsed config.
 */

const usage = `usage: esign-worker <command>

  worker            run every step processor
  listener          take Esign callbacks on CALLBACK_PORT
  start             worker and listener in one process
                    (each serves /metrics /healthz /readyz on METRICS_HOST:METRICS_PORT,
                    default 127.0.0.1:9464, listener 9465)
  ui                the queue UI (bull-board) on UI_HOST:UI_PORT (default 127.0.0.1:3030),
                    Basic auth from UI_USERNAME/UI_PASSWORD, read-only unless UI_READ_ONLY=false
  enqueue <file|->  enqueue a registration (JSON); prints its registrationId
  status <id>       print a registration as JSON (PII left out)

From a checkout only (development tools, not in the installed package):
  sandbox           run the Esign simulator on SANDBOX_PORT
  demo [count]      sandbox + worker + listener + synthetic users, with a summary

Configuration comes from environment variables: see docs/configuration.md.`;

type Closer = () => Promise<void>;

async function main(argv: string[]): Promise<number> {
  const [command, ...args] = argv;
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
      return enqueue(args[0]);
    case 'status':
      return status(args[0]);
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      console.log(usage);
      return command === undefined ? 2 : 0;
    default:
      console.error(`unknown command "${command}"\n\n${usage}`);
      return 2;
  }
}

/** The ops port's default per command, so worker and listener can share a host. */
const defaultOpsPort = { worker: 9464, start: 9464, listener: 9465 } as const;

async function serve(command: 'worker' | 'listener' | 'start'): Promise<number> {
  const needsWorker = command !== 'listener';
  const needsListener = command !== 'worker';
  const config = loadConfig(process.env, [
    'common',
    'pipeline',
    'ops',
    ...(needsWorker ? (['esign'] as const) : []),
    ...(needsListener ? (['listener'] as const) : []),
  ]);
  const logger = createLogger({ level: config.common.LOG_LEVEL });
  const metrics = new Metrics();
  // Closed in this order: callbacks stop first, then the workers, then the ops endpoints.
  const closers: Closer[] = [];
  const readiness: (() => Promise<boolean>)[] = [];

  if (needsListener) {
    const listener = createListenerApp(config, logger, metrics);
    for (const warning of listenerWarnings(config.listener)) logger.warn(warning);
    const { url } = await listener.http.listen(
      config.listener.CALLBACK_PORT,
      config.listener.CALLBACK_HOST,
    );
    logger.info({ url, path: config.listener.CALLBACK_PATH }, 'listener ready');
    closers.push(() => listener.close());
    readiness.push(() => listener.ready());
  }
  if (needsWorker) {
    const worker = createWorkerApp(config, logger, metrics);
    logger.info({ prefix: config.common.QUEUE_PREFIX }, 'worker ready');
    closers.push(() => worker.close());
    readiness.push(() => worker.ready());
  }
  const ops = createMetricsServer({
    metrics,
    logger,
    ready: async () => (await Promise.all(readiness.map((ready) => ready()))).every(Boolean),
  });
  const { url } = await ops.listen(
    config.ops.METRICS_PORT ?? defaultOpsPort[command],
    config.ops.METRICS_HOST,
  );
  logger.info({ url }, 'ops endpoints ready (/metrics /healthz /readyz)');
  closers.push(() => ops.close());
  await untilSignal(logger, closers);
  return 0;
}

/** The queue UI: no Esign settings, no PII key; SIGTERM closes it (bounded). */
async function serveUi(): Promise<number> {
  const config = loadConfig(process.env, ['common', 'ui']);
  const logger = createLogger({ level: config.common.LOG_LEVEL });
  // Loaded here, not at the top: bull-board and hono would slow every other command's start.
  const { createUiApp } = await import('./app/ui-app.ts');
  const ui = createUiApp(config, logger);
  const { url } = await ui.http.listen(config.ui.UI_PORT, config.ui.UI_HOST);
  logger.info({ url, readOnly: config.ui.UI_READ_ONLY }, 'queue UI ready');
  await untilSignal(logger, [() => ui.close()]);
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

async function enqueue(source: string | undefined): Promise<number> {
  if (!source) {
    console.error('usage: esign-worker enqueue <file.json | ->');
    return 2;
  }
  const raw = source === '-' ? await text(process.stdin) : await readFile(source, 'utf8');
  let request: unknown;
  try {
    request = JSON.parse(raw);
  } catch {
    console.error('The registration request is not valid JSON.');
    return 1;
  }
  const config = loadConfig(process.env, ['common', 'pipeline', 'producer']);
  const redis = connectRedis(config.common.REDIS_URL, { failFast: true, name: 'esign-enqueue' });
  const producer = createProducerFromConfig(config, redis);
  try {
    const outcome = await producer.enqueueRegistration(request);
    console.log(outcome.registrationId);
    return 0;
  } finally {
    await producer.close();
    await redis.quit().catch(() => redis.disconnect());
  }
}

async function status(id: string | undefined): Promise<number> {
  if (!id) {
    console.error('usage: esign-worker status <registrationId>');
    return 2;
  }
  const config = loadConfig(process.env, ['common', 'pipeline', 'producer']);
  const redis = connectRedis(config.common.REDIS_URL, { failFast: true, name: 'esign-status' });
  const producer = createProducerFromConfig(config, redis);
  try {
    const view = await producer.getRegistration(id);
    if (!view) {
      console.error(`registration ${id} does not exist`);
      return 1;
    }
    console.log(JSON.stringify(view, null, 2));
    return 0;
  } finally {
    await producer.close();
    await redis.quit().catch(() => redis.disconnect());
  }
}

/** SIGTERM/SIGINT: run the closers in order once, then exit; a second signal forces exit. */
function untilSignal(logger: Logger, closers: Closer[]): Promise<void> {
  return new Promise((resolve) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals) => {
      if (stopping) process.exit(130);
      stopping = true;
      logger.info({ signal }, 'shutting down');
      void (async () => {
        for (const close of closers)
          await close().catch((error: unknown) =>
            logger.error({ err: error }, 'shutdown step failed'),
          );
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
    if (error instanceof ValidationError || error instanceof ToolNotIncludedError)
      console.error(error.message);
    else if (isWorkerError(error)) console.error(`${error.code}: ${error.message}`);
    else console.error(error);
    process.exit(
      error instanceof ValidationError ||
        error instanceof ToolNotIncludedError ||
        isWorkerError(error)
        ? 1
        : 70,
    );
  },
);
