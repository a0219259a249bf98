import { readFile } from 'node:fs/promises';
import { text } from 'node:stream/consumers';
import { createListenerApp } from './app/listener-app.ts';
import { loadTool, ToolNotIncludedError, type ToolName } from './app/tools.ts';
import { createProducerApp } from './app/producer-app.ts';
import { createWorkerApp } from './app/worker-app.ts';
import { loadConfig } from './lib/config.ts';
import { ValidationError, isWorkerError } from './lib/errors.ts';
import { createLogger, type Logger } from './lib/logger.ts';
import { Metrics } from './lib/metrics.ts';
import type { Producer } from './queues/producer.ts';

/**
 * The CLI, and the only module that reads the environment, listens on ports and handles
 * signals. Everything it starts is a factory taking parsed config.
 */

const usage = `usage: esign-worker <command>

  worker            run every step processor (metrics on METRICS_PORT)
  listener          take Esign callbacks on CALLBACK_PORT (+ /metrics /healthz /readyz)
  start             worker and listener in one process
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

async function serve(command: 'worker' | 'listener' | 'start'): Promise<number> {
  const needsWorker = command !== 'listener';
  const needsListener = command !== 'worker';
  const config = loadConfig(process.env, [
    'common',
    'pipeline',
    ...(needsWorker ? (['esign'] as const) : []),
    ...(needsListener ? (['listener'] as const) : []),
  ]);
  const logger = createLogger({ level: config.common.LOG_LEVEL });
  const metrics = new Metrics();
  const closers: Closer[] = [];

  if (needsListener) {
    const listener = createListenerApp(config, logger, metrics);
    const { url } = await listener.http.listen(
      config.listener.CALLBACK_PORT,
      config.listener.CALLBACK_HOST,
    );
    logger.info({ url, path: config.listener.CALLBACK_PATH }, 'listener ready');
    closers.push(() => listener.close()); // first: stop taking callbacks
  }
  if (needsWorker) {
    const worker = createWorkerApp(config, logger, metrics);
    if (!needsListener) {
      const { url } = await worker.metricsServer.listen(config.pipeline.METRICS_PORT, '0.0.0.0');
      logger.info({ url }, 'metrics ready');
      closers.push(() => worker.metricsServer.close());
    }
    logger.info({ prefix: config.common.QUEUE_PREFIX }, 'worker ready');
    closers.unshift(() => worker.close());
    // The listener stops before the workers: reorder so callbacks stop first.
    closers.reverse();
  }
  await untilSignal(logger, closers);
  return 0;
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
  return withProducer('esign-enqueue', async (producer) => {
    const outcome = await producer.enqueueRegistration(request);
    console.log(outcome.registrationId);
    return 0;
  });
}

async function status(id: string | undefined): Promise<number> {
  if (!id) {
    console.error('usage: esign-worker status <registrationId>');
    return 2;
  }
  return withProducer('esign-status', async (producer) => {
    const view = await producer.getRegistration(id);
    if (!view) {
      console.error(`registration ${id} does not exist`);
      return 1;
    }
    console.log(JSON.stringify(view, null, 2));
    return 0;
  });
}

/** A producer configured from the environment for one command, closed after it. */
async function withProducer(
  name: string,
  use: (producer: Producer) => Promise<number>,
): Promise<number> {
  const config = loadConfig(process.env, ['common', 'pipeline', 'producer']);
  const producer = createProducerApp(config, { name });
  try {
    return await use(producer);
  } finally {
    await producer.close();
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
