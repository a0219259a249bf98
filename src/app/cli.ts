import { parseArgs } from 'node:util';
import { isWorkerError, ValidationError } from '../lib/errors.ts';
import { ToolNotIncludedError } from './tools.ts';

/**
 * The command line, as data: each command's usage, how its arguments parse, and the exit code
 * every kind of failure maps to. main.ts runs what this parses; nothing here starts anything,
 * so `--help` on any command can never open a port.
 */

/** Exit codes (sysexits-style where one fits), documented in docs/operations.md. */
export const exitCodes = {
  ok: 0,
  invalid: 1, // invalid input or configuration
  usage: 2,
  unknownRegistration: 3,
  unavailable: 69, // Redis or Esign unreachable (EX_UNAVAILABLE)
  internal: 70, // a bug (EX_SOFTWARE)
} as const;

interface CommandSpec {
  /** Positional arguments after the command, for the usage line. */
  args: string;
  summary: string;
  minArgs: number;
  maxArgs: number;
  /** From a checkout only (development tools beside src/). */
  tool?: true;
}

export const commands = {
  worker: { args: '', summary: 'run every step processor', minArgs: 0, maxArgs: 0 },
  listener: { args: '', summary: 'take Esign callbacks on CALLBACK_PORT', minArgs: 0, maxArgs: 0 },
  start: { args: '', summary: 'worker and listener in one process', minArgs: 0, maxArgs: 0 },
  ui: {
    args: '',
    summary: 'the queue UI (bull-board) on UI_HOST:UI_PORT, behind UI_USERNAME/UI_PASSWORD',
    minArgs: 0,
    maxArgs: 0,
  },
  enqueue: {
    args: '<file.json | ->',
    summary: 'enqueue a registration; prints its registrationId',
    minArgs: 1,
    maxArgs: 1,
  },
  status: {
    args: '<registrationId>',
    summary: 'print a registration as JSON (PII left out)',
    minArgs: 1,
    maxArgs: 1,
  },
  erase: {
    args: '<registrationId>',
    summary:
      "erase a registration's data on request (PII, images, sealed fields, submission ids); " +
      'keeps a tombstone: id, status, result code, status times. A running one ends FAILED (ERASED) first',
    minArgs: 1,
    maxArgs: 1,
  },
  sandbox: { args: '', summary: 'run the Esign simulator', minArgs: 0, maxArgs: 0, tool: true },
  demo: {
    args: '[count]',
    summary: 'sandbox + worker + listener + synthetic users, with a summary',
    minArgs: 0,
    maxArgs: 1,
    tool: true,
  },
} as const satisfies Record<string, CommandSpec>;
export type CommandName = keyof typeof commands;

const isCommand = (name: string): name is CommandName => Object.hasOwn(commands, name);

const line = (name: CommandName): string =>
  `  ${`${name} ${commands[name].args}`.padEnd(28)}${commands[name].summary}`;

export function usage(): string {
  const names = Object.keys(commands) as CommandName[];
  return [
    'usage: esign-worker <command> [arguments]   (esign-worker <command> --help for one command)',
    '',
    ...names.filter((name) => !('tool' in commands[name])).map(line),
    '',
    'From a checkout only (development tools, not in the installed package):',
    ...names.filter((name) => 'tool' in commands[name]).map(line),
    '',
    'Long-running commands serve /metrics /healthz /readyz on METRICS_HOST:METRICS_PORT',
    '(127.0.0.1:9464; the listener 9465). Options: -h/--help, --version.',
    'Configuration comes from environment variables: see docs/configuration.md.',
  ].join('\n');
}

export function commandUsage(name: CommandName): string {
  const spec: CommandSpec = commands[name];
  return (
    `usage: esign-worker ${name}${spec.args ? ` ${spec.args}` : ''}\n\n${spec.summary}.\n` +
    'Configuration comes from environment variables: see docs/configuration.md.'
  );
}

export type ParsedCommandLine =
  | { kind: 'help'; text: string }
  | { kind: 'version' }
  | { kind: 'usage-error'; message: string }
  | { kind: 'run'; command: CommandName; args: string[] };

/** argv after `node bin/esign-worker.js`. */
export function parseCommandLine(argv: readonly string[]): ParsedCommandLine {
  const [first, ...rest] = argv;
  if (first === undefined) return { kind: 'usage-error', message: usage() };
  if (first === '--version' || first === '-v') return { kind: 'version' };
  if (first === '--help' || first === '-h' || first === 'help')
    return { kind: 'help', text: usage() };
  if (!isCommand(first))
    return { kind: 'usage-error', message: `unknown command "${first}"\n\n${usage()}` };
  let parsed;
  try {
    // `-` (stdin) is a positional; every option but --help is refused.
    parsed = parseArgs({
      args: rest,
      allowPositionals: true,
      strict: true,
      options: { help: { type: 'boolean', short: 'h' } },
    });
  } catch (error) {
    return {
      kind: 'usage-error',
      message: `${(error as Error).message}\n\n${commandUsage(first)}`,
    };
  }
  if (parsed.values.help) return { kind: 'help', text: commandUsage(first) };
  const spec: CommandSpec = commands[first];
  const count = parsed.positionals.length;
  if (count < spec.minArgs || count > spec.maxArgs)
    return { kind: 'usage-error', message: commandUsage(first) };
  return { kind: 'run', command: first, args: parsed.positionals };
}

/** Network failure codes of Node and ioredis that mean "the server is not there". */
const unreachableCodes = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
]);
const unreachableEsignCodes = new Set(['ESIGN_NETWORK', 'ESIGN_TIMEOUT', 'ESIGN_SERVER_ERROR']);

/** Redis or Esign could not be reached (exit 69), as opposed to a bug. */
export function isUnreachable(error: unknown): boolean {
  if (isWorkerError(error)) return unreachableEsignCodes.has(error.code);
  if (!(error instanceof Error)) return false;
  const code = (error as NodeJS.ErrnoException).code ?? '';
  return (
    unreachableCodes.has(code) ||
    error.name === 'MaxRetriesPerRequestError' ||
    /^Connection is closed|Command timed out|Stream isn't writeable/.test(error.message)
  );
}

/** One line for stderr and the exit code, for any error a command let escape. */
export function describeFailure(error: unknown): { message: string; code: number } {
  if (error instanceof ValidationError || error instanceof ToolNotIncludedError)
    return { message: error.message, code: exitCodes.invalid };
  if (isUnreachable(error))
    return {
      message: isWorkerError(error)
        ? `Esign is unavailable: ${error.code}: ${error.message}`
        : `Redis is unavailable (check REDIS_URL, or REDIS_CLUSTER_NODES / REDIS_SENTINELS): ${(error as Error).message}`,
      code: exitCodes.unavailable,
    };
  if (isWorkerError(error))
    return { message: `${error.code}: ${error.message}`, code: exitCodes.invalid };
  return {
    message: `internal error: ${error instanceof Error ? error.message : String(error)}`,
    code: exitCodes.internal,
  };
}
