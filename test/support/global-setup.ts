import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
  }
}

/**
 * Redis for the whole test run: `REDIS_URL` when set (CI and machines without Docker),
 * otherwise a throwaway container from testcontainers. Tests isolate themselves with
 * unique key prefixes, so one server serves every file.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const fromEnv = process.env.REDIS_URL;
  if (fromEnv) {
    project.provide('redisUrl', fromEnv);
    return async () => {};
  }
  try {
    const { RedisContainer } = await import('@testcontainers/redis');
    const container = await new RedisContainer('redis:7-alpine').start();
    project.provide('redisUrl', container.getConnectionUrl());
    return async () => {
      await container.stop();
    };
  } catch (error) {
    throw new Error(
      'Tests need Redis. Set REDIS_URL (e.g. REDIS_URL=redis://127.0.0.1:6379/15 npm test), ' +
        'or run a Docker engine so testcontainers can start one.\n' +
        `testcontainers said: ${(error as Error).message}`,
      { cause: error },
    );
  }
}
