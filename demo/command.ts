import type { ToolCommandOptions } from '../src/app/tools.ts';
import { runDemo } from './run.ts';

/**
 * `esign-worker demo [count]`: see run.ts. When the reader of the output goes away
 * (`demo | head`), writes fail with EPIPE: the demo then stops as on Ctrl-C, so its keys,
 * temporary redis-server and files are still removed.
 */
export async function runCommand({ args, env, out, signal }: ToolCommandOptions): Promise<number> {
  const stop = new AbortController();
  const onAbort = () => stop.abort();
  signal.addEventListener('abort', onAbort, { once: true });
  const onError = (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE' || error.code === 'ERR_STREAM_DESTROYED') stop.abort();
  };
  out.on('error', onError);
  try {
    return await runDemo({
      env,
      count: args[0] === undefined ? undefined : Number(args[0]),
      out,
      signal: stop.signal,
    });
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}
