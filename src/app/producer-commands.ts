import type { Producer } from '../queues/producer.ts';
import { exitCodes } from './cli.ts';
import { startTracingIfAsked } from './start-tracing.ts';

/**
 * The commands that act on one registration through a producer: `enqueue`, `status`, `erase`.
 * main.ts hands over the environment; each builds its producer from it and closes it after.
 */

type Env = Record<string, string | undefined>;

export async function enqueue(env: Env, source: string, version: string): Promise<number> {
  const { readJson } = await import('./ops-commands.ts');
  // The environment is checked first (withProducer): a missing PII_ENCRYPTION_KEY is named
  // before any input is read, whatever the input.
  return withProducer(env, 'esign-enqueue', { seals: true, version }, async (producer) => {
    const read = await readJson(source, { err: console.error, stdin: process.stdin });
    if (!read.ok) return exitCodes.invalid;
    const outcome = await producer.enqueueRegistration(read.value);
    // stdout stays the id alone, for scripts; the notice goes to stderr.
    if (!outcome.created)
      console.error(
        `registration ${outcome.registrationId} already exists (status ${outcome.status}): nothing new was enqueued`,
      );
    console.log(outcome.registrationId);
    return exitCodes.ok;
  });
}

export async function status(env: Env, id: string): Promise<number> {
  return withProducer(env, 'esign-status', { seals: false, version: '' }, async (producer) => {
    const view = await producer.getRegistration(id);
    if (!view) {
      console.error(`registration ${id} does not exist`);
      return exitCodes.unknownRegistration;
    }
    console.log(JSON.stringify(view, null, 2));
    return exitCodes.ok;
  });
}

/** Erasure on request: needs no PII key (nothing is opened), exits 3 for an unknown id. */
export async function erase(env: Env, id: string): Promise<number> {
  return withProducer(env, 'esign-erase', { seals: false, version: '' }, async (producer) => {
    if ((await producer.eraseRegistration(id)) === 'unknown') {
      console.error(`registration ${id} does not exist`);
      return exitCodes.unknownRegistration;
    }
    console.error(`registration ${id} erased; its tombstone keeps id, status and status times`);
    return exitCodes.ok;
  });
}

/**
 * A producer configured from the environment for one command, closed after it. `seals`: the
 * command stores PII, so it needs PII_ENCRYPTION_KEY (or the explicit plaintext opt-out).
 */
async function withProducer(
  env: Env,
  name: string,
  options: { seals: boolean; version: string },
  use: (producer: Producer) => Promise<number>,
): Promise<number> {
  const [{ loadConfig }, { createProducerApp }] = await Promise.all([
    import('../lib/config.ts'),
    import('./producer-app.ts'),
  ]);
  const config = loadConfig(env, [
    'common',
    'pipeline',
    'producer',
    'tracing',
    ...(options.seals ? (['pii'] as const) : []),
  ]);
  if (name === 'esign-enqueue')
    await (await import('./partition-layout.ts')).checkPartitionLayout(config.common);
  // `enqueue` starts the registration's trace, so it traces when asked; `status` never does.
  const tracing =
    name === 'esign-enqueue'
      ? await startTracingIfAsked(config.tracing, { version: options.version })
      : undefined;
  const producer = createProducerApp(config, { name, tracing });
  try {
    return await use(producer);
  } finally {
    await producer.close();
    await tracing?.shutdown();
  }
}
