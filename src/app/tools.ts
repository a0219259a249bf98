import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * The developer tools beside the product — the Esign simulator (`sandbox/`) and the demo
 * (`demo/`) — are commands of the same CLI in a checkout, but are not shipped: the package
 * and the production image hold only `src/`. They are found at run time by path, so nothing
 * in `src/` imports them and the build never compiles them.
 */

export type ToolName = 'sandbox' | 'demo';

export interface ToolCommandOptions {
  args: string[];
  env: Record<string, string | undefined>;
  out: NodeJS.WritableStream;
  /** Aborted on SIGINT/SIGTERM: the tool stops, cleans up and returns its exit code. */
  signal: AbortSignal;
}

export interface ToolCommand {
  runCommand(options: ToolCommandOptions): Promise<number>;
}

export class ToolNotIncludedError extends Error {
  override name = 'ToolNotIncludedError';
}

/** The tool's `command.ts`, or a ToolNotIncludedError when this is an installed package. */
export async function loadTool(name: ToolName): Promise<ToolCommand> {
  const entry = new URL(`../../${name}/command.ts`, import.meta.url);
  if (!existsSync(fileURLToPath(entry)))
    throw new ToolNotIncludedError(
      `"esign-worker ${name}" is a development tool and is not included in the installed ` +
        'package: run it from a checkout of the repository (npm ci && npx esign-worker ' +
        `${name}).`,
    );
  return (await import(entry.href)) as ToolCommand;
}
