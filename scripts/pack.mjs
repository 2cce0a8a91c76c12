// `npm run pack` (after the build): one installable tarball per workspace package in
// dist-packages/, as docs/install.md describes. npm packs into a fresh directory first and each
// tarball is then renamed into place, so a tarball in dist-packages/ is always complete, even
// while another pack runs; tarballs of packages or versions that are gone are removed.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const destination = join(root, 'dist-packages');
mkdirSync(destination, { recursive: true });
const staging = mkdtempSync(join(destination, '.staging-'));
try {
  execFileSync('npm', ['pack', '--workspaces', '--pack-destination', staging, '--loglevel=warn'], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
  const made = readdirSync(staging);
  for (const file of made) renameSync(join(staging, file), join(destination, file));
  for (const file of readdirSync(destination)) if (file.endsWith('.tgz') && !made.includes(file)) rmSync(join(destination, file));
  for (const file of made.sort()) console.log(`dist-packages/${file}`);
} finally {
  rmSync(staging, { recursive: true, force: true });
}
