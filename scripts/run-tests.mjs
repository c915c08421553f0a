// Runs every compiled test file (dist/test/**/*.test.js in each package, test/dist/tests/**) with
// node's test runner, one file at a time: QEMU under TCG wants both cores.
// --unit: only the packages' and services' own tests. They cannot reach the test kit (only test/
// depends on it), so they need no QEMU, Chromium or NATS and take seconds (`pnpm test:unit`).
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync, existsSync } from 'node:fs';
import { basename, join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const unitOnly = process.argv.includes('--unit');
const roots = ['packages', 'services']
  .flatMap((d) => readdirSync(join(root, d)).map((p) => join(root, d, p, 'dist/test')))
  .concat(unitOnly ? [] : [join(root, 'test/dist/tests')]);

/**
 * @param {string} dir
 * @returns {string[]}
 */
function collect(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return collect(path);
    return name.endsWith('.test.js') ? [path] : [];
  });
}

// Stages of their own (need root and Docker; scripts/test.sh runs them after the rest, through
// deploy/test/run.sh and test/fresh-machine/run.sh): only run when a filter names the file.
const ownStage = new Set(['deploy-compose.test.js', 'fresh-machine-start.test.js']);

const filter = process.argv.slice(2).filter((a) => a !== '--unit');
const files = roots
  .flatMap(collect)
  .filter((f) =>
    ownStage.has(basename(f))
      ? filter.some((x) => basename(f).includes(x))
      : filter.length === 0 || filter.some((x) => relative(root, f).includes(x)),
  )
  .sort();
if (files.length === 0) {
  console.error('no test files found: run `pnpm build` first');
  process.exit(1);
}
const result = spawnSync(
  process.execPath,
  ['--enable-source-maps', '--test', '--test-concurrency=1', '--test-reporter=spec', ...files],
  { stdio: 'inherit', cwd: root },
);
process.exit(result.status ?? 1);
