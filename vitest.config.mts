import { defineConfig } from 'vitest/config';

// Native addons and their threads: run test files in child processes, not
// worker threads, and one file at a time (the machine has 2 cores and the
// tests start servers and clients).
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    fileParallelism: false,
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
