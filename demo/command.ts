import type { ToolCommandOptions } from '../src/app/tools.ts';
import { runDemo } from './run.ts';

/** `esign-worker demo [count]`: see run.ts. */
export function runCommand({ args, env, out, signal }: ToolCommandOptions): Promise<number> {
  return runDemo({
    env,
    count: args[0] === undefined ? undefined : Number(args[0]),
    out,
    signal,
  });
}
