import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Installs missing system tools and finds Redis. Vitest 5 awaits it with no time limit
    // (hookTimeout covers hooks inside test files only), so apt-get runs are bounded in
    // test/support/system-tools.ts instead.
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Each file starts its own sandbox/listener on port 0 and uses a unique key prefix,
    // so files can run in parallel; two cores make more forks than this counterproductive.
    maxWorkers: 2,
  },
});
