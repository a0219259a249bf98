import { defineConfig } from 'vitest/config';

/**
 * The end-to-end files, run once more on a local Redis Cluster and behind Sentinel, with the
 * tests that only make sense there (test/topology/).
 */
const endToEnd = [
  'test/pipeline-outcomes.test.ts',
  'test/pipeline-callbacks.test.ts',
  // The callback's add script touches the index and BullMQ's keys in one slot.
  'test/callback-sink.test.ts',
  'test/pipeline-faults.test.ts',
];

// Installs missing system tools and finds Redis. Vitest 5 awaits it with no time limit
// (hookTimeout covers hooks inside test files only), so apt-get runs are bounded in
// test/support/system-tools.ts instead. The topology setup starts the project's Cluster or
// Sentinel set (nothing for the default project).
const globalSetup = ['test/support/global-setup.ts', 'test/support/topology-setup.ts'];

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Each file starts its own sandbox/listener on port 0 and uses a unique key prefix,
    // so files can run in parallel; two cores make more forks than this counterproductive.
    maxWorkers: 2,
    projects: [
      {
        extends: true,
        test: {
          name: 'single',
          include: ['test/**/*.test.ts'],
          exclude: ['test/topology/**'],
          globalSetup,
        },
      },
      {
        extends: true,
        test: {
          name: 'cluster',
          include: [
            ...endToEnd,
            'test/topology/cluster-*.test.ts',
            'test/topology/topology-*.test.ts',
          ],
          globalSetup,
        },
      },
      {
        extends: true,
        test: {
          name: 'sentinel',
          include: [
            ...endToEnd,
            'test/topology/sentinel-*.test.ts',
            'test/topology/topology-*.test.ts',
          ],
          globalSetup,
        },
      },
    ],
  },
});
