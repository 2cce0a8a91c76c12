import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: ['packages/providers', 'packages/sdk', 'packages/cloud-server', 'test/e2e'],
    // Tests share one PostgreSQL and start real servers: keep the load bounded on 2 cores.
    maxWorkers: 2,
    testTimeout: 20_000,
    hookTimeout: 30_000,
  },
});
