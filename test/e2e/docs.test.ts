import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const GENERATOR = fileURLToPath(new URL('../../packages/cloud-server/scripts/generate-api-docs.mjs', import.meta.url));

it('docs/admin-api.md and docs/openapi.json match what the running server serves', () => {
  const result = spawnSync(process.execPath, [GENERATOR, '--check'], { encoding: 'utf8', timeout: 60_000 });
  expect(result.status, `${result.stdout}${result.stderr}\nRun \`npm run docs:api\` to regenerate.`).toBe(0);
});
