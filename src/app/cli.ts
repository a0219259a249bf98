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
  /** Options besides --help, as node:util parseArgs takes them, and their usage lines. */
  options?: Record<string, { type: 'string' | 'boolean' }>;
  details?: string;
}

const stepList = 'initiate, upload, confirm, poll, complete';

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
  list: {
    args: '--status <STATUS> [--limit N] [--json]',
    summary: 'registrations in a status, longest there first: id<TAB>status<TAB>age',
    minArgs: 0,
    maxArgs: 0,
    options: { status: { type: 'string' }, limit: { type: 'string' }, json: { type: 'boolean' } },
    details:
      'STATUS: QUEUED INITIATED UPLOADED CONFIRMED IN_PROGRESS PARTIALLY_COMPLETED COMPLETED\n' +
      'ERROR TIMED_OUT FAILED. --limit: at most N lines (default 100). --json: a JSON array\n' +
      'of {registrationId, status, enqueuedAt, updatedAt}. age: time since enqueued.',
  },
  reindex: {
    args: '',
    summary: "put every registration into list's status index (once, after upgrading)",
    minArgs: 0,
    maxArgs: 0,
    details:
      'Records written by a release before the index are listed once written again; this\n' +
      'indexes them all now. It scans every key under QUEUE_PREFIX; safe to run twice.',
  },
  inspect: {
    args: '<registrationId>',
    summary: "a registration (PII left out) and each of its jobs' state, attempts, failedReason",
    minArgs: 1,
    maxArgs: 1,
  },
  retry: {
    args: '<registrationId> [file.json | -]',
    summary: 're-run a FAILED or TIMED_OUT registration as a new attempt under the same id',
    minArgs: 1,
    maxArgs: 2,
    details:
      'Its request is deleted when a registration ends: give it again (the same partner user\n' +
      'and type). Prints the attempt started; its result is published as <id>-<attempt>.',
  },
  pause: {
    args: '[step…]',
    summary: 'pause step queues for every worker (none named: all)',
    minArgs: 0,
    maxArgs: 5,
    details:
      `Steps: ${stepList}.\ninitiate holds the submission jobs (initiate, upload and confirm run in\n` +
      'one); upload and confirm only jobs of an earlier release.\n' +
      'Prints each step queue and whether it is paused. Active jobs finish;\n' +
      'waiting and delayed ones wait. Time paused is not counted towards\n' +
      'POLL_GIVE_UP_MS, so registrations waiting for a result do not time out meanwhile.',
  },
  resume: {
    args: '[step…]',
    summary: 'resume paused step queues (none named: all)',
    minArgs: 0,
    maxArgs: 5,
    details: `Steps: ${stepList}. Prints each step queue and whether it is paused.`,
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

/** One command per line; a long synopsis puts its summary on the next line, aligned. */
const line = (name: CommandName): string => {
  const synopsis = `${name} ${commands[name].args}`;
  const gap = synopsis.length < 28 ? '' : `\n  ${''.padEnd(28)}`;
  return `  ${synopsis.padEnd(28)}${gap}${commands[name].summary}`;
};

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
    (spec.details ? `${spec.details}\n` : '') +
    'Configuration comes from environment variables: see docs/configuration.md.'
  );
}

export type ParsedCommandLine =
  | { kind: 'help'; text: string }
  | { kind: 'version' }
  | { kind: 'usage-error'; message: string }
  | {
      kind: 'run';
      command: CommandName;
      args: string[];
      /** The command's own options (e.g. list's --status), as given. */
      options: Record<string, string | boolean | undefined>;
    };

/** argv after `node bin/esign-worker.js`. */
export function parseCommandLine(argv: readonly string[]): ParsedCommandLine {
  // A leading `--` is how npx is told to pass `--help`/`--version` on instead of answering.
  const [first, ...rest] = argv[0] === '--' ? argv.slice(1) : argv;
  if (first === undefined) return { kind: 'usage-error', message: usage() };
  if (first === '--version' || first === '-v') return { kind: 'version' };
  if (first === '--help' || first === '-h' || first === 'help')
    return { kind: 'help', text: usage() };
  if (!isCommand(first))
    return { kind: 'usage-error', message: `unknown command "${first}"\n\n${usage()}` };
  const spec: CommandSpec = commands[first];
  let parsed;
  try {
    // `-` (stdin) is a positional; every option but --help and the command's own is refused.
    parsed = parseArgs({
      args: rest,
      allowPositionals: true,
      strict: true,
      options: { ...spec.options, help: { type: 'boolean', short: 'h' } },
    });
  } catch (error) {
    return {
      kind: 'usage-error',
      message: `${(error as Error).message}\n\n${commandUsage(first)}`,
    };
  }
  const { help, ...options } = parsed.values;
  if (help) return { kind: 'help', text: commandUsage(first) };
  const count = parsed.positionals.length;
  if (count < spec.minArgs || count > spec.maxArgs)
    return { kind: 'usage-error', message: commandUsage(first) };
  return { kind: 'run', command: first, args: parsed.positionals, options };
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

/**
 * Redis or Esign could not be reached, or Redis could not make an enqueue as durable as asked
 * (exit 69: try again), as opposed to a bug.
 */
export function isUnreachable(error: unknown): boolean {
  if (isWorkerError(error))
    return unreachableEsignCodes.has(error.code) || error.code === 'REDIS_NOT_DURABLE';
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
        ? `${error.code === 'REDIS_NOT_DURABLE' ? 'Redis' : 'Esign'} is unavailable: ${error.code}: ${error.message}`
        : `Redis is unavailable (check REDIS_URL, or REDIS_CLUSTER_NODES / REDIS_SENTINELS): ${(error as Error).message}`,
      code: exitCodes.unavailable,
    };
  if (isWorkerError(error))
    return {
      message: `${error.code}: ${error.message}`,
      code:
        error.code === 'REGISTRATION_NOT_FOUND' ? exitCodes.unknownRegistration : exitCodes.invalid,
    };
  return {
    message: `internal error: ${error instanceof Error ? error.message : String(error)}`,
    code: exitCodes.internal,
  };
}
