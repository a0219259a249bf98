import { once } from 'node:events';
import type { ToolCommandOptions } from '../src/app/tools.ts';
import { loadConfig } from '../src/lib/config.ts';
import { createLogger } from '../src/lib/logger.ts';
import { loadSandboxConfig } from './config.ts';
import { sandboxOptionsFromConfig } from './from-config.ts';
import { startSandbox } from './index.ts';

/** `esign-worker sandbox`: the Esign simulator on SANDBOX_HOST:SANDBOX_PORT until a signal. */
export async function runCommand({ env, signal }: ToolCommandOptions): Promise<number> {
  const { common } = loadConfig(env, ['common']);
  const config = loadSandboxConfig(env);
  const logger = createLogger({ level: common.LOG_LEVEL });
  const running = await startSandbox({ ...sandboxOptionsFromConfig(config), logger });
  logger.info({ url: running.url }, 'sandbox ready');
  if (!signal.aborted) await once(signal, 'abort');
  logger.info('shutting down');
  await running.close();
  logger.info('stopped');
  return 0;
}
