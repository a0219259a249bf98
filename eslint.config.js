import eslint from '@eslint/js';
import tseslint from 'typescript-eslint';

/**
 * The layers run one way down: main → app → queues → processors → lib. Nothing in src/ imports
 * the development tools beside it (sandbox/, demo/, bench/). See docs/design.md, "Layout".
 */
// Regular expressions over the import specifier (glob groups do not match `../` paths).
const under = (...folders) => `(^|/)(${folders.join('|')})/`;
const tools = under('sandbox', 'demo', 'bench', 'test');
const layer = (files, groups, paths = []) => ({
  files,
  rules: {
    'no-restricted-imports': [
      'error',
      {
        paths: paths.map((name) => ({
          name,
          message: `${files[0]} does not import ${name}: it gets what it needs from its context.`,
        })),
        patterns: groups.map(([regex, message]) => ({ regex, message })),
      },
    ],
  },
});
const noTools = [tools, 'src/ ships alone: it never imports the sandbox, the demo or the bench.'];

export default tseslint.config(
  { ignores: ['node_modules', 'dist', 'coverage', 'bin', 'scripts/*.js', 'eslint.config.js'] },
  eslint.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
    },
  },
  layer(['src/**/*.ts'], [noTools]),
  layer(['src/app/**/*.ts'], [noTools, ['(^|/)main\\.ts$', 'app/ is below main.ts.']]),
  layer(
    ['src/queues/**/*.ts'],
    [
      noTools,
      [`${under('app')}|(^|/)main\\.ts$`, 'queues/ is the BullMQ adapter, below app/ and main.ts.'],
    ],
  ),
  layer(
    ['src/processors/**/*.ts'],
    [
      noTools,
      [
        `${under('queues', 'app')}|(^|/)main\\.ts$`,
        'processors/ are plain functions of (data, context): the BullMQ adapter calls them.',
      ],
    ],
    ['bullmq', 'ioredis', 'undici'],
  ),
  layer(
    ['src/lib/**/*.ts'],
    [
      noTools,
      [
        `${under('queues', 'processors', 'app')}|(^|/)main\\.ts$`,
        'lib/ is the bottom layer: it imports nothing above it.',
      ],
    ],
  ),
);
