import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/container/**', 'node_modules/**'],
    globalSetup: ['test/helpers/global-setup.ts'],
    setupFiles: ['test/helpers/leak-check.ts'],
    // Real RSA-4096, scrypt and child processes: generous timeouts, never timing assertions.
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
