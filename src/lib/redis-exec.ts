/**
 * The answers of a pipeline or transaction, or its first error: ioredis resolves `exec()` with
 * each command's error inside its answer, and with null for a transaction that was aborted.
 */
export async function answersOf(
  exec: Promise<[Error | null, unknown][] | null>,
  what: string,
): Promise<[Error | null, unknown][]> {
  const answers = await exec;
  if (!answers) throw new Error(`${what} got no answer`);
  const failed = answers.find(([error]) => error)?.[0];
  if (failed) throw failed;
  return answers;
}
