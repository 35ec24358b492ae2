import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Kernel tests attach to global tracepoints; running files in parallel on 2 CPUs only adds noise.
    fileParallelism: false,
  },
});
