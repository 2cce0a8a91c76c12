import { defineProject } from 'vitest/config';

export default defineProject({
  test: { name: 'cloud-server', include: ['src/**/*.test.ts', 'test/**/*.test.ts'] },
});
