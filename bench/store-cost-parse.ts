/**
 * Parsing for bench/store-cost.ts: a MONITOR line into its source and arguments, and which of
 * the record store's kinds of key a key is (undefined: not the store's).
 */

/** `+<time> [<db> <source>] "a" "b\"c" …` → [source, args]; undefined for other lines. */
export function parseMonitorArgs(line: string): [string, string[]] | undefined {
  const open = line.indexOf(' [');
  const close = line.indexOf('] "', open);
  if (!line.startsWith('+') || open < 0 || close < 0) return undefined;
  const source = line.slice(open + 2, close).split(' ')[1] ?? '';
  const args: string[] = [];
  let index = close + 2;
  while (index < line.length) {
    if (line[index] !== '"') {
      index += 1;
      continue;
    }
    let value = '';
    index += 1;
    while (index < line.length && line[index] !== '"') {
      if (line[index] === '\\') {
        // \" \\ \n \xHH …: the escaped character stands for one; its exact byte does not matter
        value += line[index + 1] === 'x' ? '?' : (line[index + 1] ?? '');
        index += line[index + 1] === 'x' ? 4 : 2;
      } else {
        value += line[index];
        index += 1;
      }
    }
    args.push(value);
    index += 1;
  }
  return [source, args];
}

const STORE_KINDS = [
  'registration-by-submission',
  'registration-in-flight',
  'registrations-by-status',
  'registration-image',
  'registration-timers',
  'registration',
  'partition-of-registration',
  'partition-of-submission',
  'pauses',
];

export function storeKeyKind(key: string, prefix: string): string | undefined {
  if (!key.startsWith(`${prefix}:`)) return undefined;
  const rest = key.slice(prefix.length + 1);
  const kind = STORE_KINDS.find((name) => rest === name || rest.startsWith(`${name}:`));
  return kind && `store ${kind}`;
}
