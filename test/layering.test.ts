import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

/**
 * The one-way layering (docs/design.md, "Layout") is enforced by ESLint's no-restricted-imports
 * in eslint.config.js. These lint code as if it stood at a path in src/, with the project's real
 * config, so a rule dropped or mistyped there fails here.
 */
const root = new URL('../', import.meta.url).pathname;
// The fixtures are not files of the TypeScript project, so type information is off and only the
// layering rule runs; everything else comes from eslint.config.js as `npm run lint` reads it.
const eslint = new ESLint({
  cwd: root,
  ruleFilter: ({ ruleId }) => ruleId === 'no-restricted-imports',
  overrideConfig: { languageOptions: { parserOptions: { projectService: false } } },
});

async function restricted(filePath: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(`${code}\nexport {};\n`, {
    filePath: `${root}${filePath}`,
  });
  const messages = result?.messages ?? [];
  expect(messages.filter((m) => m.ruleId !== 'no-restricted-imports')).toEqual([]);
  return messages.map((m) => m.message);
}

describe('layering rules', () => {
  it('refuses infrastructure and the adapter in processors', async () => {
    for (const code of [
      "import { Queue } from 'bullmq';",
      "import { Redis } from 'ioredis';",
      "import { request } from 'undici';",
      "import { createQueues } from '../queues/queues.ts';",
      "import { createWorkerApp } from '../app/worker-app.ts';",
    ])
      expect(await restricted('src/processors/layering-fixture.ts', code)).toHaveLength(1);
  });

  it('refuses anything above lib/ in lib/', async () => {
    for (const code of [
      "import { createQueues } from '../../queues/queues.ts';",
      "import { initiate } from '../../processors/initiate.ts';",
      "import { createWorkerApp } from '../../app/worker-app.ts';",
    ])
      expect(await restricted('src/lib/registration/layering-fixture.ts', code)).toHaveLength(1);
  });

  it('refuses the app layer in queues/', async () => {
    expect(
      await restricted('src/queues/layering-fixture.ts', "import '../app/worker-app.ts';"),
    ).toHaveLength(1);
  });

  it('refuses the sandbox, the demo and the bench anywhere in src/', async () => {
    for (const [path, code] of [
      ['src/main.ts', "import { startSandbox } from '../sandbox/index.ts';"],
      ['src/app/layering-fixture.ts', "import { runDemo } from '../../demo/run.ts';"],
      ['src/lib/layering-fixture.ts', "import '../../bench/throughput.ts';"],
      ['src/processors/layering-fixture.ts', "import '../../sandbox/scenarios.ts';"],
    ] as const)
      expect(await restricted(path, code)).toHaveLength(1);
  });

  it('allows the imports the layout wants', async () => {
    expect(
      await restricted('src/processors/layering-fixture.ts', "import '../lib/errors.ts';"),
    ).toEqual([]);
    expect(
      await restricted('src/queues/layering-fixture.ts', "import '../processors/initiate.ts';"),
    ).toEqual([]);
    expect(
      await restricted('sandbox/layering-fixture.ts', "import '../src/lib/errors.ts';"),
    ).toEqual([]);
  });
});
